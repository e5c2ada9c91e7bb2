import { generate, generateSecret, generateURI, verify } from 'otplib';

/** TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps), what every authenticator app speaks. */
export function newTotpSecret(): string {
  return generateSecret();
}

export function totpUri(secret: string, account: string, issuer: string): string {
  return generateURI({ secret, label: account, issuer });
}

/** Accepts the current code and the one before or after, for clock drift. */
export async function totpMatches(secret: string, code: string): Promise<boolean> {
  if (!/^\d{6}$/.test(code)) return false;
  try {
    const r = await verify({ secret, token: code, epochTolerance: 30 });
    return r.valid;
  } catch {
    return false;
  }
}

/** The current code (tests, and `cairn admin` showing that enrolment works). */
export function totpNow(secret: string): Promise<string> {
  return generate({ secret });
}
