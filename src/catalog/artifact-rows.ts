import type { Transaction } from 'kysely';
import type { ArtifactRecord } from './catalog';
import type { Database } from './schema';
import { terms } from './kysely-artifact-index';

/** Writes an artifact's row, annotations, metrics and lineage edges, inside the manifest's transaction. */
export async function insertArtifact(
  trx: Transaction<Database>,
  repositoryId: number,
  repository: string,
  digest: string,
  a: ArtifactRecord,
  now: number,
): Promise<void> {
  const row = await trx
    .insertInto('artifacts')
    .values({
      repository_id: repositoryId,
      digest,
      kind: a.kind,
      family: a.family,
      name: a.name ?? null,
      version: a.version ?? null,
      framework: a.framework ?? null,
      license: a.license ?? null,
      sensitivity: a.sensitivity ?? null,
      stage: 'draft',
      stage_reason: null,
      stage_by: a.pushedBy,
      stage_at: now,
      pushed_by: a.pushedBy,
      compromised_at: null,
      compromised_reason: null,
      total_size: a.totalSize,
      metadata: a.metadata,
      created_at: now,
    })
    .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!row) return;
  const id = Number(row.id);
  const annotations = Object.entries(a.annotations).filter(([k, v]) => k.length <= 256 && v.length <= 4096);
  if (annotations.length)
    await trx
      .insertInto('artifact_annotations')
      .values(annotations.map(([key, value]) => ({ artifact_id: id, key, value })))
      .execute();
  const words = terms(`${repository} ${a.name ?? ''}`);
  if (words.length)
    await trx
      .insertInto('artifact_terms')
      .values(words.map((term) => ({ term, artifact_id: id })))
      .execute();
  const metrics = Object.entries(a.metrics);
  if (metrics.length)
    await trx
      .insertInto('artifact_metrics')
      .values(metrics.map(([name, value]) => ({ artifact_id: id, name, value })))
      .execute();
  if (a.edges.length) {
    await trx
      .insertInto('lineage_edges')
      .values(
        a.edges.map((e) => ({
          artifact_id: id,
          relation: e.relation,
          target_repository: e.repository ?? null,
          target_digest: e.digest,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}
