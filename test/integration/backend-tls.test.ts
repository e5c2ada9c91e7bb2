import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { createCatalog } from '../../src/catalog';
import type { KyselyCatalog } from '../../src/catalog/kysely-catalog';
import { RedisRateLimiter } from '../../src/auth/redis-rate-limiter';
import { RedisSessionStore } from '../../src/sessions/redis-session-store';
import { S3BlobStore } from '../../src/storage/s3-blob-store';
import { testS3, uniqueBucket } from '../helpers/s3';
import { IN_CI } from '../helpers/services';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import {
  makeCertificates,
  startTlsPostgres,
  startTlsRedis,
  type Endpoint,
  type TestCertificates,
} from '../helpers/tls-endpoints';

/**
 * In transit to every backend: the registry's connections to PostgreSQL, Redis and S3 over TLS, each
 * checked against a real TLS endpoint the test starts (its own PostgreSQL cluster accepting only
 * `hostssl`, a Redis with only a TLS port, an HTTPS front to the test Ceph RGW), with a private CA
 * the registry is told to trust. Trusting another CA must fail the handshake: verification is on.
 */
describe('TLS to the backends', () => {
  let dir: string;
  let certs: TestCertificates;
  const stops: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-tls-'));
    certs = makeCertificates(path.join(dir, 'certs'));
  });
  afterAll(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('PostgreSQL with sslmode=verify-full', () => {
    let pg: Endpoint;
    beforeAll(async () => {
      pg = await startTlsPostgres(certs);
      stops.push(() => pg.stop());
    }, 60_000);
    const url = (params: string) => `postgres://postgres@127.0.0.1:${pg.port}/postgres?${params}`;

    it('runs the catalog over a verified TLS connection', async () => {
      const catalog = createCatalog(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.caFile)}`));
      try {
        await catalog.init();
        const digest = `sha256:${createHash('sha256').update(randomBytes(8)).digest('hex')}`;
        await catalog.linkBlob('tls/repo', { digest, size: 8 });
        expect(await catalog.getBlobLink('tls/repo', digest)).toEqual({ digest, size: 8 });
        const ssl = await sql<{ ssl: boolean }>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`.execute(
          (catalog as KyselyCatalog).db,
        );
        expect(ssl.rows[0]?.ssl).toBe(true);
      } finally {
        await catalog.close();
      }
    });

    it('refuses a server certificate from a CA it was not told to trust, and a plain connection is refused', async () => {
      const wrongCa = createCatalog(url(`sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.otherCaFile)}`));
      await expect(wrongCa.init()).rejects.toThrow(/certificate/i);
      await wrongCa.close().catch(() => undefined);
      const plain = createCatalog(url('sslmode=disable'));
      await expect(plain.init()).rejects.toThrow(/no pg_hba.conf entry|SSL off|rejects connection/i);
      await plain.close().catch(() => undefined);
    });
  });

  describe('Redis over rediss://', () => {
    let redis: Endpoint;
    beforeAll(async () => {
      redis = await startTlsRedis(path.join(dir, 'redis'), certs);
      stops.push(() => redis.stop());
    }, 30_000);

    it('keeps upload sessions and rate limits over a verified TLS connection', async () => {
      const base = `rediss://127.0.0.1:${redis.port}/0?ca=${encodeURIComponent(certs.caFile)}`;
      const sessions = new RedisSessionStore(`${base}&prefix=tls:`, 60_000);
      const limits = new RedisRateLimiter(`${base}&prefix=tls:`);
      try {
        await sessions.init();
        await limits.init();
        const id = randomUUID();
        await sessions.create({ id, repository: 'tls/repo', owner: 'someone' });
        expect((await sessions.get(id))?.repository).toBe('tls/repo');
        expect((await limits.take('k', { perSecond: 1, burst: 2 })).allowed).toBe(true);
      } finally {
        await sessions.close();
        await limits.close();
      }
    });

    it('fails to connect when the server certificate is from another CA', async () => {
      const sessions = new RedisSessionStore(
        `rediss://127.0.0.1:${redis.port}/0?ca=${encodeURIComponent(certs.otherCaFile)}`,
        60_000,
      );
      await expect(sessions.init()).rejects.toThrow(/certificate/i);
      await sessions.close().catch(() => undefined);
    });

    it('refuses ca= on a plain redis:// URL and a CA file that does not exist, naming them', () => {
      expect(() => new RedisSessionStore(`redis://127.0.0.1:1/0?ca=${certs.caFile}`, 1000)).toThrow(
        /ca= is given, but the connection does not use TLS/,
      );
      expect(() => new RedisRateLimiter(`rediss://127.0.0.1:1/0?ca=/nonexistent/ca.pem`)).toThrow(
        /rate limits \(Redis\): cannot read the CA bundle ca=\/nonexistent\/ca.pem/,
      );
    });
  });

  const s3 = testS3();
  if (!s3 && IN_CI) throw new Error('CI=true but no Ceph RGW: the S3 TLS test must run');
  (s3 ? describe : describe.skip)('S3 over HTTPS with a private CA', () => {
    let front: TcpProxy;
    beforeAll(async () => {
      const tls = { cert: readFileSync(certs.certFile, 'utf8'), key: readFileSync(certs.keyFile, 'utf8') };
      front = await startTcpProxy(s3!.endpoint, { tls });
      stops.push(() => front.close());
    });
    const env = () => ({ AWS_ACCESS_KEY_ID: s3!.accessKey, AWS_SECRET_ACCESS_KEY: s3!.secretKey });
    const endpoint = () => encodeURIComponent(front.url);

    it('writes and reads a blob through the HTTPS endpoint', async () => {
      const store = S3BlobStore.fromUrl(
        `s3://${uniqueBucket()}?endpoint=${endpoint()}&ca=${encodeURIComponent(certs.caFile)}`,
        env(),
      );
      await store.init();
      const bytes = randomBytes(100_000);
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      const pending = await store.writeBlob(digest, Readable.from([bytes]), () => undefined);
      await pending.publish();
      const back: Buffer[] = [];
      for await (const c of await store.read(digest)) back.push(c as Buffer);
      expect(Buffer.concat(back).equals(bytes)).toBe(true);
    });

    it('refuses the endpoint when its certificate is from another CA, and ca= with an http endpoint', async () => {
      const store = S3BlobStore.fromUrl(
        `s3://${uniqueBucket()}?endpoint=${endpoint()}&ca=${encodeURIComponent(certs.otherCaFile)}`,
        env(),
      );
      await expect(store.init()).rejects.toThrow(/certificate/i);
      expect(() =>
        S3BlobStore.fromUrl(`s3://b?endpoint=${encodeURIComponent(s3!.endpoint)}&ca=${certs.caFile}`, env()),
      ).toThrow(/storage \(S3\): ca= is given, but the connection does not use TLS/);
    });
  });
});
