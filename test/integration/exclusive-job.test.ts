import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCatalog } from '../../src/catalog';
import type { Catalog } from '../../src/catalog/catalog';
import { LeaseLost, runExclusive, schedulePeriodic, type LeaseStore } from '../../src/catalog/exclusive-job';
import { createTestDatabase } from '../helpers/services';

/**
 * The one primitive behind scrub, gc, signature re-check, retention and the upload janitor: a lease
 * renewed while the work runs. Two catalogs on one database stand for two replicas.
 */
describe.each(['sqlite', 'postgres'] as const)('exclusive jobs across replicas (%s)', (dialect) => {
  let replicas: Catalog[];
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    if (dialect === 'sqlite') {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-lease-'));
      const url = `sqlite://${path.join(dir, 'cairn.db')}`;
      replicas = [createCatalog(url), createCatalog(url)];
      cleanup = () => rm(dir, { recursive: true, force: true });
    } else {
      const db = await createTestDatabase();
      replicas = [createCatalog(db.url), createCatalog(db.url)];
      cleanup = db.drop;
    }
    for (const r of replicas) await r.init();
  });
  afterAll(async () => {
    for (const r of replicas ?? []) await r.close();
    await cleanup?.();
  });

  it('never runs a pass on two replicas at once, even when a pass outlasts the lease many times', async () => {
    const passes: { replica: number; start: number; end: number }[] = [];
    const stops = replicas.map((leases, replica) =>
      schedulePeriodic(leases, {
        name: `long-pass-${dialect}`,
        everyMs: 50,
        // A pass takes four lease times: without renewal the other replica would take over mid-pass.
        leaseMs: 300,
        onError: (err) => {
          throw err;
        },
        pass: async (signal) => {
          const start = Date.now();
          await new Promise((r) => setTimeout(r, 1200));
          // Never a lost lease (only the stop at the end may abort a pass).
          expect(signal.reason).not.toBeInstanceOf(LeaseLost);
          passes.push({ replica, start, end: Date.now() });
        },
      }),
    );
    await new Promise((r) => setTimeout(r, 5000));
    await Promise.all(stops.map((stop) => stop()));
    expect(passes.length).toBeGreaterThanOrEqual(3);
    const sorted = [...passes].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.start).toBeGreaterThanOrEqual(sorted[i - 1]!.end);
  });

  it('says when another holder has the lease, and releases it when done', async () => {
    const name = `one-at-a-time-${dialect}`;
    let inner: Awaited<ReturnType<typeof runExclusive>> | undefined;
    const outer = await runExclusive(replicas[0]!, name, 10_000, async () => {
      inner = await runExclusive(replicas[1]!, name, 10_000, async () => 'ran');
      return 'outer';
    });
    expect(outer).toEqual({ ran: true, value: 'outer' });
    expect(inner).toEqual({ ran: false });
    // Released: the other replica gets it at once, not after ten seconds.
    expect(await runExclusive(replicas[1]!, name, 10_000, async () => 'next')).toEqual({ ran: true, value: 'next' });
  });
});

describe('a job whose lease is lost', () => {
  it('is told through its signal, so that it stops instead of working beside another replica', async () => {
    let renewals = 0;
    // The database answered the first take, then another replica took the lease (a renewal says no).
    const leases: LeaseStore = {
      acquireLease: async () => renewals++ === 0,
      releaseLease: async () => undefined,
    };
    const r = runExclusive(leases, 'lost', 90, async (signal) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      throw signal.reason;
    });
    await expect(r).rejects.toBeInstanceOf(LeaseLost);
  });

  it('is stopped when renewals fail for a whole lease time (database unreachable)', async () => {
    let first = true;
    const leases: LeaseStore = {
      acquireLease: async () => {
        if (first) return !(first = false);
        throw new Error('connection refused');
      },
      releaseLease: async () => undefined,
    };
    const started = Date.now();
    const r = runExclusive(
      leases,
      'unreachable',
      150,
      (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    );
    await expect(r).rejects.toBeInstanceOf(LeaseLost);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });
});
