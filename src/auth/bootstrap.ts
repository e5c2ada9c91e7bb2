import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../observability/logger';
import { IdentityConflict, type IdentityStore } from './identity-store';
import { hashPassword } from './passwords';
import { randomPassword } from './secrets';

export const ADMIN_PASSWORD_FILE = 'admin-password';

/**
 * Secure by default: the first start creates `admin` (bound to the admin role on the whole registry)
 * with a random password, printed once on stderr and kept in <dataDir>/admin-password (mode 0600) for
 * the operator to pick up and delete. Nothing else is open. Returns the password when it made one.
 */
export async function ensureAdmin(
  store: IdentityStore,
  dataDir: string,
  logger: Logger,
  quiet = false,
): Promise<string | undefined> {
  if ((await store.listUsers()).length > 0) return undefined;
  const password = randomPassword();
  try {
    await store.createUser({ name: 'admin', passwordHash: await hashPassword(password), groups: [], disabled: false });
  } catch (err) {
    if (err instanceof IdentityConflict) return undefined; // another replica bootstrapped first
    throw err;
  }
  await store.bindRole({ principal: 'user:admin', role: 'admin', scope: '*' });
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, ADMIN_PASSWORD_FILE);
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  if (!quiet)
    process.stderr.write(
      `\n  Cairn created the administrator account.\n    user:     admin\n    password: ${password}\n  (also in ${file}, readable only by this user: change the password, enrol MFA, then delete the file)\n\n`,
    );
  logger.warn(
    { user: 'admin', passwordFile: file },
    'bootstrap administrator created; its password was printed once on stderr',
  );
  return password;
}
