import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PROFILES, profileName, startTestRegistry, type TestRegistry } from '../helpers/server';
import { errorCode, random } from './http-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(PROFILES.slice(0, 2).map((p) => [profileName(p), p] as const))(
  'idle uploads expire (%s)',
  (_n, profile) => {
    let reg: TestRegistry;
    beforeAll(async () => {
      reg = await startTestRegistry(profile, { uploads: { idleTimeoutSeconds: 2, janitorIntervalSeconds: 1 } });
    });
    afterAll(async () => reg.close());

    it('forgets an idle upload and removes its staged bytes, but keeps an active one', async () => {
      const open = async () => {
        const r = await fetch(`${reg.url}/v2/expiry/test/blobs/uploads/`, { method: 'POST' });
        expect(r.status).toBe(202);
        return new URL(r.headers.get('location')!, reg.url);
      };
      const idle = await open();
      const active = await open();
      expect(
        (await fetch(idle, { method: 'PATCH', body: random(1000), headers: { 'Content-Range': '0-999' } })).status,
      ).toBe(202);
      let offset = 0;
      for (let i = 0; i < 10; i++) {
        const r = await fetch(active, {
          method: 'PATCH',
          body: random(10),
          headers: { 'Content-Range': `${offset}-${offset + 9}` },
        });
        expect(r.status).toBe(202);
        offset += 10;
        await sleep(500);
      }
      const gone = await fetch(idle);
      expect(gone.status).toBe(404);
      expect(await errorCode(gone)).toBe('BLOB_UPLOAD_UNKNOWN');
      const alive = await fetch(active);
      expect(alive.status).toBe(204);
      expect(alive.headers.get('range')).toBe(`0-${offset - 1}`);
      const staged = await readdir(path.join(reg.dataDir, 'blobs', '_staging'));
      expect(staged).toEqual([active.pathname.split('/').pop()]);
    });
  },
);
