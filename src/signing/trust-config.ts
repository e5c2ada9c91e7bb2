import { readFileSync } from 'node:fs';
import { createPublicKey, createHash, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { repositoryMatches } from '../policy/governance';
import { parseYamlDocument } from '../policy/yaml-document';
import type { TufSource } from './tuf-roots';

/**
 * trust.yaml, beside the Cedar policies and governance.yaml: which keys and Sigstore roots are trusted,
 * and per repository pattern who must have signed what, and whether that is enforced.
 */
const Signer = z.union([
  z.object({ key: z.string().min(1) }).strict(),
  z.object({ issuer: z.string().min(1), subject: z.string().min(1) }).strict(),
]);
const Attestation = z
  .object({
    predicateType: z.string().min(1),
    /** SLSA provenance: a glob the predicate's builder id must match. */
    builder: z.string().min(1).optional(),
    /** Who may sign it; default: the policy's signers. */
    signers: z.array(Signer).optional(),
  })
  .strict();
const Policy = z
  .object({
    repositories: z.array(z.string().min(1)).min(1),
    mode: z.enum(['off', 'audit', 'enforce']).default('audit'),
    /** At least one signature by one of these. Empty: no signature required. */
    signers: z.array(Signer).default([]),
    attestations: z.array(Attestation).default([]),
  })
  .strict();
const TrustSchema = z
  .object({
    keys: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
            publicKey: z.string().optional(),
            publicKeyFile: z.string().optional(),
          })
          .strict()
          .refine((k) => Boolean(k.publicKey) !== Boolean(k.publicKeyFile), {
            message: 'give publicKey or publicKeyFile',
          }),
      )
      .default([]),
    /** Sigstore trusted_root.json files (the public-good instance, or a private Fulcio / Rekor / TSA). */
    trustedRoots: z.array(z.string().min(1)).default([]),
    /**
     * Sigstore trusted roots fetched through TUF and refreshed: the public-good instance
     * (https://tuf-repo-cdn.sigstore.dev, whose initial root @sigstore/tuf ships) or a private one
     * with its initial root.json.
     */
    tuf: z
      .array(
        z
          .object({
            mirror: z
              .string()
              .url()
              .refine((u) => /^https?:\/\//.test(u), { message: 'an http(s) URL' }),
            root: z.string().min(1).optional(),
            refreshSeconds: z.number().int().min(1).default(86_400),
          })
          .strict(),
      )
      .default([]),
    policies: z.array(Policy).default([]),
    revoked: z
      .object({
        keys: z.array(z.string()).default([]),
        identities: z.array(z.object({ issuer: z.string(), subject: z.string() }).strict()).default([]),
      })
      .strict()
      .default({}),
    /** Seconds between re-checks of every stored signature against the current trust material. */
    recheckSeconds: z.number().int().min(60).default(3600),
  })
  .strict();

export type TrustPolicy = z.output<typeof Policy>;
export type SignerRule = z.output<typeof Signer>;

export interface TrustedKey {
  name: string;
  key: KeyObject;
  /** The hints tools put in bundles: cosign base64(sha256(SPKI DER)), model signing hex(sha256(SPKI PEM)). */
  hints: string[];
  /** sha256 of the SPKI DER, hex: how a key is named in reports and revocations. */
  fingerprint: string;
}

export interface TrustConfig {
  keys: TrustedKey[];
  trustedRoots: { file: string; json: unknown }[];
  /** Where more trusted roots come from, through TUF (merged in by the trust store). */
  tuf: TufSource[];
  /** Why a configured source gives no root now: told with a keyless signature that cannot be verified. */
  rootProblems: string[];
  /** A digest of the roots fetched through TUF ('' for none): a change re-checks every signature. */
  rootsStamp: string;
  policies: TrustPolicy[];
  revoked: { keys: string[]; identities: { issuer: string; subject: string }[] };
  recheckSeconds: number;
  /** A digest of the whole configuration: a change re-evaluates stored signatures. */
  version: string;
}

export class TrustConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrustConfigError';
  }
}

export const TRUST_FILE = 'trust.yaml';

export function keyHints(key: KeyObject): { hints: string[]; fingerprint: string } {
  const der = key.export({ format: 'der', type: 'spki' });
  const pem = key.export({ format: 'pem', type: 'spki' }).toString();
  const fingerprint = createHash('sha256').update(der).digest('hex');
  return {
    fingerprint,
    hints: [
      createHash('sha256').update(der).digest('base64'),
      createHash('sha256').update(pem).digest('hex'),
      fingerprint,
    ],
  };
}

export function parseTrustConfig(text: string, source: string, baseDir: string): TrustConfig {
  const c = parseYamlDocument(TrustSchema, text, source, (m) => new TrustConfigError(m));
  const keys: TrustedKey[] = c.keys.map((k) => {
    let pem: string;
    try {
      pem = k.publicKey ?? readFileSync(path.resolve(baseDir, k.publicKeyFile!), 'utf8');
    } catch (err) {
      throw new TrustConfigError(`${source}: key ${k.name}: ${(err as Error).message}`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch (err) {
      throw new TrustConfigError(`${source}: key ${k.name} is not a PEM public key: ${(err as Error).message}`);
    }
    return { name: k.name, key, ...keyHints(key) };
  });
  const names = new Set(keys.map((k) => k.name));
  for (const p of c.policies) {
    for (const s of [...p.signers, ...p.attestations.flatMap((a) => a.signers ?? [])]) {
      if ('key' in s && !names.has(s.key))
        throw new TrustConfigError(`${source}: policy for ${p.repositories.join(', ')} names unknown key ${s.key}`);
    }
  }
  const trustedRoots = c.trustedRoots.map((f) => {
    const file = path.resolve(baseDir, f);
    try {
      return { file, json: JSON.parse(readFileSync(file, 'utf8')) as unknown };
    } catch (err) {
      throw new TrustConfigError(`${source}: trusted root ${f}: ${(err as Error).message}`);
    }
  });
  const tuf = c.tuf.map((t) => {
    const root = t.root ? path.resolve(baseDir, t.root) : undefined;
    if (root) {
      try {
        readFileSync(root);
      } catch (err) {
        throw new TrustConfigError(`${source}: TUF root for ${t.mirror}: ${(err as Error).message}`);
      }
    }
    return { mirror: t.mirror.replace(/\/+$/, ''), ...(root ? { root } : {}), refreshSeconds: t.refreshSeconds };
  });
  const version = createHash('sha256')
    .update(JSON.stringify({ c, keys: keys.map((k) => k.fingerprint), roots: trustedRoots.map((t) => t.json) }))
    .digest('hex')
    .slice(0, 16);
  return {
    keys,
    trustedRoots,
    tuf,
    rootProblems: [],
    rootsStamp: '',
    policies: c.policies,
    revoked: c.revoked,
    recheckSeconds: c.recheckSeconds,
    version,
  };
}

/** The first policy whose patterns match the repository. */
export function trustPolicyFor(c: TrustConfig, repository: string): TrustPolicy | undefined {
  return c.policies.find((p) => p.repositories.some((pat) => repositoryMatches(pat, repository)));
}
