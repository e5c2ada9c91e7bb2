import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema';
import type { AuditLog } from './audit-log';
import { verifyAuditLog } from './verify';

/**
 * For a registry upgraded from a version without the audit log: one `*.adopt` event per manifest, tag
 * and blob link the catalog holds and the log does not, so that `cairn audit verify` starts from the state
 * as it was found. Run once, at the upgrade: adopt events later on are themselves a finding to look at.
 */
export async function adoptCatalog(
  db: Kysely<Database>,
  log: AuditLog,
  identity: string,
): Promise<{ manifests: number; tags: number; blobs: number }> {
  const counts = { manifests: 0, tags: 0, blobs: 0 };
  // What the log already accounts for, by the same reading verify uses.
  const logged = async () => {
    await log.flush();
    return (await verifyAuditLog(db, { origin: log.origin, publicKey: log.publicKey, crossCheck: true })).problems;
  };
  const problems = await logged();
  const manifests = await db
    .selectFrom('manifests as m')
    .innerJoin('repositories as r', 'r.id', 'm.repository_id')
    .select(['r.name', 'm.digest'])
    .execute();
  for (const m of manifests) {
    if (problems.includes(`manifest ${m.name}@${m.digest} is in the catalog without a logged push`)) {
      await log.append({ type: 'manifest.adopt', identity, repository: m.name, digest: m.digest });
      counts.manifests++;
    }
  }
  const tags = await db
    .selectFrom('tags as t')
    .innerJoin('repositories as r', 'r.id', 't.repository_id')
    .select(['r.name', 't.name as tag', 't.digest'])
    .execute();
  for (const t of tags) {
    if (problems.some((p) => p.startsWith(`tag ${t.name}:${t.tag} `))) {
      await log.append({ type: 'tag.adopt', identity, repository: t.name, tag: t.tag, digest: t.digest });
      counts.tags++;
    }
  }
  const links = await db
    .selectFrom('repository_blobs as b')
    .innerJoin('repositories as r', 'r.id', 'b.repository_id')
    .select(['r.name', 'b.digest'])
    .execute();
  for (const l of links) {
    if (problems.includes(`blob ${l.name}@${l.digest} is linked in the catalog without a logged push or mount`)) {
      await log.append({ type: 'blob.adopt', identity, repository: l.name, digest: l.digest });
      counts.blobs++;
    }
  }
  await log.flush();
  return counts;
}
