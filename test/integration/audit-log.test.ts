import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/catalog/schema';
import { KyselyCatalog } from '../../src/catalog/kysely-catalog';
import { verifyAuditLog } from '../../src/audit/verify';
import { adoptCatalog } from '../../src/audit/adopt';
import { openCheckpoint } from '../../src/audit/checkpoint';
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/audit/merkle';
import { MerkleTree } from '../../src/audit/merkle-tree';
import { startTestRegistry, type BackendProfile, type TestRegistry } from '../helpers/server';
import { Client, repoName } from '../conformance/client';

const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');
const PROFILES: [string, BackendProfile][] = [
  ['sqlite', { database: 'sqlite', sessions: 'memory' }],
  ['postgres', { database: 'postgres', sessions: 'memory' }],
];

interface Scenario {
  reg: TestRegistry;
  db: Kysely<Database>;
  dialect: 'sqlite' | 'postgres';
  saved: string;
  repo: string;
  digests: { v1: string; v2: string };
  verify(saved?: string): ReturnType<typeof verifyAuditLog>;
}

/** A registry with some history: pushes, a tag moved, a delete; and a checkpoint an auditor kept. */
async function scenario(profile: BackendProfile): Promise<Scenario> {
  const reg = await startTestRegistry(profile, { audit: { checkpointSeconds: 3600 } });
  const c = new Client(reg.url);
  const repo = repoName('audit');
  const v1 = (await c.pushImage(repo, 'v1')).digest;
  const v2 = (await c.pushImage(repo, 'v2')).digest;
  await c.pushImage(repo, 'latest');
  const scratch = await c.pushImage(repo, 'scratch');
  expect((await c.fetch(`/v2/${repo}/manifests/${scratch.digest}`, { method: 'DELETE' })).status).toBe(202);
  await (
    await c.fetch(`/v2/${repo}/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })
  ).arrayBuffer();
  // The receipts of these pushes are signed in the background: the tests below alter the log and the
  // catalog directly, which they may do only once the registry has stopped writing.
  await reg.registry.services.receipts!.settled();
  const saved = (await reg.registry.audit.checkpoint())!;
  const catalog = reg.registry.services.catalog as KyselyCatalog;
  const log = reg.registry.audit;
  return {
    reg,
    db: catalog.db,
    dialect: catalog.kind,
    saved,
    repo,
    digests: { v1, v2 },
    verify: (s = saved) =>
      verifyAuditLog(catalog.db, {
        origin: log.origin,
        publicKey: log.publicKey,
        saved: s,
        blobExists: async (d) => (await reg.registry.services.blobs.stat(d)) !== undefined,
      }),
  };
}

/** What an attacker with database access does first: switch the append-only triggers off. */
async function dropTriggers(s: Scenario): Promise<void> {
  if (s.dialect === 'sqlite') {
    for (const t of [
      'audit_events_no_update',
      'audit_events_no_delete',
      'audit_checkpoints_no_update',
      'audit_checkpoints_no_delete',
    ])
      await sql.raw(`drop trigger ${t}`).execute(s.db);
  } else {
    await sql.raw('alter table audit_events disable trigger user').execute(s.db);
    await sql.raw('alter table audit_checkpoints disable trigger user').execute(s.db);
  }
}

describe.each(PROFILES)('the audit log on %s', (_name, profile) => {
  it('records every change with who, where, what; proves inclusion and consistency; verifies clean', async () => {
    const s = await scenario(profile);
    try {
      const events = await s.reg.registry.audit.search({ repository: s.repo });
      const types = events.map((e) => e.type);
      expect(types.filter((t) => t === 'blob.push').length).toBeGreaterThanOrEqual(2);
      expect(types).toEqual(expect.arrayContaining(['manifest.push', 'manifest.delete', 'pull']));
      const push = events.find((e) => e.type === 'manifest.push' && e.tag === 'v1')!;
      expect(push).toMatchObject({
        repository: s.repo,
        digest: s.digests.v1,
        identity: 'auth-disabled',
        source: expect.stringMatching(/127\.0\.0\.1/),
        requestId: expect.any(String),
        time: expect.any(String),
      });
      expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));

      const report = await s.verify();
      expect(report).toMatchObject({ ok: true, problems: [] });
      expect(report.checkpointsVerified).toBeGreaterThanOrEqual(2);

      // The API: checkpoint, entries, proofs, all checkable with the public key alone.
      const base = s.reg.url;
      const note = await (await fetch(`${base}/audit/checkpoint`)).text();
      const key = (await (await fetch(`${base}/audit/key`)).json()) as { origin: string; publicKey: string };
      const cp = openCheckpoint(note, key.origin, Buffer.from(key.publicKey, 'base64'));
      const entries = (await (await fetch(`${base}/audit/entries?start=0&end=${cp.size}`)).json()) as {
        entries: { index: number; leafHash: string }[];
      };
      expect(entries.entries).toHaveLength(cp.size);
      const i = push.seq;
      const inc = (await (await fetch(`${base}/audit/proof/inclusion?index=${i}&size=${cp.size}`)).json()) as {
        leafHash: string;
        proof: string[];
      };
      expect(
        verifyInclusion(
          Buffer.from(inc.leafHash, 'base64'),
          i,
          cp.size,
          inc.proof.map((p) => Buffer.from(p, 'base64')),
          cp.root,
        ),
      ).toBe(true);
      // More events, a new checkpoint, and a consistency proof between the two.
      await new Client(base).pushImage(s.repo, 'later');
      const later = openCheckpoint(
        (await s.reg.registry.audit.checkpoint())!,
        key.origin,
        Buffer.from(key.publicKey, 'base64'),
      );
      const cons = (await (await fetch(`${base}/audit/proof/consistency?from=${cp.size}&to=${later.size}`)).json()) as {
        proof: string[];
      };
      expect(
        verifyConsistency(
          cp.size,
          later.size,
          cons.proof.map((p) => Buffer.from(p, 'base64')),
          cp.root,
          later.root,
        ),
      ).toBe(true);
      for (const bad of [
        '/audit/proof/inclusion?index=x&size=1',
        `/audit/proof/inclusion?index=5&size=${later.size + 10}`,
        '/audit/proof/consistency?from=9&to=2',
        '/audit/events',
      ]) {
        expect((await fetch(`${base}${bad}`)).status).toBe(400);
      }
    } finally {
      await s.reg.close();
    }
  });

  it('refuses updates and deletes at the database level (triggers)', async () => {
    const s = await scenario(profile);
    try {
      const first = await s.db
        .selectFrom('audit_events')
        .select('seq')
        .orderBy('seq')
        .limit(1)
        .executeTakeFirstOrThrow();
      expect(Number(first.seq)).toBe(0);
      if (s.dialect === 'sqlite') {
        // As an attacker would: another connection to the database file, straight SQL.
        const file = s.reg.config.database.slice('sqlite://'.length);
        const raw = new BetterSqlite3(file, { timeout: 5000 });
        try {
          expect(() => raw.prepare("update audit_events set event = '{}' where seq = 0").run()).toThrow(/append-only/);
          expect(() => raw.prepare('delete from audit_events where seq = 0').run()).toThrow(/append-only/);
          expect(() => raw.prepare('delete from audit_checkpoints').run()).toThrow(/append-only/);
          // REPLACE deletes the conflicting row without firing delete triggers: refused by an insert trigger.
          expect(() =>
            raw
              .prepare(
                "insert or replace into audit_events (seq, event, leaf_hash, created_at) values (0, '{}', x'00', 0)",
              )
              .run(),
          ).toThrow(/append-only/);
          expect(() =>
            raw
              .prepare(
                "replace into audit_checkpoints (size, root_hash, note, created_at) select size, root_hash, 'forged', created_at from audit_checkpoints limit 1",
              )
              .run(),
          ).toThrow(/append-only/);
        } finally {
          raw.close();
        }
      }
      // And through the registry's own connection (once seen not to throw: the realm puzzle, see
      // test/helpers/sqlite-error-realm.ts). Each refusal is a real Error of this realm.
      const attempts = [
        "update audit_events set event = '{}' where seq = 0",
        'delete from audit_events where seq = 0',
        'delete from audit_checkpoints',
        ...(s.dialect === 'sqlite'
          ? ["insert or replace into audit_events (seq, event, leaf_hash, created_at) values (0, '{}', x'00', 0)"]
          : []),
        ...(s.dialect === 'postgres' ? ['truncate audit_events'] : []),
      ];
      for (const attempt of attempts) {
        const outcome = await sql
          .raw(attempt)
          .execute(s.db)
          .then(
            () => 'went through',
            (e: unknown) => e,
          );
        expect(outcome).toBeInstanceOf(Error);
        expect((outcome as Error).message).toMatch(/append-only/);
      }
      const kept = await s.db
        .selectFrom('audit_events')
        .select(['seq', 'event'])
        .orderBy('seq')
        .limit(1)
        .executeTakeFirstOrThrow();
      expect(kept.event).not.toBe('{}');
    } finally {
      await s.reg.close();
    }
  });

  const tampers: [string, (s: Scenario) => Promise<void>, RegExp][] = [
    [
      'an event row edited',
      async (s) => {
        const row = await s.db
          .selectFrom('audit_events')
          .select(['seq', 'event'])
          .where('event', 'like', '%"manifest.push"%')
          .orderBy('seq')
          .limit(1)
          .executeTakeFirstOrThrow();
        await s.db
          .updateTable('audit_events')
          .set({ event: row.event.replace('"identity":"auth-disabled"', '"identity":"user:mallory"') })
          .where('seq', '=', row.seq)
          .execute();
      },
      /leaf hash does not match/,
    ],
    [
      'an event row edited with its hash recomputed',
      async (s) => {
        const row = await s.db
          .selectFrom('audit_events')
          .select(['seq', 'event'])
          .where('event', 'like', '%"manifest.push"%')
          .orderBy('seq')
          .limit(1)
          .executeTakeFirstOrThrow();
        const forged = row.event.replace('"identity":"auth-disabled"', '"identity":"user:mallory"');
        await s.db
          .updateTable('audit_events')
          .set({ event: forged, leaf_hash: leafHash(Buffer.from(forged)) })
          .where('seq', '=', row.seq)
          .execute();
      },
      /no longer hash to its signed root/,
    ],
    [
      'an event row deleted',
      async (s) => void (await s.db.deleteFrom('audit_events').where('seq', '=', 3).execute()),
      /entry 3 is missing/,
    ],
    [
      'two event rows reordered',
      async (s) => {
        const [a, b] = await s.db
          .selectFrom('audit_events')
          .select(['seq', 'event', 'leaf_hash'])
          .where('seq', 'in', [1, 2])
          .orderBy('seq')
          .execute();
        await s.db
          .updateTable('audit_events')
          .set({ event: b!.event, leaf_hash: b!.leaf_hash })
          .where('seq', '=', 1)
          .execute();
        await s.db
          .updateTable('audit_events')
          .set({ event: a!.event, leaf_hash: a!.leaf_hash })
          .where('seq', '=', 2)
          .execute();
      },
      /entry 1 holds the event numbered 2/,
    ],
    [
      'a tag moved directly in the catalog',
      async (s) => {
        const id = (
          await s.db.selectFrom('repositories').select('id').where('name', '=', s.repo).executeTakeFirstOrThrow()
        ).id;
        await s.db
          .updateTable('tags')
          .set({ digest: s.digests.v2 })
          .where('repository_id', '=', id)
          .where('name', '=', 'v1')
          .execute();
      },
      /tag .*:v1 points to .* but the log last set it to .* \(moved outside the registry\)/,
    ],
    [
      'a blob removed from storage without a logged collection',
      async (s) => {
        const e = (await s.reg.registry.audit.search({ repository: s.repo })).find((x) => x.type === 'blob.push')!;
        await s.reg.registry.services.blobs.delete(e.digest!);
      },
      /was stored \(blob.push\) but is missing from storage without a logged collection/,
    ],
    [
      'the log truncated and regrown (a fork) against a saved checkpoint',
      async (s) => {
        const size = Number((await s.db.selectFrom('audit_head').select('size').executeTakeFirstOrThrow()).size);
        await s.db
          .deleteFrom('audit_events')
          .where('seq', '>=', size - 3)
          .execute();
        await s.db.deleteFrom('audit_checkpoints').execute();
        await s.db
          .updateTable('audit_head')
          .set({ size: size - 3 })
          .execute();
        // The registry carries on; new events take the old numbers and a new checkpoint is signed.
        const log = s.reg.registry.audit as unknown as { tree: unknown; lastSigned: number };
        log.tree = new MerkleTree();
        log.lastSigned = -1;
        for (let i = 0; i < 4; i++)
          await s.reg.registry.audit.append({ type: 'login', identity: 'user:mallory', decision: 'allow' });
        await s.reg.registry.audit.checkpoint();
      },
      /not consistent with the saved checkpoint/,
    ],
  ];

  it.each(tampers)('detects %s', async (_what, tamper, message) => {
    const s = await scenario(profile);
    try {
      await dropTriggers(s);
      await tamper(s);
      const report = await s.verify();
      expect(report.ok).toBe(false);
      expect(report.problems.join('\n')).toMatch(message);
    } finally {
      await s.reg.close();
    }
  });

  it('adopts what a catalog held before the log existed (an upgrade), after which verify is clean', async () => {
    const s = await scenario(profile);
    try {
      // A registry from before the audit log: its catalog is full, its log empty.
      await dropTriggers(s);
      await s.db.deleteFrom('audit_checkpoints').execute();
      await s.db.deleteFrom('audit_events').execute();
      await s.db.updateTable('audit_head').set({ size: 0 }).execute();
      const log = s.reg.registry.audit as unknown as { tree: unknown; lastSigned: number };
      log.tree = new MerkleTree();
      log.lastSigned = -1;
      const before = await verifyAuditLog(s.db, {
        origin: s.reg.registry.audit.origin,
        publicKey: s.reg.registry.audit.publicKey,
      });
      expect(before.ok).toBe(false);
      const counts = await adoptCatalog(s.db, s.reg.registry.audit, 'cli:operator');
      expect(counts.manifests).toBeGreaterThanOrEqual(3);
      expect(counts.tags).toBeGreaterThanOrEqual(3);
      expect(counts.blobs).toBeGreaterThan(0);
      await s.reg.registry.audit.checkpoint();
      const after = await verifyAuditLog(s.db, {
        origin: s.reg.registry.audit.origin,
        publicKey: s.reg.registry.audit.publicKey,
      });
      expect(after).toMatchObject({ ok: true, problems: [] });
    } finally {
      await s.reg.close();
    }
  });

  it('cairn audit verify exits 0 on a clean log and 1 with the first inconsistency on a tampered one', async () => {
    const s = await scenario(profile);
    try {
      const savedFile = path.join(s.reg.dataDir, 'saved-checkpoint');
      await writeFile(savedFile, s.saved);
      await s.reg.stop();
      const env = {
        ...process.env,
        CAIRN_DATA_DIR: s.reg.dataDir,
        CAIRN_DATABASE: s.reg.config.database,
        CAIRN_LOG_LEVEL: 'silent',
      };
      const run = (args: string[]) =>
        new Promise<{ code: number; stdout: string }>((resolve) =>
          execFile(process.execPath, [bin, ...args], { env, timeout: 60_000 }, (err, stdout) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
          ),
        );
      const ok = await run(['audit', 'verify', '--checkpoint', savedFile]);
      expect(ok).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/audit log OK: \d+ entries, \d+ checkpoint\(s\) verified, catalog consistent/),
      });
      const proof = await run(['audit', 'prove', `${s.repo}@${s.digests.v1}`]);
      expect(proof.code).toBe(0);
      const proved = JSON.parse(proof.stdout) as { events: { event: { type: string }; proof: string[] }[] };
      expect(proved.events.map((e) => e.event.type)).toEqual(expect.arrayContaining(['manifest.push']));
      // Tamper with the database while no registry runs.
      const again = await s.reg.restart();
      const db = (again.registry.services.catalog as KyselyCatalog).db;
      await dropTriggers({ ...s, db });
      await db.deleteFrom('audit_events').where('seq', '=', 0).execute();
      await again.stop();
      const bad = await run(['audit', 'verify']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/INCONSISTENT .* first: entry 0 is missing/);
    } finally {
      await s.reg.close();
    }
  });
});
