import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startRegistry } from '../../src/app';
import { rawPublicKey, verifierKey } from '../../src/audit/checkpoint';
import { rotationEvent } from '../../src/audit/key-rotation';
import { keyHistory } from '../../src/keys/key-history';
import { keyObjectSigner } from '../../src/keys/signer';
import { cairn } from '../helpers/cli';
import { pushModel } from '../helpers/ml-artifacts';
import { startTestRegistry, type TestRegistry } from '../helpers/server';

describe('rotating the checkpoint and receipt key', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' }, { audit: { checkpointSeconds: 1 } });
  });
  afterAll(() => reg.close());

  it('is an event signed by both keys; checkpoints before and after verify, and only the current key signs', async () => {
    expect((await pushModel(reg.url, 'rot/m', 'v1')).status).toBe(201);
    const oldPem = path.join(reg.dataDir, 'old.pub');
    await writeFile(oldPem, await (await fetch(`${reg.url}/v2/_cairn/receipts/key`)).text());
    const oldVerifier = ((await (await fetch(`${reg.url}/audit/key`)).json()) as { verifierKey: string }).verifierKey;
    await reg.stop();
    const env = { CAIRN_DATA_DIR: reg.dataDir, CAIRN_LOG_LEVEL: 'silent' };
    const newKey = path.join(reg.dataDir, 'audit-key-2.pem');
    const rotated = await cairn(['audit', 'rotate-key', '--to', newKey], env);
    expect(rotated.code).toBe(0);
    const { previous, next, seq } = JSON.parse(rotated.stdout.split('\n')[0]!) as {
      previous: string;
      next: string;
      seq: number;
    };
    expect(previous).toBe(oldVerifier);
    expect(next).not.toBe(oldVerifier);

    // A replica still on the old key serves, but signs nothing new.
    const stale = await startRegistry(reg.config);
    expect((await pushModel(stale.url, 'rot/m', 'v2')).status).toBe(201);
    await stale.audit.flush();
    expect(await stale.audit.signsNow()).toBe(false);
    expect(await stale.audit.checkpoint()).toBeUndefined();
    const history = (await (await fetch(`${stale.url}/audit/keys`)).json()) as {
      rotations: { seq: number; next: string }[];
    };
    expect(history.rotations).toEqual([expect.objectContaining({ seq, next })]);
    await stale.close();

    // On the new key it signs again; the whole log verifies from either key of the history.
    const current = await startRegistry({ ...reg.config, audit: { ...reg.config.audit, keyFile: newKey } });
    expect((await pushModel(current.url, 'rot/m', 'v3')).status).toBe(201);
    expect(await current.audit.checkpoint()).toMatch(/^cairn\n/);
    // Receipts: pinned to the old key, one signed by the new key verifies through the history, and the
    // other way round (v2's receipt, owed while only a stale replica ran, is signed by the new key too).
    const newPem = path.join(reg.dataDir, 'new.pub');
    await writeFile(newPem, await (await fetch(`${current.url}/v2/_cairn/receipts/key`)).text());
    const host = current.url.replace('http://', '');
    const verify = async (pem: string, tag: string) => {
      let r = await cairn(['verify', '--registry-key', pem, `${host}/rot/m:${tag}`]);
      for (let i = 0; i < 40 && r.code !== 0; i++) {
        await new Promise((res) => setTimeout(res, 250));
        r = await cairn(['verify', '--registry-key', pem, `${host}/rot/m:${tag}`]);
      }
      return r;
    };
    for (const [pem, tag] of [
      [oldPem, 'v3'],
      [oldPem, 'v2'],
      [newPem, 'v1'],
    ] as const) {
      const r = await verify(pem, tag);
      expect({ pem: path.basename(pem), tag, out: r.stdout.slice(0, 40), code: r.code }).toEqual({
        pem: path.basename(pem),
        tag,
        out: expect.stringMatching(/^Receipt rot\/m@/),
        code: 0,
      });
    }
    await current.close();
    for (const verifier of [oldVerifier, next]) {
      const verified = await cairn(['audit', 'verify', '--verifier', verifier], env);
      expect(verified.stdout).toMatch(/^audit log OK: \d+ entries, [2-9]\d* checkpoint\(s\) verified/);
      expect(verified.code).toBe(0);
    }
    const stranger = verifierKey('cairn', rawPublicKey(generateKeyPairSync('ed25519').publicKey));
    const refused = await cairn(['audit', 'verify', '--verifier', stranger], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/not in this log's key history/);
    reg = await reg.restart();
  });

  it('refuses a rotation that the previous key did not sign', () => {
    const a = keyObjectSigner(generateKeyPairSync('ed25519').privateKey);
    const b = keyObjectSigner(generateKeyPairSync('ed25519').privateKey);
    const c = keyObjectSigner(generateKeyPairSync('ed25519').privateKey);
    const good = { seq: 10, ...rotationEvent('o', a, b, 10, 'x') };
    expect(keyHistory([good], 'ignored').problems).toEqual([]);
    // Someone holding only key c claims the hand-over from a: a's signature is not there.
    const forged = { seq: 20, ...rotationEvent('o', c, c, 20, 'x') };
    (forged.detail as Record<string, unknown>).previous = (good.detail as Record<string, string>).next;
    const h = keyHistory([good, forged], 'ignored');
    expect(h.problems.join('\n')).toMatch(
      /entry 20: its statement does not name its keys|entry 20: not signed by the previous key/,
    );
  });
});
