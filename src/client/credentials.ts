import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface Credentials {
  username: string;
  password: string;
}

/** Where `cairn login` keeps credentials and `cairn push` its resumable upload state. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CAIRN_CONFIG_DIR && env.CAIRN_CONFIG_DIR !== ''
    ? path.resolve(env.CAIRN_CONFIG_DIR)
    : path.join(os.homedir(), '.config', 'cairn');
}

export function authFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configDir(env), 'auth.json');
}

/**
 * The file has the shape of Docker's and Podman's auth.json (`{"auths": {"host": {"auth": base64}}}`),
 * so the same entry works with those tools. Base64 is not protection: the file mode (0600) is.
 */
interface AuthFile {
  auths?: Record<string, { auth?: string }>;
  [k: string]: unknown;
}

async function readAuthFile(file: string): Promise<AuthFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as AuthFile;
  } catch {
    // fall through
  }
  throw new Error(`${file} is not a valid credentials file; remove it and run cairn login again`);
}

/** Replaces the file in one step, created 0600 from the start so no other user ever sees a secret. */
async function writeAuthFile(file: string, content: AuthFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

function decode(entry: { auth?: string } | undefined): Credentials | undefined {
  if (!entry?.auth) return undefined;
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return undefined;
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

/** Where the credentials came from, for messages (never the secret itself). */
export type CredentialSource = 'environment' | 'auth.json';

/**
 * Credentials for a registry: CAIRN_USERNAME / CAIRN_PASSWORD first (CI), then what `cairn login`
 * stored for that host. Undefined means anonymous.
 */
export async function resolveCredentials(
  registry: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<(Credentials & { source: CredentialSource }) | undefined> {
  if (env.CAIRN_USERNAME && env.CAIRN_PASSWORD !== undefined) {
    return { username: env.CAIRN_USERNAME, password: env.CAIRN_PASSWORD, source: 'environment' };
  }
  const stored = decode((await readAuthFile(authFile(env))).auths?.[registry.toLowerCase()]);
  return stored ? { ...stored, source: 'auth.json' } : undefined;
}

export async function storeCredentials(
  registry: string,
  creds: Credentials,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const file = authFile(env);
  const content = await readAuthFile(file);
  content.auths = {
    ...(content.auths ?? {}),
    [registry.toLowerCase()]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') },
  };
  await writeAuthFile(file, content);
  return file;
}

/** Forgets a registry's credentials; false when there were none. */
export async function removeCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = authFile(env);
  const content = await readAuthFile(file);
  const key = registry.toLowerCase();
  if (!content.auths?.[key]) return false;
  delete content.auths[key];
  if (Object.keys(content.auths).length === 0 && Object.keys(content).length === 1) await rm(file, { force: true });
  else await writeAuthFile(file, content);
  return true;
}
