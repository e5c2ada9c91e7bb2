import { createHash, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import type { BlobRef, Catalog, IssuedManifest } from '../catalog/catalog';
import type { BlobStore } from '../storage/blob-store';
import type { AuditLog } from '../audit/audit-log';
import type { Ed25519Signer } from '../keys/signer';
import type { NewEvent } from '../audit/events';
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
  catalog: Pick<Catalog, 'getBlobLink' | 'putIssued'>;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A small blob the registry itself writes, its bytes stored and not yet visible. */
interface IssuedBlob {
  ref: BlobRef;
  commit: () => Promise<void>;
  discard: () => Promise<void>;
}

async function storeBlob(s: ReceiptDeps, bytes: Buffer, digest: string): Promise<IssuedBlob> {
  const pending = await s.blobs.writeBlob(digest, Readable.from([bytes]), () => undefined);
  if (pending.result.error) {
    await pending.discard().catch(() => undefined);
    throw pending.result.error;
  }
  return {
    ref: { digest, size: bytes.length },
    commit: async () => void (await pending.publish()),
    discard: () => pending.discard(),
  };
}

const publicParts = new WeakMap<KeyObject, { pem: string; hint: string }>();

/** The public key and hint a bundle names, derived once per key: per receipt it cost 0.3 ms. */
function publicPartsOf(pub: KeyObject): { pem: string; hint: string } {
  let parts = publicParts.get(pub);
  if (!parts) {
    parts = { pem: pub.export({ format: 'pem', type: 'spki' }).toString(), hint: keyHints(pub).hints[0]! };
    publicParts.set(pub, parts);
  }
  return parts;
}

/** A DSSE bundle over the receipt statement, signed with the registry's key (a file's, or an HSM's). */
async function signReceipt(key: Ed25519Signer, digest: string, predicate: ReceiptPredicate): Promise<unknown> {
  const { pem, hint } = publicPartsOf(key.publicKey);
  const signer = {
    sign: async (data: Buffer) => ({
      signature: key.sign(data),
      key: { $case: 'publicKey' as const, publicKey: pem, hint },
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

/** A receipt signed and its bundle stored, ready to be linked with the others of its batch. */
export interface PreparedReceipt {
  digest: string;
  entry: IssuedManifest;
  /** The log's record of what it links: every link is in the log, the registry's own too. */
  events: NewEvent[];
  /** Drops the stored bytes when the batch is not written. */
  discard(): Promise<void>;
}

/**
 * Signs the registry's receipt of a push (who, when, from where, and where in the log, with the
 * inclusion proof) and stores its bundle; the receipt becomes visible, as a referrer of the manifest,
 * when the issuer writes its batch with `catalog.putIssued`. `linked` holds what this batch links
 * already (a repository's empty config is linked once).
 */
export async function prepareReceipt(
  s: ReceiptDeps,
  key: Ed25519Signer,
  m: ReceiptSubject,
  at: LogPosition,
  linked: Set<string>,
): Promise<PreparedReceipt> {
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
  const configDigest = sha256(EMPTY);
  const bundleDigest = sha256(bundle);
  const blobs: IssuedBlob[] = [];
  const discard = async () => void (await Promise.all(blobs.map((b) => b.discard().catch(() => undefined))));
  try {
    for (const [bytes, digest] of [
      [EMPTY, configDigest],
      [bundle, bundleDigest],
    ] as const) {
      const link = `${m.repository}@${digest}`;
      if (linked.has(link) || (await s.catalog.getBlobLink(m.repository, digest))) continue;
      blobs.push(await storeBlob(s, bytes, digest));
      linked.add(link);
    }
  } catch (err) {
    await discard();
    throw err;
  }
  const created = {
    'org.opencontainers.image.created': predicate.time,
    'dev.cairn.receipt.audit-index': String(m.seq),
  };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: RECEIPT_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: configDigest, size: EMPTY.length },
      layers: [{ mediaType: RECEIPT_TYPE, digest: bundleDigest, size: bundle.length }],
      subject: { mediaType: m.mediaType, digest: m.digest, size: m.size },
      annotations: created,
    }),
  );
  const digest = sha256(manifest);
  const requestId = m.requestId ? { requestId: m.requestId } : {};
  const events: NewEvent[] = blobs.map((b) => ({
    type: 'blob.push',
    identity: 'system',
    action: 'push',
    repository: m.repository,
    digest: b.ref.digest,
    ...requestId,
    detail: { size: b.ref.size, upload: 'receipt' },
  }));
  // The receipt is a change like any other: in the log, so `cairn audit verify` finds it in the catalog.
  events.push({
    identity: 'system',
    ...requestId,
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
  return {
    digest,
    events,
    discard,
    entry: {
      repository: m.repository,
      blobs: blobs.map(({ ref, commit }) => ({ ref, commit })),
      manifest: {
        digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: manifest.length,
        content: manifest,
        artifactType: RECEIPT_TYPE,
        subject: m.digest,
        // The audit index lets a restarted issuer see which pushes of a batch already have their receipt.
        annotations: created,
        // Not a lineage edge: a receipt says how the artifact arrived, not what it was made from.
        blobs: [configDigest, bundleDigest],
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
      },
    },
  };
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
