import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { Database } from './schema';
import type { ArtifactIndex, ArtifactView, LineageEdge, SearchQuery, Transition } from './artifact-index';

type Row = Database['artifacts'] & { repository: string };
type Q = SelectQueryBuilder<Database & { a: Database['artifacts']; r: Database['repositories'] }, 'a' | 'r', Row>;

const num = (v: unknown): number => Number(v);

function view(r: Row): ArtifactView {
  return {
    id: num(r.id),
    repository: r.repository,
    digest: r.digest,
    kind: r.kind,
    family: r.family,
    name: r.name,
    version: r.version,
    framework: r.framework,
    license: r.license,
    sensitivity: r.sensitivity,
    stage: r.stage,
    stageReason: r.stage_reason,
    stageBy: r.stage_by,
    stageAt: r.stage_at === null ? null : num(r.stage_at),
    pushedBy: r.pushed_by,
    compromised: r.compromised_at === null ? null : { at: num(r.compromised_at), reason: r.compromised_reason ?? '' },
    totalSize: num(r.total_size),
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    createdAt: num(r.created_at),
  };
}

function edgeOf(r: {
  repository: string;
  digest: string;
  relation: string;
  target_repository: string | null;
  target_digest: string;
}): LineageEdge {
  return {
    from: { repository: r.repository, digest: r.digest },
    relation: r.relation,
    to: { ...(r.target_repository ? { repository: r.target_repository } : {}), digest: r.target_digest },
  };
}

const SELECTIVE = 2000;

/**
 * The upper bound of names starting with `prefix`: names are ASCII and compare bytewise (COLLATE "C"
 * on PostgreSQL), so a range on the name's own index replaces substr(), which neither planner can use.
 */
export function prefixEnd(prefix: string): string {
  return `${prefix}\uffff`;
}

/** The words a name is found by: lower-case, split on the separators names use. */
export function terms(text: string): string[] {
  return [
    ...new Set(
      text
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .filter((w) => w.length > 0 && w.length <= 64),
    ),
  ].slice(0, 8);
}

/** Chunks an IN list: SQLite allows at most 32,766 parameters a statement, PostgreSQL 65,535. */
function chunks<T>(xs: T[], n = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

export class KyselyArtifactIndex implements ArtifactIndex {
  constructor(
    private readonly db: Kysely<Database>,
    /** Side filters matching fewer artifacts than this drive the query from their own index. */
    private readonly selectiveBelow = SELECTIVE,
  ) {}

  private base(): Q {
    return this.db
      .selectFrom('artifacts as a')
      .innerJoin('repositories as r', 'r.id', 'a.repository_id')
      .selectAll('a')
      .select('r.name as repository') as unknown as Q;
  }

  private idOf(repository: string, digest: string) {
    return this.db
      .selectFrom('artifacts as a')
      .innerJoin('repositories as r', 'r.id', 'a.repository_id')
      .select('a.id')
      .where('r.name', '=', repository)
      .where('a.digest', '=', digest);
  }

  async get(repository: string, digest: string): Promise<ArtifactView | undefined> {
    const r = await this.base().where('r.name', '=', repository).where('a.digest', '=', digest).executeTakeFirst();
    return r ? view(r) : undefined;
  }

  async byDigests(digests: string[]): Promise<ArtifactView[]> {
    const out: ArtifactView[] = [];
    for (const c of chunks([...new Set(digests)]))
      out.push(...(await this.base().where('a.digest', 'in', c).orderBy('a.id').execute()).map(view));
    return out;
  }

  async approvals(artifactId: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('approvals')
      .select('principal')
      .where('artifact_id', '=', artifactId)
      .orderBy('approved_at')
      .execute();
    return rows.map((r) => r.principal);
  }

  async tags(repository: string, digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .select('t.name')
      .where('r.name', '=', repository)
      .where('t.digest', '=', digest)
      .orderBy('t.name')
      .execute();
    return rows.map((r) => r.name);
  }

  async transition(repository: string, digest: string, t: Transition): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const now = Date.now();
      const row = await trx
        .selectFrom('artifacts as a')
        .innerJoin('repositories as r', 'r.id', 'a.repository_id')
        .select(['a.id', 'a.stage'])
        .where('r.name', '=', repository)
        .where('a.digest', '=', digest)
        .executeTakeFirst();
      if (!row || row.stage !== t.from) return false;
      const id = num(row.id);
      // The compare-and-set itself: a concurrent move makes this update match nothing.
      const moved = await trx
        .updateTable('artifacts')
        .set({
          stage: t.to,
          ...(t.to !== t.from ? { stage_reason: t.reason ?? null, stage_by: t.by, stage_at: now } : {}),
        })
        .where('id', '=', id)
        .where('stage', '=', t.from)
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) !== 1) return false;
      if (t.clearApprovals) await trx.deleteFrom('approvals').where('artifact_id', '=', id).execute();
      if (t.approval) {
        const r = await trx
          .insertInto('approvals')
          .values({ artifact_id: id, principal: t.approval, approved_at: now })
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        if (Number(r.numInsertedOrUpdatedRows ?? 0) !== 1) throw new Error('approval already recorded');
      }
      return true;
    });
  }

  async markCompromised(repository: string, digest: string, reason: string, at: number): Promise<boolean> {
    const r = await this.db
      .updateTable('artifacts')
      .set({ compromised_at: at, compromised_reason: reason })
      .where('id', '=', this.idOf(repository, digest))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  private edges() {
    return this.db
      .selectFrom('lineage_edges as e')
      .innerJoin('artifacts as a', 'a.id', 'e.artifact_id')
      .innerJoin('repositories as r', 'r.id', 'a.repository_id')
      .select(['r.name as repository', 'a.digest', 'e.relation', 'e.target_repository', 'e.target_digest']);
  }

  async edgesFrom(nodes: { repository: string; digest: string }[]): Promise<LineageEdge[]> {
    const out: LineageEdge[] = [];
    const wanted = new Set(nodes.map((n) => `${n.repository}@${n.digest}`));
    for (const c of chunks([...new Set(nodes.map((n) => n.digest))])) {
      const rows = await this.edges()
        .where('a.digest', 'in', c)
        .orderBy('a.id')
        .orderBy('e.relation')
        .orderBy('e.target_digest')
        .execute();
      for (const r of rows) if (wanted.has(`${r.repository}@${r.digest}`)) out.push(edgeOf(r));
    }
    return out;
  }

  async edgesTo(digests: string[]): Promise<LineageEdge[]> {
    const out: LineageEdge[] = [];
    for (const c of chunks([...new Set(digests)])) {
      const rows = await this.edges().where('e.target_digest', 'in', c).orderBy('a.id').execute();
      for (const r of rows) out.push(edgeOf(r));
    }
    return out;
  }

  /**
   * Whether a side filter (terms, metrics, annotations, lineage) matches few artifacts. A selective one
   * drives the query from its own index (`a.id in (…)`); a broad one is checked per artifact while the
   * artifacts are walked in id order, which stops at the page size. Neither shape suits both cases, and
   * the engines' planners do not choose between them well (docs/performance.md).
   */
  private async selective(q: SelectQueryBuilder<Database, keyof Database, { artifact_id: number }>): Promise<boolean> {
    const rows = await q.limit(this.selectiveBelow).execute();
    return rows.length < this.selectiveBelow;
  }

  async search(q: SearchQuery): Promise<ArtifactView[]> {
    let s = this.base();
    // Registry receipts are found by asking for them, not among what people pushed.
    // `model,dataset`: any of several kinds (the console lists what people review, not signatures).
    const kinds = (q.kind ?? '').split(',').filter(Boolean);
    s = kinds.length ? s.where('a.kind', 'in', kinds) : s.where('a.kind', '<>', 'receipt');
    if (q.family) s = s.where('a.family', '=', q.family);
    if (q.framework) s = s.where('a.framework', '=', q.framework);
    if (q.license) s = s.where('a.license', '=', q.license);
    if (q.stage) s = s.where('a.stage', '=', q.stage);
    if (q.compromised !== undefined) s = s.where('a.compromised_at', q.compromised ? 'is not' : 'is', null);
    if (q.repository) s = s.where('r.name', '>=', q.repository).where('r.name', '<', prefixEnd(q.repository));

    // Each side filter is a subquery over its own table, keyed by artifact_id.
    const sides: SelectQueryBuilder<Database, keyof Database, { artifact_id: number }>[] = [];
    const words = terms(q.text ?? '');
    // Text without a word in it (punctuation only) matches no name.
    if (q.text !== undefined && words.length === 0) return [];
    for (const word of words) {
      sides.push(
        this.db
          .selectFrom('artifact_terms')
          .select('artifact_id')
          .where('term', '>=', word)
          .where('term', '<', prefixEnd(word)) as never,
      );
    }
    for (const an of q.annotations ?? []) {
      let sub = this.db.selectFrom('artifact_annotations').select('artifact_id').where('key', '=', an.key);
      if (an.value !== undefined) sub = sub.where('value', '=', an.value);
      sides.push(sub as never);
    }
    for (const m of q.metrics ?? [])
      sides.push(
        this.db
          .selectFrom('artifact_metrics')
          .select('artifact_id')
          .where('name', '=', m.name)
          .where('value', m.op, m.value) as never,
      );
    if (q.references)
      sides.push(
        this.db.selectFrom('lineage_edges').select('artifact_id').where('target_digest', '=', q.references) as never,
      );
    for (const side of sides) {
      if (await this.selective(side)) {
        s = s.where('a.id', 'in', side as never);
      } else {
        // Correlated: the subquery's own index on (artifact_id, …) answers it per artifact.
        s = s.where(({ exists }) =>
          exists(
            (side as SelectQueryBuilder<Database, keyof Database, { artifact_id: number }>).where(
              sql.ref('artifact_id'),
              '=',
              sql.ref('a.id'),
            ) as never,
          ),
        );
      }
    }
    if (q.after !== undefined) s = s.where('a.id', '>', q.after);
    return (await s.orderBy('a.id').limit(q.limit).execute()).map(view);
  }

  async usage(namespace: string): Promise<{ bytes: number; artifacts: number }> {
    const end = prefixEnd(namespace);
    const bytes = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .select(sql<string | number | null>`sum(rb.size)`.as('bytes'))
      .where('r.name', '>=', namespace)
      .where('r.name', '<', end)
      // The blobs of the registry's own receipts are not the namespace's storage.
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('manifest_blobs as mb')
              .innerJoin('artifacts as ra', (j) =>
                j.onRef('ra.repository_id', '=', 'mb.repository_id').onRef('ra.digest', '=', 'mb.manifest_digest'),
              )
              .select(sql`1`.as('one'))
              .whereRef('mb.repository_id', '=', 'rb.repository_id')
              .whereRef('mb.blob_digest', '=', 'rb.digest')
              .where('ra.kind', '=', 'receipt'),
          ),
        ),
      )
      .executeTakeFirst();
    // Receipts the registry attaches are not the namespace's artifacts.
    const count = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .leftJoin('artifacts as a', (j) =>
        j.onRef('a.repository_id', '=', 'm.repository_id').onRef('a.digest', '=', 'm.digest'),
      )
      .select(sql<string | number>`count(*)`.as('n'))
      .where('r.name', '>=', namespace)
      .where('r.name', '<', end)
      .where((eb) => eb.or([eb('a.kind', 'is', null), eb('a.kind', '<>', 'receipt')]))
      .executeTakeFirst();
    return { bytes: Number(bytes?.bytes ?? 0), artifacts: Number(count?.n ?? 0) };
  }

  async staleDrafts(cutoff: number, limit: number): Promise<ArtifactView[]> {
    const rows = await this.base()
      .where('a.stage', '=', 'draft')
      .where('a.kind', 'in', ['model', 'dataset'])
      .where('a.created_at', '<', cutoff)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('lineage_edges as le')
              .select(sql`1`.as('one'))
              .whereRef('le.target_digest', '=', 'a.digest'),
          ),
        ),
      )
      .orderBy('a.created_at')
      .limit(limit)
      .execute();
    return rows.map(view);
  }
}
