import { randomBytes, createHash } from 'node:crypto';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { send } from '../helpers/big-blobs';

/**
 * No acknowledgement without proof, through HTTP: when the store holds another number of bytes than the
 * registry received and hashed, the push fails with 503 UNAVAILABLE and nothing is linked, stored or
 * recorded; the same push goes through once the store behaves.
 */
describe('a push is acknowledged only when the store proves it holds the bytes received', () => {
  let r: TestRegistry;
  beforeAll(async () => {
    r = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
  });
  afterAll(async () => r?.close());

  it.each(['monolithic', 'chunked'])(
    'fails a %s push whose stored size differs, and leaves nothing visible',
    async (mode) => {
      const data = randomBytes(300_000);
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const blobs = r.registry.services.blobs;
      const original = blobs.stageCommit.bind(blobs);
      // A store that lost the last byte of what it was given: the registry claims what it received.
      blobs.stageCommit = (id, d, size) => original(id, d, size + 1);
      try {
        const open = await send(`${r.url}/v2/proof/${mode}/blobs/uploads/`, 'POST');
        let location = open.headers.location!;
        if (mode === 'chunked') {
          const patch = await send(`${r.url}${location}`, 'PATCH', data, {
            headers: { 'Content-Range': `0-${data.length - 1}` },
          });
          expect(patch.status).toBe(202);
          location = patch.headers.location!;
        }
        const put = await send(`${r.url}${location}?digest=${digest}`, 'PUT', mode === 'monolithic' ? data : undefined);
        expect(put.status).toBe(503);
        const error = JSON.parse(put.body).errors[0];
        expect(error.code).toBe('UNAVAILABLE');
        expect(error.message).toContain('storage did not keep the upload');
        expect((await send(`${r.url}/v2/proof/${mode}/blobs/${digest}`, 'HEAD')).status).toBe(404);
        expect(await blobs.stat(digest)).toBeUndefined();
        // The upload is gone, not left half-committed.
        expect((await send(`${r.url}${location}`, 'GET')).status).toBe(404);
        await r.registry.services.audit.flush();
        expect((await r.registry.services.audit.search({ digest })).filter((e) => e.type === 'blob.push')).toEqual([]);
      } finally {
        blobs.stageCommit = original;
      }
      const open = await send(`${r.url}/v2/proof/${mode}/blobs/uploads/`, 'POST');
      const again = await send(`${r.url}${open.headers.location}?digest=${digest}`, 'PUT', data);
      expect(again.status).toBe(201);
      // The same search finds the push that was acknowledged: the empty result above meant something.
      await r.registry.services.audit.flush();
      expect((await r.registry.services.audit.search({ digest })).filter((e) => e.type === 'blob.push')).toHaveLength(
        1,
      );
    },
  );
});
