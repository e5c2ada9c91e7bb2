import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Robot secrets, personal access tokens and refresh tokens: 256 random bits, so a fast sha256 stands in
 * for a password hash (nothing to brute-force), and the id inside lets the store find the row at once.
 * `cairn_<kind>_<id>_<secret>`; the prefix lets secret scanners (GitHub, gitleaks) recognise a leak.
 */
export type SecretKind = 'pat' | 'rt' | 'robot';

export interface IssuedSecret {
  id: string;
  secret: string;
  hash: string;
}

export function issueSecret(kind: SecretKind): IssuedSecret {
  const id = randomBytes(9).toString('base64url');
  const secret = `cairn_${kind}_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, secret, hash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

const SECRET = /^cairn_(pat|rt|robot)_([A-Za-z0-9_-]{12})_[A-Za-z0-9_-]{43}$/;

/** The kind and id of a well-formed secret, or undefined. */
export function parseSecret(s: string): { kind: SecretKind; id: string } | undefined {
  const m = SECRET.exec(s);
  return m ? { kind: m[1] as SecretKind, id: m[2]! } : undefined;
}

/** A random password for a bootstrap account: 24 characters from an unambiguous alphabet. */
export function randomPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(24);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}
