import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema';
import type { BundleCheck } from './bundle-verify';

/** A stored verification of one signature or attestation referrer. */
export interface SignatureRecord {
  /** The referrer manifest. */
  repository: string;
  digest: string;
  subjectDigest: string;
  bundleDigest: string;
  format: string;
  predicateType: string | null;
  builder: string | null;
  verified: boolean;
  accepted: boolean;
  reason: string | null;
  keyName: string | null;
  keyFingerprint: string | null;
  issuer: string | null;
  subject: string | null;
  signedAt: number | null;
  checkedAt: number;
  trustVersion: string;
}

/** SLSA provenance names its builder here (v1) or there (v0.2). */
export function builderOf(check: BundleCheck): string | null {
  const p = check.statement?.predicate as
    { runDetails?: { builder?: { id?: unknown } }; builder?: { id?: unknown } } | undefined;
  const id = p?.runDetails?.builder?.id ?? p?.builder?.id;
  return typeof id === 'string' ? id : null;
}

/** Signature checks in the catalog database (SQLite or PostgreSQL), on the catalog's connection. */
export class SignatureStore {
  constructor(private readonly db: Kysely<Database>) {}

  async record(
    repository: string,
    digest: string,
    subjectDigest: string,
    bundleDigest: string,
    format: string,
    check: BundleCheck,
    accepted: boolean,
    trustVersion: string,
  ): Promise<void> {
    const row = await this.db
      .selectFrom('artifacts as a')
      .innerJoin('repositories as r', 'r.id', 'a.repository_id')
      .select(['a.id', 'a.repository_id'])
      .where('r.name', '=', repository)
      .where('a.digest', '=', digest)
      .executeTakeFirst();
    if (!row) return;
    const values = {
      subject_digest: subjectDigest,
      bundle_digest: bundleDigest,
      format,
      predicate_type: check.predicateType ?? null,
      builder: builderOf(check),
      verified: check.verified ? 1 : 0,
      accepted: accepted ? 1 : 0,
      reason: check.reason?.slice(0, 1000) ?? null,
      key_name: check.signer?.keyName ?? null,
      key_fingerprint: check.signer?.keyFingerprint ?? null,
      issuer: check.signer?.issuer ?? null,
      subject: check.signer?.subject ?? null,
      signed_at: check.signedAt ? Date.parse(check.signedAt) : null,
      checked_at: Date.now(),
      trust_version: trustVersion,
    };
    await this.db
      .insertInto('signature_checks')
      .values({ artifact_id: Number(row.id), repository_id: Number(row.repository_id), ...values })
      .onConflict((oc) => oc.column('artifact_id').doUpdateSet(values))
      .execute();
  }

  private select() {
    return this.db
      .selectFrom('signature_checks as s')
      .innerJoin('artifacts as a', 'a.id', 's.artifact_id')
      .innerJoin('repositories as r', 'r.id', 's.repository_id')
      .selectAll('s')
      .select(['r.name as repository', 'a.digest']);
  }

  /** The checks of every signature and attestation of an artifact. */
  async forSubject(repository: string, subjectDigest: string): Promise<SignatureRecord[]> {
    const rows = await this.select()
      .where('r.name', '=', repository)
      .where('s.subject_digest', '=', subjectDigest)
      .orderBy('s.artifact_id')
      .execute();
    return rows.map(toRecord);
  }

  /** Checks made against other trust material than `version`, a batch at a time. */
  async stale(version: string, limit: number): Promise<SignatureRecord[]> {
    const rows = await this.select()
      .where('s.trust_version', '<>', version)
      .orderBy('s.artifact_id')
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }

  /** Every check, for the periodic re-verification. */
  async all(after: number, limit: number): Promise<(SignatureRecord & { id: number })[]> {
    const rows = await this.select().where('s.artifact_id', '>', after).orderBy('s.artifact_id').limit(limit).execute();
    return rows.map((r) => ({ ...toRecord(r), id: Number(r.artifact_id) }));
  }
}

type Row = Database['signature_checks'] & { repository: string; digest: string };

function toRecord(r: Row): SignatureRecord {
  return {
    repository: r.repository,
    digest: r.digest,
    subjectDigest: r.subject_digest,
    bundleDigest: r.bundle_digest,
    format: r.format,
    predicateType: r.predicate_type,
    builder: r.builder,
    verified: Number(r.verified) === 1,
    accepted: Number(r.accepted) === 1,
    reason: r.reason,
    keyName: r.key_name,
    keyFingerprint: r.key_fingerprint,
    issuer: r.issuer,
    subject: r.subject,
    signedAt: r.signed_at === null ? null : Number(r.signed_at),
    checkedAt: Number(r.checked_at),
    trustVersion: r.trust_version,
  };
}
