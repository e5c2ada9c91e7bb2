import type { Generated } from 'kysely';

/**
 * The catalog's tables. Timestamps are integer milliseconds since the epoch: PostgreSQL returns bigint
 * as strings and SQLite as numbers, so the query layer normalises every one it reads.
 */
export interface Database {
  repositories: { id: Generated<number>; name: string; created_at: number };
  /** One row per stored blob that a repository links; its lock serialises upload commits and the collector. */
  blobs: { digest: string; size: number; touched_at: number };
  repository_blobs: { repository_id: number; digest: string; size: number; touched_at: number };
  manifests: {
    repository_id: number;
    digest: string;
    media_type: string;
    size: number;
    content: Buffer;
    artifact_type: string | null;
    subject_digest: string | null;
    annotations: string | null;
    created_at: number;
  };
  manifest_blobs: { repository_id: number; manifest_digest: string; blob_digest: string };
  manifest_children: { repository_id: number; manifest_digest: string; child_digest: string };
  tags: { repository_id: number; name: string; digest: string; updated_at: number };
  leases: { name: string; holder: string; expires_at: number };
  job_cursors: { name: string; position: number; updated_at: number };
  /** Wrapped data keys of encrypted blobs (src/catalog/kysely-data-keys.ts). */
  audit_cosignatures: { size: number; witness: string; line: string; created_at: number };
  audit_witness_positions: { witness: string; size: number };
  witness_state: { origin: string; size: number; root_hash: Buffer; updated_at: number };
  replication_targets: {
    name: string;
    position: number;
    last_error: string | null;
    last_error_at: number | null;
    last_sent_at: number | null;
    failed_events: number;
    updated_at: number;
  };
  replication_failures: { target: string; seq: number; error: string; failed_at: number };
  data_keys: { key_id: string; owner: string; kek_id: string; wrapped: Buffer; created_at: number };
  cairn_migrations: { version: number; applied_at: number };
  /** Human accounts. groups is a JSON array of group names. */
  users: {
    name: string;
    password_hash: string;
    groups: string;
    disabled: number;
    totp_secret: string | null;
    totp_enabled: number;
    failed_logins: number;
    locked_until: number;
    created_at: number;
    updated_at: number;
  };
  /** CI accounts: a secret (stored as its sha256) shown once, rotatable, with an optional expiry. */
  robots: {
    name: string;
    secret_hash: string;
    groups: string;
    disabled: number;
    expires_at: number | null;
    description: string;
    created_at: number;
    rotated_at: number;
  };
  /** Personal access tokens and OAuth2 refresh tokens: opaque secrets, stored as their sha256. */
  credentials: {
    id: string;
    kind: string;
    principal: string;
    secret_hash: string;
    label: string;
    mfa: number;
    created_at: number;
    expires_at: number | null;
    revoked_at: number | null;
    last_used_at: number | null;
  };
  /** OIDC federation: which issuer's tokens, with which claims, act as which identity. claims and groups are JSON. */
  oidc_rules: {
    name: string;
    issuer: string;
    audience: string;
    claims: string;
    groups: string;
    description: string;
    disabled: number;
    created_at: number;
  };
  /** A role (a policy template) granted to a principal or group over a scope (the registry, a namespace, a repository). */
  role_bindings: { principal: string; role: string; scope: string; created_at: number };
  /** Token signing keys; a retired key verifies until the tokens it signed have expired, then is dropped. */
  signing_keys: {
    kid: string;
    alg: string;
    private_pem: string;
    public_jwk: string;
    created_at: number;
    retired_at: number | null;
  };
  /** The append-only audit log: one canonical-JSON event per leaf of the Merkle tree (seq = leaf index). */
  audit_events: { seq: number; event: string; leaf_hash: Buffer; created_at: number };
  /** The log's size, locked by each append so that sequence numbers are dense across replicas. */
  audit_head: { id: number; size: number };
  /** Which events mention a digest (`d:`), repository (`r:`) or identity (`i:`); derived, rebuildable. */
  audit_index: { key: string; seq: number };
  audit_index_head: { id: number; indexed: number };
  /** Signed checkpoints (C2SP signed notes) as they were issued. */
  audit_checkpoints: { size: number; root_hash: Buffer; note: string; created_at: number };
  /** Blobs whose stored bytes were found not to match their digest: not served until pushed again. */
  quarantine: { digest: string; actual: string; detected_by: string; detected_at: number };
  /** One per manifest: kind, searchable metadata (the whole of it as JSON in metadata), lifecycle stage. */
  artifacts: {
    id: Generated<number>;
    repository_id: number;
    digest: string;
    kind: string;
    family: string | null;
    name: string | null;
    version: string | null;
    framework: string | null;
    license: string | null;
    sensitivity: string | null;
    stage: string;
    stage_reason: string | null;
    stage_by: string | null;
    stage_at: number | null;
    pushed_by: string;
    compromised_at: number | null;
    compromised_reason: string | null;
    total_size: number;
    metadata: string;
    created_at: number;
  };
  artifact_annotations: { artifact_id: number; key: string; value: string };
  artifact_metrics: { artifact_id: number; name: string; value: number };
  artifact_terms: { term: string; artifact_id: number };
  /** What an artifact names by digest (datasets, base model, sources, subject): the lineage graph. */
  lineage_edges: { artifact_id: number; relation: string; target_repository: string | null; target_digest: string };
  /** How each signature or attestation referrer verified, against which trust material. */
  signature_checks: {
    artifact_id: number;
    repository_id: number;
    subject_digest: string;
    bundle_digest: string;
    /** bundle (Sigstore), cosign-sig or cosign-att (cosign v2's tag scheme). */
    format: string;
    predicate_type: string | null;
    builder: string | null;
    verified: number;
    /** Verified, and by no revoked key or identity, when it was checked. */
    accepted: number;
    reason: string | null;
    key_name: string | null;
    key_fingerprint: string | null;
    issuer: string | null;
    subject: string | null;
    signed_at: number | null;
    checked_at: number;
    trust_version: string;
  };
  /** Approvals of a candidate, one per identity (four eyes: counted, and never the publisher's). */
  approvals: { artifact_id: number; principal: string; approved_at: number };
  /** Attributes of namespaces and repositories that policies read (owner team, sensitivity label). */
  resource_labels: { name: string; owner_team: string | null; sensitivity: string | null; updated_at: number };
}
