import { readFileSync } from 'node:fs';

/** Where a password comes from in the configuration: a file (a mounted secret) or a variable. */
export interface SecretSource {
  passwordFile?: string | undefined;
  passwordEnv?: string | undefined;
}

/**
 * The password a `passwordFile` or `passwordEnv` names, read now (a rotated secret file is picked up by
 * the next caller); undefined when neither is given. `what` names the owner in errors.
 */
export function readSecret(s: SecretSource, what: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (s.passwordFile) {
    try {
      return readFileSync(s.passwordFile, 'utf8').trim();
    } catch (err) {
      throw new Error(`${what}: cannot read ${s.passwordFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (s.passwordEnv) {
    const v = env[s.passwordEnv];
    if (v === undefined) throw new Error(`${what}: ${s.passwordEnv} is not set`);
    return v;
  }
  return undefined;
}
