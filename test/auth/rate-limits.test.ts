import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestRegistry } from '../helpers/server';
import { createRedisPrefix, serviceAvailable } from '../helpers/services';
import { addUser, bearer, startAuthRegistry, token, tokenResponse } from '../helpers/auth';

const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');

describe('rate limits', () => {
  let reg: TestRegistry;
  afterEach(async () => reg?.close());

  it('answers 429 TOOMANYREQUESTS with Retry-After once an address has used its burst, and counts it', async () => {
    reg = await startAuthRegistry(undefined, {}, { rateLimits: { perAddress: { perSecond: 0.5, burst: 3 } } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${reg.url}/v2/`)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const r = await fetch(`${reg.url}/v2/`);
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await r.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('TOOMANYREQUESTS');
    const metrics = await (await fetch(`${reg.url}/metrics`)).text();
    expect(metrics).toMatch(/cairn_rate_limited_total\{limit="address"\} [2-9]/);
  });

  it('limits each identity on its own', async () => {
    reg = await startAuthRegistry(undefined, {}, { rateLimits: { perIdentity: { perSecond: 0.5, burst: 2 } } });
    await addUser(reg, 'ann', 'ann-password-1234', [], [['reader', 'ml/']]);
    await addUser(reg, 'bob', 'bob-password-1234', [], [['reader', 'ml/']]);
    const ta = await token(reg.url, 'ann', 'ann-password-1234', ['repository:ml/x:pull']);
    const tb = await token(reg.url, 'bob', 'bob-password-1234', ['repository:ml/x:pull']);
    const get = async (t: string) => (await fetch(`${reg.url}/v2/ml/x/tags/list`, { headers: bearer(t) })).status;
    expect([await get(ta), await get(ta), await get(ta)]).toEqual([404, 404, 429]);
    expect(await get(tb)).toBe(404);
  });

  it('slows and then refuses repeated failed logins from one address, even with the right password', async () => {
    reg = await startAuthRegistry(undefined, {}, { rateLimits: { loginFailures: { perSecond: 0.01, burst: 3 } } });
    await addUser(reg, 'eve', 'eve-password-1234');
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) expect((await tokenResponse(reg.url, 'eve', 'guess', [])).status).toBe(401);
    // Each failure costs the caller time.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    const blocked = await tokenResponse(reg.url, 'eve', 'eve-password-1234', []);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
  });

  it('shares a Redis-backed limit between two server processes', async () => {
    if (!(await serviceAvailable('redis'))) throw new Error('Redis is required for this test (127.0.0.1:6379)');
    const redis = createRedisPrefix();
    const dirs: string[] = [];
    const children: ChildProcess[] = [];
    try {
      const urls: string[] = [];
      for (let i = 0; i < 2; i++) {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-rl-'));
        dirs.push(dir);
        const child = spawn(process.execPath, [bin, 'serve'], {
          env: {
            ...process.env,
            CAIRN_LISTEN: '127.0.0.1:0',
            CAIRN_DATA_DIR: dir,
            CAIRN_LOG_LEVEL: 'info',
            CAIRN_RATE_LIMITS: redis.url,
            CAIRN_RATE_ADDRESS_PER_SECOND: '0.01',
            CAIRN_RATE_ADDRESS_BURST: '5',
          },
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        children.push(child);
        urls.push(
          await new Promise<string>((resolve, reject) => {
            let out = '';
            child.stdout!.on('data', (d: Buffer) => {
              out += d.toString();
              const line = out.split('\n').find((l) => l.includes('cairn registry listening'));
              if (line) resolve(JSON.parse(line).url);
            });
            child.once('exit', (code) => reject(new Error(`exited ${code}`)));
          }),
        );
      }
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await fetch(`${urls[i % 2]}/v2/`)).status);
      // One bucket of 5 for this address across both processes (with memory limits it would be 5 each).
      expect(statuses.filter((s) => s !== 429)).toHaveLength(5);
      expect(statuses.slice(5)).toEqual([429, 429, 429, 429, 429]);
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await redis.cleanup();
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  });
});
