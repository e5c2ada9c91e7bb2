import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import type { Catalog } from '../catalog/catalog';
import type { BlobStore } from '../storage/blob-store';
import type { AuditLog } from '../audit/audit-log';
import { verifyInclusion } from '../audit/merkle';
import { IN_TOTO_PAYLOAD_TYPE, verifyBundle, type BundleCheck } from './bundle-verify';
import { keyHints } from './trust-config';

export const RECEIPT_TYPE = 'application/vnd.cairn.receipt.v1+json';
export const RECEIPT_PREDICATE = 'https://cairn.dev/receipt/v1';
const EMPTY = Buffer.from('{}');

export interface ReceiptPredicate {
  registry: string;
  repository: string;
  tag?: string;
  mediaType: string;
  pushedBy: string;
  source?: string;
  time: string;
  auditLog: {
    origin: string;
    index: number;
    treeSize: number;
    rootHash: string;
    leafHash: string;
    inclusionProof: string[];
  };
}

/** What issuing a receipt uses: the log (position, proof, key), and the store the receipt is written to. */
export interface ReceiptDeps {
  audit: Pick<AuditLog, 'append' | 'proofOf' | 'signingKey' | 'origin'>;
  blobs: BlobStore;
  catalog: Pick<Catalog, 'getBlobLink' | 'linkBlob' | 'putManifest'>;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Stores a small blob the registry itself writes, linked in the repository (once: a link already there is
 * kept). Resolves with the digest and the audit append of the link, which the caller awaits with the
 * others, so that they share one group commit.
 */
async function putBlob(
  s: ReceiptDeps,
  repository: string,
  bytes: Buffer,
  requestId: string | undefined,
): Promise<{ digest: string; logged: Promise<unknown> }> {
  const digest = sha256(bytes);
  if (await s.catalog.getBlobLink(repository, digest)) return { digest, logged: Promise.resolve() };
  const pending = await s.blobs.writeBlob(digest, Readable.from([bytes]), () => undefined);
  try {
    if (pending.result.error) throw pending.result.error;
    await s.catalog.linkBlob(repository, { digest, size: bytes.length }, async () => void (await pending.publish()));
  } catch (err) {
    await pending.discard().catch(() => undefined);
    throw err;
  }
  // Every link is in the log (`cairn audit verify` checks the catalog against it), the registry's own too.
  const logged = s.audit.append({
    type: 'blob.push',
    identity: 'system',
    action: 'push',
    repository,
    digest,
    ...(requestId ? { requestId } : {}),
    detail: { size: bytes.length, upload: 'receipt' },
  });
  // The caller awaits it with the others; when the caller fails first (the database went away), this
  // rejection must not go unhandled: Node would end the process for it.
  logged.catch(() => undefined);
  return { digest, logged };
}

/** A DSSE bundle over the receipt statement, signed with the registry's key. */
async function signReceipt(key: KeyObject, digest: string, predicate: ReceiptPredicate): Promise<unknown> {
  const pub = createPublicKey(key);
  const signer = {
    sign: async (data: Buffer) => ({
      signature: sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key),
      key: {
        $case: 'publicKey' as const,
        publicKey: pub.export({ format: 'pem', type: 'spki' }).toString(),
        hint: keyHints(pub).hints[0]!,
      },
    }),
  };
  const statement = {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: predicate.repository, digest: { sha256: digest.split(':')[1] } }],
    predicateType: RECEIPT_PREDICATE,
    predicate,
  };
  return bundleToJSON(
    await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
      data: Buffer.from(JSON.stringify(statement)),
      type: IN_TOTO_PAYLOAD_TYPE,
    }),
  );
}

/** A push the registry signs a receipt of, as its audit event records it. */
export interface ReceiptSubject {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  tag?: string;
  pushedBy: string;
  source?: string;
  requestId?: string;
  /** The push's position in the audit log. */
  seq: number;
}

/** Where the push sits in the log at one tree size: the receipt carries it as its inclusion proof. */
export interface LogPosition {
  size: number;
  root: Buffer;
  leaf: Buffer;
  proof: Buffer[];
}

/**
 * Writes the registry's signed receipt of a push (who, when, from where, and where in the log, with the
 * inclusion proof), attached as a referrer of the manifest. Resolves with its digest and the audit
 * appends of what it wrote, which the caller awaits with those of the other receipts of its batch, so
 * that they share one group commit.
 */
export async function writeReceipt(
  s: ReceiptDeps,
  key: KeyObject,
  m: ReceiptSubject,
  at: LogPosition,
): Promise<{ digest: string; logged: Promise<unknown>[] }> {
  const predicate: ReceiptPredicate = {
    registry: s.audit.origin,
    repository: m.repository,
    ...(m.tag ? { tag: m.tag } : {}),
    mediaType: m.mediaType,
    pushedBy: m.pushedBy,
    ...(m.source ? { source: m.source } : {}),
    time: new Date().toISOString(),
    auditLog: {
      origin: s.audit.origin,
      index: m.seq,
      treeSize: at.size,
      rootHash: at.root.toString('hex'),
      leafHash: at.leaf.toString('hex'),
      inclusionProof: at.proof.map((h) => h.toString('hex')),
    },
  };
  const bundle = Buffer.from(JSON.stringify(await signReceipt(key, m.digest, predicate)));
  const config = await putBlob(s, m.repository, EMPTY, m.requestId);
  // putBlob guards its own append against going unhandled when this receipt fails before it is awaited.
  const bundleBlob = await putBlob(s, m.repository, bundle, m.requestId);
  const logged = [config.logged, bundleBlob.logged];
  const created = {
    'org.opencontainers.image.created': predicate.time,
    'dev.cairn.receipt.audit-index': String(m.seq),
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: RECEIPT_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config.digest, size: EMPTY.length },
      layers: [{ mediaType: RECEIPT_TYPE, digest: bundleBlob.digest, size: bundle.length }],
      subject: { mediaType: m.mediaType, digest: m.digest, size: m.size },
      annotations: created,
    }),
  );
  const digest = sha256(manifest);
  await s.catalog.putManifest(m.repository, {
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: manifest.length,
    content: manifest,
    artifactType: RECEIPT_TYPE,
    subject: m.digest,
    // The audit index lets a restarted issuer see which pushes of a batch already have their receipt.
    annotations: created,
    // Not a lineage edge: a receipt says how the artifact arrived, not what it was made from.
    blobs: [config.digest, bundleBlob.digest],
    manifests: [],
    artifact: {
      kind: 'receipt',
      family: 'oci',
      pushedBy: 'system',
      totalSize: EMPTY.length + bundle.length,
      metadata: '{}',
      annotations: {},
      metrics: {},
      edges: [],
    },
  });
  // The receipt is a change like any other: in the log, so `cairn audit verify` finds it in the catalog.
  const pushed = s.audit.append({
    identity: 'system',
    ...(m.requestId ? { requestId: m.requestId } : {}),
    type: 'manifest.push',
    action: 'push',
    repository: m.repository,
    digest,
    decision: 'allow',
    detail: {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: manifest.length,
      kind: 'receipt',
      subject: m.digest,
    },
  });
  pushed.catch(() => undefined);
  return { digest, logged: [...logged, pushed] };
}

export interface ReceiptCheck extends BundleCheck {
  receipt?: ReceiptPredicate;
}

/**
 * Checks a receipt offline: the registry's signature over it (its public key), that it is about this
 * manifest, and that the inclusion proof leads from the push's leaf to the root it names (which a signed
 * checkpoint of the same size, or a consistency proof to a later one, then anchors).
 */
export function verifyReceipt(bundleJson: unknown, subjectDigest: string, registryKey: KeyObject): ReceiptCheck {
  const check = verifyBundle(bundleJson, subjectDigest, {
    keys: [{ name: 'registry', key: registryKey, ...keyHints(registryKey) }],
    trustedRoots: [],
  });
  if (!check.verified) return check;
  if (check.predicateType !== RECEIPT_PREDICATE)
    return { ...check, verified: false, reason: `not a Cairn receipt (predicate ${check.predicateType})` };
  const r = check.statement?.predicate as ReceiptPredicate | undefined;
  const log = r?.auditLog;
  if (!log || !Array.isArray(log.inclusionProof))
    return { ...check, verified: false, reason: 'the receipt has no audit log position' };
  const ok = verifyInclusion(
    Buffer.from(log.leafHash, 'hex'),
    log.index,
    log.treeSize,
    log.inclusionProof.map((h) => Buffer.from(h, 'hex')),
    Buffer.from(log.rootHash, 'hex'),
  );
  return ok
    ? { ...check, receipt: r }
    : { ...check, verified: false, reason: 'the inclusion proof does not lead to the root the receipt names' };
}
