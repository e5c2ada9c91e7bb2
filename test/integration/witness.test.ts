import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cairn, cleanEnv, waitFor } from '../helpers/cli-transfer';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushBlob, pushManifest, imageManifest, random } from './http-client';
import { rawPublicKey, signCheckpoint, verifierKey } from '../../src/audit/checkpoint';
import { cosignedAt, formatAddCheckpoint, witnessVerifier } from '../../src/audit/cosignature';

const SQLITE = { database: 'sqlite', sessions: 'memory' } as const;

function keyFile(dir: string, name: string) {
  const k = generateKeyPairSync('ed25519');
  const file = path.join(dir, `${name}.pem`);
  return {
    file,
    key: k.privateKey,
    pub: rawPublicKey(k.publicKey),
    pem: k.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  };
}

describe('regions witness each other: cosigned checkpoints, forks refused', () => {
  let tmp: string;
  let log: TestRegistry;
  let witness: TestRegistry;
  let logKey: ReturnType<typeof keyFile>;
  let witnessKey: ReturnType<typeof keyFile>;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-witness-'));
    logKey = keyFile(tmp, 'region-a');
    witnessKey = keyFile(tmp, 'region-b');
    await writeFile(logKey.file, logKey.pem);
    await writeFile(witnessKey.file, witnessKey.pem);
    witness = await startTestRegistry(SQLITE, {
      audit: { origin: 'region-b', keyFile: witnessKey.file, checkpointSeconds: 1 },
      witness: { logs: [verifierKey('region-a', logKey.pub)] },
    });
    log = await startTestRegistry(SQLITE, {
      audit: {
        origin: 'region-a',
        keyFile: logKey.file,
        checkpointSeconds: 1,
        witnesses: [
          { url: `${witness.url}/witness/add-checkpoint`, verifier: witnessVerifier('region-b', witnessKey.pub) },
        ],
      },
    });
  });
  afterAll(async () => {
    await log?.close();
    await witness?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  async function pushSomething(tag: string): Promise<void> {
    const configBytes = Buffer.from(`{"tag":"${tag}"}`);
    const config = await pushBlob(log.url, 'w/app', configBytes);
    const layer = await pushBlob(log.url, 'w/app', random(1000));
    await pushManifest(
      log.url,
      'w/app',
      tag,
      imageManifest({ digest: config, size: configBytes.length }, [{ digest: layer, size: 1000 }]),
    );
  }
  async function cosignedCheckpoint(after = 0): Promise<string> {
    return waitFor(
      async () => {
        const note = await (await fetch(`${log.url}/audit/checkpoint`)).text();
        const size = Number(note.split('\n')[1]);
        return size > after && cosignedAt(note, 'region-b', witnessKey.pub) !== undefined ? note : undefined;
      },
      20_000,
      'a cosigned checkpoint',
      100,
    );
  }

  it('has the log cosigned by the other region, checkpoint after checkpoint, and cairn audit verify accepts it', async () => {
    const key = (await (await fetch(`${witness.url}/witness/key`)).json()) as { verifierKey: string };
    expect(key.verifierKey).toBe(witnessVerifier('region-b', witnessKey.pub));

    await pushSomething('v1');
    const first = await cosignedCheckpoint();
    const firstSize = Number(first.split('\n')[1]);
    // Another checkpoint: cosigned from the first, with a consistency proof.
    await pushSomething('v2');
    const second = await cosignedCheckpoint(firstSize);
    expect(Number(second.split('\n')[1])).toBeGreaterThan(firstSize);

    const saved = path.join(tmp, 'checkpoint.txt');
    await writeFile(saved, second);
    const config = path.join(tmp, 'log.yaml');
    await writeFile(config, JSON.stringify({ dataDir: log.dataDir, log: { level: 'silent' } }));
    const env = cleanEnv();
    const verifier = verifierKey('region-a', logKey.pub);
    const wkey = witnessVerifier('region-b', witnessKey.pub);
    const ok = await cairn(['audit', 'verify', '-c', config, '--verifier', verifier, '--witness', wkey], env);
    expect(ok.stdout).toMatch(/audit log OK/);
    expect(ok.code).toBe(0);
    const withSaved = await cairn(
      ['audit', 'verify', '-c', config, '--verifier', verifier, '--checkpoint', saved, '--witness', wkey],
      env,
    );
    expect(withSaved.code).toBe(0);
    const stranger = witnessVerifier('region-c', rawPublicKey(generateKeyPairSync('ed25519').publicKey));
    const missing = await cairn(['audit', 'verify', '-c', config, '--verifier', verifier, '--witness', stranger], env);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/no valid cosignature by the witness region-c/);
  });

  it('refuses a fork: a checkpoint by the right key that does not extend what it cosigned is refused and recorded', async () => {
    const current = await cosignedCheckpoint();
    const size = Number(current.split('\n')[1]);
    const post = (body: string) =>
      fetch(`${witness.url}/witness/add-checkpoint`, { method: 'POST', body }).then(async (r) => ({
        status: r.status,
        body: await r.text(),
      }));
    // The same size with another root: two histories under one key.
    const twin = signCheckpoint({ origin: 'region-a', size, root: randomBytes(32) }, 'region-a', logKey.key);
    expect(await post(formatAddCheckpoint({ oldSize: size, proof: [], note: twin }))).toEqual({
      status: 409,
      body: `${size}\n`,
    });
    // A larger tree that does not contain the cosigned one: no proof can hold.
    const grown = signCheckpoint({ origin: 'region-a', size: size + 3, root: randomBytes(32) }, 'region-a', logKey.key);
    const forged = await post(formatAddCheckpoint({ oldSize: size, proof: [randomBytes(32)], note: grown }));
    expect(forged.status).toBe(422);
    const conflicts = (await witness.registry.audit.search({ identity: 'system' })).filter(
      (e) => e.type === 'witness.conflict',
    );
    expect(conflicts.length).toBe(2);
    expect(conflicts[0]!.detail).toMatchObject({ origin: 'region-a', cosignedSize: size });
    // Stale, unsigned, or of a log it does not witness.
    expect((await post(formatAddCheckpoint({ oldSize: 0, proof: [], note: grown }))).status).toBe(409);
    const byStranger = signCheckpoint(
      { origin: 'region-a', size: size + 1, root: randomBytes(32) },
      'region-a',
      generateKeyPairSync('ed25519').privateKey,
    );
    expect((await post(formatAddCheckpoint({ oldSize: size, proof: [], note: byStranger }))).status).toBe(403);
    const other = signCheckpoint({ origin: 'elsewhere', size: 1, root: randomBytes(32) }, 'elsewhere', logKey.key);
    expect((await post(formatAddCheckpoint({ oldSize: 0, proof: [], note: other }))).status).toBe(404);
    expect((await post('garbage')).status).toBe(400);
    // The real log still gets cosigned afterwards.
    await pushSomething('v3');
    await cosignedCheckpoint(size);
  });
});
