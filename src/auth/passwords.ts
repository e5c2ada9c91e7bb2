import argon2 from 'argon2';

/**
 * argon2id with one of OWASP's equivalent minimum settings (12 MiB, 3 passes, 1 lane): the lower-memory
 * one, because each check's memory stays in the process's footprint afterwards (measured: +12 MB against
 * +20 MB for 19 MiB / 2 passes). Stored hashes carry their parameters, so older ones still verify.
 */
const OPTIONS = { type: argon2.argon2id, memoryCost: 12288, timeCost: 3, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;

/** Spends the time of a real check, so that an unknown user name answers as slowly as a wrong password. */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummy ??= hashPassword('cairn-dummy-password');
  await verifyPassword(await dummy, password);
}

export function checkPasswordStrength(password: string): string | undefined {
  if (password.length < 12) return 'a password needs at least 12 characters';
  if (password.length > 1024) return 'a password may have at most 1024 characters';
  return undefined;
}
