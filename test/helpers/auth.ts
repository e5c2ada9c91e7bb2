import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigInput } from '../../src/config/config';
import type { IdentityStore } from '../../src/auth/identity-store';
import { hashPassword } from '../../src/auth/passwords';
import { startTestRegistry, type BackendProfile, type TestRegistry } from './server';

/** A registry with authentication on (the production default), quick to notice revocations and policy edits. */
export async function startAuthRegistry(
  profile: BackendProfile = { database: 'sqlite', sessions: 'memory' },
  auth: ConfigInput['auth'] = {},
  extra: ConfigInput = {},
): Promise<TestRegistry> {
  return startTestRegistry(profile, {
    auth: { mode: 'token', revocationCheckSeconds: 1, policyReloadSeconds: 1, ...auth },
    ...extra,
  });
}

export function storeOf(reg: TestRegistry): IdentityStore {
  return reg.registry.auth!.store;
}

export async function adminPassword(reg: TestRegistry): Promise<string> {
  return (await readFile(path.join(reg.dataDir, 'admin-password'), 'utf8')).trim();
}

export async function addUser(
  reg: TestRegistry,
  name: string,
  password: string,
  groups: string[] = [],
  roles: [string, string][] = [],
): Promise<void> {
  const store = storeOf(reg);
  await store.createUser({ name, passwordHash: await hashPassword(password), groups, disabled: false });
  for (const [role, scope] of roles) await store.bindRole({ principal: `user:${name}`, role, scope });
  await policiesNow(reg);
}

/** Role bindings and labels reach the authorizer within auth.policyReloadSeconds; tests take them at once. */
export async function policiesNow(reg: TestRegistry): Promise<void> {
  await reg.registry.auth!.authorizer.load();
}

export const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** GET /token as a Docker client does; returns the whole answer. */
export async function tokenResponse(
  base: string,
  user: string | undefined,
  password: string | undefined,
  scopes: string[],
  extra = '',
): Promise<Response> {
  const q = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
  return fetch(
    `${base}/token?service=cairn&${q}${extra}`,
    user === undefined ? {} : { headers: { Authorization: basic(user, password ?? '') } },
  );
}

export async function token(
  base: string,
  user: string | undefined,
  password: string | undefined,
  scopes: string[],
): Promise<string> {
  const r = await tokenResponse(base, user, password, scopes);
  if (r.status !== 200) throw new Error(`token: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}

/** The `access` claim of a token (no verification: what the server said it grants). */
export function accessOf(jwt: string): { type: string; name: string; actions: string[] }[] {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')).access;
}

export const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

/** The two people the client tests act as: a publisher of models/ and a reader of it. */
export const PUBLISHER = { user: 'paula', password: 'paula-password-123' } as const;
export const READER = { user: 'rita', password: 'rita-password-123' } as const;

/** A registry with authentication on (the default) and PUBLISHER and READER on models/. */
export async function startRegistryWithModelTeam(): Promise<TestRegistry> {
  const reg = await startAuthRegistry();
  await addUser(reg, PUBLISHER.user, PUBLISHER.password, [], [['publisher', 'models/']]);
  await addUser(reg, READER.user, READER.password, [], [['reader', 'models/']]);
  await policiesNow(reg);
  return reg;
}
