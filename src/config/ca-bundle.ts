import { readFileSync } from 'node:fs';

export class CaBundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaBundleError';
  }
}

/**
 * The CA certificates a backend URL names in its `ca=` parameter (`rediss://…?ca=/etc/cairn/ca.pem`,
 * `s3://bucket?endpoint=https://…&ca=…`), read once at start-up, or undefined when it names none (the
 * system's roots then). A file that cannot be read or holds no certificate stops start-up with a
 * message naming the URL's parameter: a mistyped path must not fall back to trusting nothing or
 * everything. The URL must be one that uses TLS.
 */
export function caBundleOf(u: URL, tls: boolean, what: string): string | undefined {
  const file = u.searchParams.get('ca');
  if (file === null) return undefined;
  if (!tls) throw new CaBundleError(`${what}: ca= is given, but the connection does not use TLS (${u.protocol})`);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CaBundleError(`${what}: cannot read the CA bundle ca=${file}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new CaBundleError(`${what}: ca=${file} holds no PEM certificate`);
  return pem;
}
