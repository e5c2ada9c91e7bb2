import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { verifyBundle, type BundleCheck } from '../../signing/bundle-verify';
import { artifactFiles } from '../../signing/model-signing';
import { RECEIPT_TYPE, verifyReceipt, type ReceiptPredicate } from '../../signing/receipts';
import { keyHints, type TrustedKey } from '../../signing/trust-config';
import { resolveCredentials } from '../credentials';
import { parseReference } from '../reference';
import { RegistryClient } from '../registry-client';
import { KEY_ROTATED, keyHistory, publicKeyOf } from '../../keys/key-history';
import { SigningError } from './errors';
import { parsePublicKey, readKeyText } from './keys';
import { BUNDLE_MEDIA_TYPE_PREFIX, OCI_MANIFEST, type Descriptor } from './referrer-manifest';
import { fetchVerified, listReceipts, listReferrers, resolveSubject } from './registry-ops';

export interface IdentityMatch {
  identity?: string;
  identityRegexp?: string;
  issuer?: string;
  issuerRegexp?: string;
}

export interface VerifyOptions {
  /** Public key files (or env://VAR). */
  keys: string[];
  trustedRoots: string[];
  /** Keyless: who must have signed (cosign's --certificate-identity / --certificate-oidc-issuer). */
  identity: IdentityMatch;
  /** Only attestations of this predicate type. */
  predicateType?: string;
  plainHttp?: boolean;
  /** The registry's receipt public key (PEM files or env://VAR): check its receipts of the push too. */
  registryKeys?: string[];
}

export interface ReceiptReport {
  referrer: string;
  verified: boolean;
  reason?: string;
  receipt?: ReceiptPredicate;
}

export interface SignatureReport extends Omit<BundleCheck, 'statement'> {
  /** The referrer manifest holding the bundle. */
  referrer: string;
  statement?: unknown;
}

export interface VerifyReport {
  repository: string;
  digest: string;
  /** Sigstore bundles among the referrers (after the --type filter). */
  checked: number;
  verifiedCount: number;
  signatures: SignatureReport[];
  /** Present when registry keys were given. */
  receipts?: ReceiptReport[];
}

const MAX_BUNDLE_BYTES = 1024 * 1024;

async function loadTrust(
  opts: VerifyOptions,
  env: NodeJS.ProcessEnv,
): Promise<{ keys: TrustedKey[]; trustedRoots: { json: unknown }[] }> {
  const keys: TrustedKey[] = [];
  for (const spec of opts.keys) {
    const src = await readKeyText(spec, env);
    const key = parsePublicKey(src);
    keys.push({ name: spec.startsWith('env://') ? spec : path.basename(spec), key, ...keyHints(key) });
  }
  const trustedRoots: { json: unknown }[] = [];
  for (const file of opts.trustedRoots) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new SigningError(
        `--trusted-root ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    try {
      trustedRoots.push({ json: JSON.parse(text) as unknown });
    } catch {
      throw new SigningError(`--trusted-root ${file}: not JSON (expected a Sigstore trusted_root.json)`);
    }
  }
  if (keys.length === 0 && trustedRoots.length === 0 && !opts.registryKeys?.length)
    throw new SigningError(
      'nothing to verify against: give --key <public key> or --trusted-root <trusted_root.json> with --certificate-identity and --certificate-oidc-issuer',
    );
  const id = opts.identity;
  if (trustedRoots.length > 0 && (!(id.identity || id.identityRegexp) || !(id.issuer || id.issuerRegexp))) {
    // As cosign: a keyless signature proves only that *someone* with an OIDC account signed; who must be said.
    throw new SigningError(
      'keyless verification needs --certificate-identity (or --certificate-identity-regexp) and --certificate-oidc-issuer (or --certificate-oidc-issuer-regexp)',
    );
  }
  return { keys, trustedRoots };
}

function regexpOf(flag: string, source: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (err) {
    throw new SigningError(`${flag} ${source}: not a valid regular expression (${(err as Error).message})`);
  }
}

/** A keyless signer must match the identity asked for; key signers are already pinned by the key. */
function identityProblem(check: BundleCheck, id: IdentityMatch): string | undefined {
  const s = check.signer;
  if (!s || s.keyFingerprint) return undefined;
  const subject = s.subject ?? '';
  const issuer = s.issuer ?? '';
  if (id.identity !== undefined && subject !== id.identity)
    return `signed by ${subject || '(no identity)'}, not ${id.identity}`;
  if (id.identityRegexp !== undefined && !regexpOf('--certificate-identity-regexp', id.identityRegexp).test(subject))
    return `signed by ${subject || '(no identity)'}, which does not match ${id.identityRegexp}`;
  if (id.issuer !== undefined && issuer !== id.issuer)
    return `the identity was issued by ${issuer || '(no issuer)'}, not ${id.issuer}`;
  if (id.issuerRegexp !== undefined && !regexpOf('--certificate-oidc-issuer-regexp', id.issuerRegexp).test(issuer))
    return `the identity was issued by ${issuer || '(no issuer)'}, which does not match ${id.issuerRegexp}`;
  return undefined;
}

/** The bundle of one referrer, checked as cosign does: one bundle layer, the right subject. */
async function bundleOf(
  client: RegistryClient,
  repository: string,
  subjectDigest: string,
  d: Descriptor,
  scope: string,
  layerPrefix = BUNDLE_MEDIA_TYPE_PREFIX,
): Promise<{ bundle?: unknown; problem?: string }> {
  let manifest: { layers?: Descriptor[]; subject?: Descriptor };
  try {
    manifest = JSON.parse(
      (await fetchVerified(client, repository, 'manifests', d.digest, scope, OCI_MANIFEST)).toString('utf8'),
    ) as typeof manifest;
  } catch (err) {
    return { problem: `the referrer manifest cannot be read: ${(err as Error).message}` };
  }
  if (manifest.subject?.digest !== subjectDigest)
    return { problem: `the referrer's subject is ${manifest.subject?.digest ?? 'missing'}, not ${subjectDigest}` };
  const layers = (manifest.layers ?? []).filter(
    (l) => typeof l?.mediaType === 'string' && l.mediaType.startsWith(layerPrefix),
  );
  if (layers.length !== 1) return { problem: `expected exactly one ${layerPrefix} layer, found ${layers.length}` };
  const layer = layers[0]!;
  if (typeof layer.size !== 'number' || layer.size > MAX_BUNDLE_BYTES)
    return { problem: `the bundle layer is larger than ${MAX_BUNDLE_BYTES} bytes` };
  try {
    return {
      bundle: JSON.parse(
        (await fetchVerified(client, repository, 'blobs', layer.digest, scope)).toString('utf8'),
      ) as unknown,
    };
  } catch (err) {
    return { problem: `the bundle cannot be read: ${(err as Error).message}` };
  }
}

/**
 * `cairn verify`: lists the referrers of the manifest, and checks every Sigstore bundle among them
 * against the given keys or trusted roots (with the registry's own verifier, so the CLI and the server
 * never disagree), then the signer identity asked for.
 */
/**
 * The registry's key history (`GET /audit/keys`), followed from the pinned keys: when every rotation in it
 * is signed by both its keys and a pinned key is one of them, all of its keys verify receipts. A history
 * that does not check out, or is absent, adds nothing.
 */
async function rotatedKeys(client: RegistryClient, pinned: KeyObject[]): Promise<KeyObject[]> {
  let body: { rotations?: { seq: number; [k: string]: unknown }[] };
  try {
    const r = await client.request('GET', '/audit/keys');
    if (r.status !== 200) return [];
    body = JSON.parse(r.body.toString('utf8')) as typeof body;
  } catch {
    return [];
  }
  const rotations = (body.rotations ?? []).map(({ seq, ...detail }) => ({ seq, type: KEY_ROTATED, detail }));
  if (rotations.length === 0) return [];
  const history = keyHistory(rotations, '');
  if (history.problems.length > 0) return [];
  const keys = history.keys.map((v) => publicKeyOf(v)).filter((k): k is Buffer => k !== undefined);
  const raw = (k: KeyObject) =>
    k.asymmetricKeyType === 'ed25519' ? Buffer.from(k.export({ format: 'jwk' }).x!, 'base64url') : undefined;
  if (!pinned.some((p) => keys.some((k) => raw(p)?.equals(k)))) return [];
  return keys.map((k) =>
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.toString('base64url') }, format: 'jwk' }),
  );
}

export async function verifyArtifact(
  reference: string,
  opts: VerifyOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<VerifyReport> {
  const ref = parseReference(reference, { plainHttp: opts.plainHttp });
  const trust = await loadTrust(opts, env);
  const client = new RegistryClient({ baseUrl: ref.baseUrl, credentials: await resolveCredentials(ref.registry, env) });
  try {
    const scope = `repository:${ref.repository}:pull`;
    const subject = await resolveSubject(client, ref, scope);
    // Only the registry's receipt asked for (--registry-key alone): no signature to check.
    const signaturesAsked = trust.keys.length > 0 || trust.trustedRoots.length > 0;
    const referrers = signaturesAsked
      ? (await listReferrers(client, ref.repository, subject.digest, scope)).filter(
          (d) => typeof d.artifactType === 'string' && d.artifactType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX),
        )
      : [];
    const signatures: SignatureReport[] = [];
    for (const d of referrers) {
      // The annotation is a cheap pre-filter only; the verified statement's type decides below.
      const annotated = d.annotations?.['dev.sigstore.bundle.predicateType'];
      if (opts.predicateType && annotated && annotated !== opts.predicateType) continue;
      const { bundle, problem } = await bundleOf(client, ref.repository, subject.digest, d, scope);
      if (problem) {
        signatures.push({ referrer: d.digest, verified: false, reason: problem });
        continue;
      }
      const check = verifyBundle(
        bundle,
        subject.digest,
        trust,
        subject.layers ? artifactFiles(subject.layers) : undefined,
      );
      if (opts.predicateType && check.predicateType !== opts.predicateType) continue;
      const who = check.verified ? identityProblem(check, opts.identity) : undefined;
      signatures.push({ referrer: d.digest, ...check, ...(who ? { verified: false, reason: who } : {}) });
    }
    let receipts: ReceiptReport[] | undefined;
    if (opts.registryKeys?.length) {
      const pinned = await Promise.all(
        opts.registryKeys.map(async (spec) => parsePublicKey(await readKeyText(spec, env))),
      );
      // A key the registry rotated from or to, by a rotation both keys signed, is as trusted as the given one.
      const registryKeys = [...pinned, ...(await rotatedKeys(client, pinned))];
      receipts = [];
      for (const d of await listReceipts(client, ref.repository, subject.digest, scope)) {
        if (d.artifactType !== RECEIPT_TYPE) continue;
        const { bundle, problem } = await bundleOf(client, ref.repository, subject.digest, d, scope, RECEIPT_TYPE);
        if (problem) {
          receipts.push({ referrer: d.digest, verified: false, reason: problem });
          continue;
        }
        // Any of the given keys (a rotated registry key, say) may have signed it.
        const checks = registryKeys.map((k) => verifyReceipt(bundle, subject.digest, k));
        const ok = checks.find((c) => c.verified);
        receipts.push(
          ok
            ? { referrer: d.digest, verified: true, receipt: ok.receipt! }
            : { referrer: d.digest, verified: false, reason: checks[0]?.reason ?? 'not verified' },
        );
      }
    }
    return {
      repository: ref.repository,
      digest: subject.digest,
      checked: signatures.length,
      verifiedCount: signatures.filter((s) => s.verified).length,
      signatures,
      ...(receipts ? { receipts } : {}),
    };
  } finally {
    client.close();
  }
}
