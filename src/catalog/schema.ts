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
  cairn_migrations: { version: number; applied_at: number };
}
