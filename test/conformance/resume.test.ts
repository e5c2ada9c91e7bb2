import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { Client, expectError, random, sha256 } from './client';

describe.each([
  ['postgres+redis', { database: 'postgres', sessions: 'redis' }],
  ['sqlite+redis', { database: 'sqlite', sessions: 'redis' }],
] as const)('uploads survive a restart with Redis sessions (%s)', (_name, profile) => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry(profile);
  });
  afterAll(async () => reg.close());

  it('continues an upload begun before the restart, at the offset the server reports', async () => {
    const data = random(3 * 1024 * 1024 + 17);
    let c = new Client(reg.url);
    const location = await c.startUpload('resume/model');
    const half = data.subarray(0, 2 * 1024 * 1024);
    expect(
      (await c.fetch(location, { method: 'PATCH', body: half, headers: { 'Content-Range': `0-${half.length - 1}` } }))
        .status,
    ).toBe(202);
    reg = await reg.restart();
    c = new Client(reg.url);
    const status = await c.fetch(location);
    expect(status.status).toBe(204);
    const range = status.headers.get('range')!;
    const offset = Number(range.split('-')[1]) + 1;
    expect(offset).toBe(half.length);
    const rest = data.subarray(offset);
    // The hash state was lost with the process: the server rebuilds it from the staged bytes.
    const p = await c.fetch(location, {
      method: 'PATCH',
      body: rest,
      headers: { 'Content-Range': `${offset}-${data.length - 1}` },
    });
    expect(p.status).toBe(202);
    const put = await c.fetch(`${location}?digest=${sha256(data)}`, { method: 'PUT' });
    expect(put.status).toBe(201);
    const g = await c.fetch(`/v2/resume/model/blobs/${sha256(data)}`);
    expect(g.headers.get('docker-content-digest')).toBe(sha256(data));
    expect(Buffer.from(await g.arrayBuffer()).equals(data)).toBe(true);
  });

  it('still refuses a wrong digest after a restart', async () => {
    let c = new Client(reg.url);
    const location = await c.startUpload('resume/model');
    const data = random(1000);
    await c.fetch(location, { method: 'PATCH', body: data, headers: { 'Content-Range': '0-999' } });
    reg = await reg.restart();
    c = new Client(reg.url);
    await expectError(
      await c.fetch(`${location}?digest=${sha256(random(1000))}`, { method: 'PUT' }),
      400,
      'DIGEST_INVALID',
    );
  });
});

describe('uploads with memory sessions do not survive a restart, and say so', () => {
  it('answers BLOB_UPLOAD_UNKNOWN, and the janitor removes the orphaned bytes', async () => {
    let reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { uploads: { idleTimeoutSeconds: 1, janitorIntervalSeconds: 1 } },
    );
    try {
      let c = new Client(reg.url);
      const location = await c.startUpload('resume/mem');
      await c.fetch(location, { method: 'PATCH', body: random(100), headers: { 'Content-Range': '0-99' } });
      reg = await reg.restart();
      c = new Client(reg.url);
      await expectError(await c.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
      await new Promise((r) => setTimeout(r, 2500));
      const staged = [];
      for await (const s of reg.registry.services.blobs.stageList()) staged.push(s);
      expect(staged).toEqual([]);
    } finally {
      await reg.close();
    }
  });
});
