import type { ChildProcess } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pushModel } from '../helpers/ml-artifacts';
import { serveCairn as serve } from '../helpers/cairn-process';
import { verifyReceipt } from '../../src/signing/receipts';

type Json = Record<string, any>;

/**
 * Receipts are signed after the push is acknowledged, in the background: a registry killed before it
 * signed them owes them still, and the next start issues every one, exactly once, verifiable.
 */
describe('receipts across a crash', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-receipts-crash-'));
  });
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('issues a receipt for every push acknowledged before kill -9, once the registry starts again', async () => {
    // The first process gathers receipts for ten minutes before signing: it dies owing all of them.
    const first = await serve(dir, { CAIRN_AUDIT_RECEIPT_DELAY_MS: '600000' });
    children.push(first.child);
    const pushed: { repo: string; tag: string; digest: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const repo = `crash/m${i % 3}`;
      const tag = `v${i}`;
      const m = await pushModel(first.url, repo, tag);
      expect(m.status).toBe(201);
      pushed.push({ repo, tag, digest: m.digest });
    }
    for (const p of pushed) {
      const none = (await (await fetch(`${first.url}/v2/${p.repo}/_cairn/receipts/${p.digest}`)).json()) as Json;
      expect(none.manifests).toEqual([]);
    }
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = await serve(dir, {});
    children.push(second.child);
    const key = createPublicKey(await (await fetch(`${second.url}/v2/_cairn/receipts/key`)).text());
    const indexes = new Set<number>();
    for (const p of pushed) {
      const list = (await (
        await fetch(`${second.url}/v2/${p.repo}/_cairn/receipts/${p.digest}?wait=30`)
      ).json()) as Json;
      // Exactly one: the restart neither missed nor repeated it.
      expect(list.manifests).toHaveLength(1);
      const manifest = (await (
        await fetch(`${second.url}/v2/${p.repo}/manifests/${list.manifests[0].digest}`)
      ).json()) as Json;
      const bundle = (await (
        await fetch(`${second.url}/v2/${p.repo}/blobs/${manifest.layers[0].digest}`)
      ).json()) as Json;
      const check = verifyReceipt(bundle, p.digest, key);
      expect(check.verified).toBe(true);
      expect(check.receipt).toMatchObject({ repository: p.repo, tag: p.tag, pushedBy: 'auth-disabled' });
      indexes.add(check.receipt!.auditLog.index);
    }
    expect(indexes.size).toBe(pushed.length);

    // A third start owes nothing: the cursor moved past them, and no receipt is issued twice.
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
    const third = await serve(dir, { CAIRN_AUDIT_RECEIPT_DELAY_MS: '0' });
    children.push(third.child);
    await new Promise((r) => setTimeout(r, 1000));
    for (const p of pushed) {
      const list = (await (await fetch(`${third.url}/v2/${p.repo}/_cairn/receipts/${p.digest}`)).json()) as Json;
      expect(list.manifests).toHaveLength(1);
    }
  }, 120_000);
});
