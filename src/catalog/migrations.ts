import { sql, type Kysely } from 'kysely';
import type { Database } from './schema';

export type Dialect = 'sqlite' | 'postgres';

/** Column types that differ between the two engines. */
function types(d: Dialect) {
  return d === 'sqlite'
    ? { id: 'integer primary key autoincrement', ref: 'integer', big: 'integer', bytes: 'blob', name: 'text' }
    : { id: 'bigserial primary key', ref: 'bigint', big: 'bigint', bytes: 'bytea', name: 'text collate "C"' };
}

/**
 * Versioned DDL, applied in order, each version once. Names sort bytewise on both engines (COLLATE "C"
 * on PostgreSQL) so that pagination by `last` means the same thing everywhere.
 */
const MIGRATIONS: ((d: Dialect) => string[])[] = [
  (d) => {
    const t = types(d);
    return [
      `create table repositories (id ${t.id}, name ${t.name} not null unique, created_at ${t.big} not null)`,
      `create table blobs (digest text primary key, size ${t.big} not null, touched_at ${t.big} not null)`,
      `create table repository_blobs (
         repository_id ${t.ref} not null references repositories(id) on delete cascade,
         digest text not null, size ${t.big} not null, touched_at ${t.big} not null,
         primary key (repository_id, digest))`,
      `create index repository_blobs_digest on repository_blobs (digest)`,
      `create table manifests (
         repository_id ${t.ref} not null references repositories(id) on delete cascade,
         digest text not null, media_type text not null, size ${t.big} not null, content ${t.bytes} not null,
         artifact_type text, subject_digest text, annotations text, created_at ${t.big} not null,
         primary key (repository_id, digest))`,
      `create index manifests_subject on manifests (repository_id, subject_digest) where subject_digest is not null`,
      `create table manifest_blobs (
         repository_id ${t.ref} not null, manifest_digest text not null, blob_digest text not null,
         primary key (repository_id, manifest_digest, blob_digest),
         foreign key (repository_id, manifest_digest) references manifests (repository_id, digest) on delete cascade)`,
      `create index manifest_blobs_blob on manifest_blobs (repository_id, blob_digest)`,
      `create table manifest_children (
         repository_id ${t.ref} not null, manifest_digest text not null, child_digest text not null,
         primary key (repository_id, manifest_digest, child_digest),
         foreign key (repository_id, manifest_digest) references manifests (repository_id, digest) on delete cascade)`,
      `create index manifest_children_child on manifest_children (repository_id, child_digest)`,
      `create table tags (
         repository_id ${t.ref} not null, name ${t.name} not null, digest text not null, updated_at ${t.big} not null,
         primary key (repository_id, name),
         foreign key (repository_id, digest) references manifests (repository_id, digest) on delete cascade)`,
      `create index tags_digest on tags (repository_id, digest)`,
    ];
  },
  (d) => [`create table leases (name text primary key, holder text not null, expires_at ${types(d).big} not null)`],
  (d) => {
    const t = types(d);
    return [
      `create table users (name ${t.name} primary key, password_hash text not null, groups text not null,
         disabled integer not null, totp_secret text, totp_enabled integer not null, failed_logins integer not null,
         locked_until ${t.big} not null, created_at ${t.big} not null, updated_at ${t.big} not null)`,
      `create table robots (name ${t.name} primary key, secret_hash text not null, groups text not null,
         disabled integer not null, expires_at ${t.big}, description text not null,
         created_at ${t.big} not null, rotated_at ${t.big} not null)`,
      `create table credentials (id text primary key, kind text not null, principal text not null, secret_hash text not null,
         label text not null, mfa integer not null, created_at ${t.big} not null, expires_at ${t.big},
         revoked_at ${t.big}, last_used_at ${t.big})`,
      `create index credentials_principal on credentials (principal)`,
      `create table oidc_rules (name ${t.name} primary key, issuer text not null, audience text not null, claims text not null,
         groups text not null, description text not null, disabled integer not null, created_at ${t.big} not null)`,
      `create table role_bindings (principal text not null, role text not null, scope text not null, created_at ${t.big} not null,
         primary key (principal, role, scope))`,
      `create table signing_keys (kid text primary key, alg text not null, private_pem text not null, public_jwk text not null,
         created_at ${t.big} not null, retired_at ${t.big})`,
      `create table resource_labels (name ${t.name} primary key, owner_team text, sensitivity text, updated_at ${t.big} not null)`,
    ];
  },
  (d) => {
    const t = types(d);
    const tables = [
      `create table audit_events (seq ${t.big} primary key, event text not null, leaf_hash ${t.bytes} not null, created_at ${t.big} not null)`,
      `create table audit_head (id integer primary key, size ${t.big} not null)`,
      `insert into audit_head (id, size) values (1, 0)`,
      `create table audit_checkpoints (size ${t.big} primary key, root_hash ${t.bytes} not null, note text not null, created_at ${t.big} not null)`,
    ];
    // The second line of defence after the store's own refusal: the database itself rejects edits.
    if (d === 'sqlite') {
      for (const table of ['audit_events', 'audit_checkpoints']) {
        for (const op of ['update', 'delete']) {
          tables.push(
            `create trigger ${table}_no_${op} before ${op} on ${table} begin select raise(abort, 'cairn: ${table} is append-only'); end`,
          );
        }
      }
    } else {
      tables.push(
        `create function cairn_append_only() returns trigger language plpgsql as $$ begin raise exception 'cairn: % is append-only', TG_TABLE_NAME; end $$`,
      );
      for (const table of ['audit_events', 'audit_checkpoints']) {
        tables.push(
          `create trigger ${table}_append_only before update or delete on ${table} for each row execute function cairn_append_only()`,
        );
        tables.push(
          `create trigger ${table}_no_truncate before truncate on ${table} for each statement execute function cairn_append_only()`,
        );
      }
    }
    return tables;
  },
  (d) => [
    `create table quarantine (digest text primary key, actual text not null, detected_by text not null, detected_at ${types(d).big} not null)`,
  ],
  (d) => {
    const t = types(d);
    const real = d === 'sqlite' ? 'real' : 'double precision';
    return [
      // One row per manifest: its kind and searchable metadata, its lifecycle stage, who pushed it.
      `create table artifacts (id ${t.id}, repository_id ${t.ref} not null, digest text not null,
         kind text not null, family text, name ${t.name}, version text, framework text, license text, sensitivity text,
         stage text not null, stage_reason text, stage_by text, stage_at ${t.big},
         pushed_by text not null, compromised_at ${t.big}, compromised_reason text,
         total_size ${t.big} not null, metadata text not null, created_at ${t.big} not null,
         unique (repository_id, digest),
         foreign key (repository_id, digest) references manifests (repository_id, digest) on delete cascade)`,
      `create index artifacts_kind on artifacts (kind, id)`,
      `create index artifacts_stage on artifacts (stage, id)`,
      `create index artifacts_framework on artifacts (framework, id)`,
      `create index artifacts_license on artifacts (license, id)`,
      `create index artifacts_name on artifacts (name, id)`,
      `create index artifacts_digest on artifacts (digest)`,
      `create table artifact_annotations (artifact_id ${t.ref} not null references artifacts (id) on delete cascade,
         key text not null, value text not null, primary key (artifact_id, key))`,
      `create index artifact_annotations_kv on artifact_annotations (key, value)`,
      `create table artifact_metrics (artifact_id ${t.ref} not null references artifacts (id) on delete cascade,
         name text not null, value ${real} not null, primary key (artifact_id, name))`,
      `create index artifact_metrics_nv on artifact_metrics (name, value)`,
      `create table lineage_edges (artifact_id ${t.ref} not null references artifacts (id) on delete cascade,
         relation text not null, target_repository text, target_digest text not null,
         primary key (artifact_id, relation, target_digest))`,
      `create index lineage_edges_target on lineage_edges (target_digest)`,
      // The words of names and repositories, for search by word prefix from an index (a substring LIKE
      // reads every row).
      `create table artifact_terms (term text not null, artifact_id ${t.ref} not null references artifacts (id) on delete cascade,
         primary key (term, artifact_id))`,
      `create index artifact_terms_artifact on artifact_terms (artifact_id, term)`,
      `create index artifact_metrics_artifact on artifact_metrics (artifact_id, name, value)`,
      `create index lineage_edges_artifact on lineage_edges (artifact_id, target_digest)`,
      `create table approvals (artifact_id ${t.ref} not null references artifacts (id) on delete cascade,
         principal text not null, approved_at ${t.big} not null, primary key (artifact_id, principal))`,
      // Manifests pushed before this version: known by kind "other" until pushed again.
      `insert into artifacts (repository_id, digest, kind, family, stage, pushed_by, total_size, metadata, created_at)
         select repository_id, digest, 'other', 'oci', 'draft', 'unknown', size, '{}', created_at from manifests`,
    ];
  },
  // An index of the audit log by digest, repository and identity (the log itself stays append-only and
  // unchanged): the impact query asks for the events of every artifact it reaches. `indexed` is how many
  // events the index covers; the log fills in older ones at start.
  (d) => [
    `create table audit_index (key text not null, seq ${types(d).big} not null, primary key (key, seq))`,
    `create table audit_index_head (id integer primary key, indexed ${types(d).big} not null)`,
    `insert into audit_index_head (id, indexed) values (1, 0)`,
  ],
  // The verification of each signature and attestation (a referrer holding a Sigstore bundle), against
  // the trust material of trust_version; re-checked when that changes.
  (d) => {
    const t = types(d);
    return [
      `create table signature_checks (artifact_id ${t.ref} primary key references artifacts (id) on delete cascade,
         repository_id ${t.ref} not null, subject_digest text not null, bundle_digest text not null, format text not null,
         predicate_type text, builder text, verified integer not null, accepted integer not null, reason text,
         key_name text, key_fingerprint text, issuer text, subject text, signed_at ${t.big},
         checked_at ${t.big} not null, trust_version text not null)`,
      `create index signature_checks_subject on signature_checks (repository_id, subject_digest)`,
    ];
  },
  // SQLite's INSERT OR REPLACE removes a conflicting row without firing delete triggers (unless the
  // connection turned recursive_triggers on), so `replace into audit_events` rewrote an event past the
  // append-only guard. An insert may never meet an existing key. (PostgreSQL has no REPLACE; its
  // ON CONFLICT DO UPDATE fires the update trigger.)
  (d) =>
    d === 'sqlite'
      ? [
          ['audit_events', 'seq'],
          ['audit_checkpoints', 'size'],
        ].map(
          ([table, key]) =>
            `create trigger ${table}_no_replace before insert on ${table} when exists (select 1 from ${table} where ${key} = new.${key}) begin select raise(abort, 'cairn: ${table} is append-only'); end`,
        )
      : [],
  // Where a background job that walks the audit log stands (the receipt issuer), across restarts and replicas.
  // Receipts are issued from the log in the background from here on; a registry that issued them with each
  // push before owes none for what is already in its log.
  (d) => [
    `create table job_cursors (name text primary key, position ${types(d).big} not null, updated_at ${types(d).big} not null)`,
    `insert into job_cursors (name, position, updated_at) select 'receipts', size, 0 from audit_head where id = 1`,
  ],
  // Envelope encryption at rest: each encrypted blob's data key, wrapped by a key-encryption key.
  (d) => {
    const t = types(d);
    return [
      `create table data_keys (key_id text primary key, owner text not null, kek_id text not null,
         wrapped ${t.bytes} not null, created_at ${t.big} not null)`,
      `create index data_keys_owner on data_keys (owner)`,
      `create index data_keys_kek on data_keys (kek_id)`,
      // Crypto-shredding asks which manifests of any repository use a blob.
      `create index manifest_blobs_digest on manifest_blobs (blob_digest)`,
    ];
  },
  // Push replication: where each target stands in the audit log (its outbox), and the events it gave up on.
  (d) => {
    const t = types(d);
    return [
      `create table replication_targets (name text primary key, position ${t.big} not null,
         last_error text, last_error_at ${t.big}, last_sent_at ${t.big}, failed_events ${t.big} not null,
         updated_at ${t.big} not null)`,
      `create table replication_failures (target text not null, seq ${t.big} not null, error text not null,
         failed_at ${t.big} not null, primary key (target, seq))`,
    ];
  },
  // Witnessing: cosignatures other registries gave this log's checkpoints, where each witness stands,
  // and, as a witness, the last checkpoint cosigned for each log witnessed.
  (d) => {
    const t = types(d);
    return [
      `create table audit_cosignatures (size ${t.big} not null, witness text not null, line text not null,
         created_at ${t.big} not null, primary key (size, witness))`,
      `create table audit_witness_positions (witness text primary key, size ${t.big} not null)`,
      `create table witness_state (origin text primary key, size ${t.big} not null, root_hash ${t.bytes} not null,
         updated_at ${t.big} not null)`,
    ];
  },
];

/**
 * For a read-only catalog (a hot standby): writes nothing, and refuses a schema older or newer than this
 * Cairn's (the primary upgrades it; the region follows with the same version).
 */
export async function checkSchema(db: Kysely<Database>): Promise<void> {
  let version: number;
  try {
    const row = await db
      .selectFrom('cairn_migrations')
      .select((eb) => eb.fn.max('version').as('v'))
      .executeTakeFirst();
    version = Number(row?.v ?? 0);
  } catch {
    version = 0;
  }
  if (version !== MIGRATIONS.length)
    throw new Error(
      `the read-only database is at schema version ${version}, this Cairn needs ${MIGRATIONS.length}: run the same version as the primary, and let the primary migrate first`,
    );
}

/** Applies pending migrations; safe when several replicas start at once (a PostgreSQL advisory lock). */
export async function migrate(db: Kysely<Database>, dialect: Dialect): Promise<void> {
  await db.connection().execute(async (conn) => {
    if (dialect === 'postgres') await sql`select pg_advisory_lock(4242001)`.execute(conn);
    try {
      await sql`create table if not exists cairn_migrations (version integer primary key, applied_at bigint not null)`.execute(
        conn,
      );
      const rows = await conn.selectFrom('cairn_migrations').select('version').execute();
      const applied = new Set(rows.map((r) => Number(r.version)));
      for (let v = 1; v <= MIGRATIONS.length; v++) {
        if (applied.has(v)) continue;
        await conn.transaction().execute(async (trx) => {
          for (const statement of MIGRATIONS[v - 1]!(dialect)) await sql.raw(statement).execute(trx);
          await trx.insertInto('cairn_migrations').values({ version: v, applied_at: Date.now() }).execute();
        });
      }
    } finally {
      if (dialect === 'postgres') await sql`select pg_advisory_unlock(4242001)`.execute(conn);
    }
  });
}
