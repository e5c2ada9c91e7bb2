import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushModel } from '../helpers/ml-artifacts';
import { cairn as cairnCli } from '../helpers/cli';

const cairn = (args: string[]) => cairnCli(args, { CAIRN_CONFIG_DIR: os.tmpdir() });

describe("cairn verify --registry-key: the registry's receipt of a push, checked offline", () => {
  let reg: TestRegistry;
  let dir: string;
  beforeAll(async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-rcpt-'));
  });
  afterAll(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('verifies the receipt with the published key and refuses it with another', async () => {
    const m = await pushModel(reg.url, 'rc/m', 'v1');
    expect(m.status).toBe(201);
    const key = path.join(dir, 'registry.pub');
    await writeFile(key, await (await fetch(`${reg.url}/v2/_cairn/receipts/key`)).text());
    const host = reg.url.replace('http://', '');
    const ok = await cairn(['verify', '--registry-key', key, `${host}/rc/m:v1`]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      new RegExp(
        `^Receipt rc/m@${m.digest}: pushed by auth-disabled at \\S+ from \\S+, audit log entry \\d+ of \\d+ \\(inclusion proof verified\\)`,
      ),
    );
    const json = JSON.parse((await cairn(['verify', '--registry-key', key, '-o', 'json', `${host}/rc/m:v1`])).stdout);
    expect(json.receipts[0].receipt).toMatchObject({ repository: 'rc/m', tag: 'v1' });

    const other = path.join(dir, 'other.pub');
    await writeFile(other, generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }));
    const bad = await cairn(['verify', '--registry-key', other, `${host}/rc/m:v1`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/receipt not verified: .*key that is not trusted/);
    expect(bad.stderr).toMatch(/no valid registry receipt/);
  });
});
