import { readFile } from 'node:fs/promises';
import {
  DEFAULT_FULCIO_URL,
  DEFAULT_REKOR_URL,
  FulcioSigner,
  RekorWitness,
  TSAWitness,
  type Signer,
  type Witness,
} from '@sigstore/sign';
import { SigningError } from './errors';

export interface KeylessOptions {
  fulcioUrl?: string;
  rekorUrl?: string;
  /** An RFC 3161 timestamp authority; optional, as with cosign. */
  tsaUrl?: string;
  /** The token itself, or a file holding it (cosign accepts both). */
  identityToken?: string;
}

/** Network calls to Fulcio, Rekor and the TSA: a few retries, never an endless wait. */
const FETCH = { timeout: 30_000, retry: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 2000 } };

function looksLikeJwt(s: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(s);
}

/** `--identity-token` (value or file), else SIGSTORE_ID_TOKEN. There is no browser flow: CI hands a token over. */
export async function resolveIdentityToken(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  let token = flag ?? env.SIGSTORE_ID_TOKEN;
  if (!token)
    throw new SigningError(
      'keyless signing needs an OIDC identity token: pass --identity-token <token|file> or set SIGSTORE_ID_TOKEN (or sign with --key)',
    );
  token = token.trim();
  if (!looksLikeJwt(token)) {
    try {
      token = (await readFile(token, 'utf8')).trim();
    } catch {
      throw new SigningError('--identity-token: neither a JWT nor a readable file holding one');
    }
    if (!looksLikeJwt(token)) throw new SigningError('--identity-token: the file does not hold a JWT');
  }
  return token;
}

/**
 * Fulcio issues a short-lived certificate for an ephemeral key against the OIDC token; Rekor logs the
 * signature (DSSE entry, Rekor v1 API) and, when given, a TSA countersigns it. The default URLs are the
 * public-good instance, as cosign's are.
 */
export function keylessSigning(opts: KeylessOptions, token: string): { signer: Signer; witnesses: Witness[] } {
  const signer = new FulcioSigner({
    fulcioBaseURL: opts.fulcioUrl ?? DEFAULT_FULCIO_URL,
    identityProvider: { getToken: async () => token },
    ...FETCH,
  });
  const witnesses: Witness[] = [
    new RekorWitness({
      rekorBaseURL: opts.rekorUrl ?? DEFAULT_REKOR_URL,
      entryType: 'dsse',
      majorApiVersion: 1,
      fetchOnConflict: true,
      ...FETCH,
    }),
  ];
  if (opts.tsaUrl) witnesses.push(new TSAWitness({ tsaBaseURL: opts.tsaUrl, ...FETCH }));
  return { signer, witnesses };
}
