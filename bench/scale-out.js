'use strict';
/**
 * The scale-out profile of `npm run bench`: two Cairn replicas sharing S3 (a throwaway Ceph RGW, as
 * in the tests), PostgreSQL and Redis, measured against the S3 server's own raw throughput in the
 * same run (the minio client putting and getting the same 1 GiB object directly).
 */
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');
const Minio = require('minio');
const {
  authenticate,
  MiB,
  BLOB,
  median,
  seconds,
  freePort,
  waitUp,
  vary,
  pushMonolithic,
  pushChunked,
  pull,
  pushSmallImage,
  wrk,
  concurrentPushes,
} = require('./transfers');

const BUILD = path.join(__dirname, '..', '.bench', 'build', 'test', 'helpers');

async function rawPut(client, bucket, key, file) {
  const t = process.hrtime.bigint();
  await client.putObject(bucket, key, fs.createReadStream(file, { highWaterMark: 4 * MiB }), BLOB);
  return seconds(t);
}

/** A GET hashed on arrival, as the registry pull is, so both sides pay the same client cost. */
async function rawGet(client, bucket, key) {
  const t = process.hrtime.bigint();
  const h = createHash('sha256');
  let n = 0;
  for await (const c of await client.getObject(bucket, key)) {
    n += c.length;
    h.update(c);
  }
  if (n !== BLOB) throw new Error(`raw GET returned ${n} bytes`);
  return seconds(t);
}

async function measureScaleOut({ file, runs, tmp, log, start, root }) {
  const { startRgw } = require(path.join(BUILD, 'rgw.js'));
  const { createTestDatabase, createRedisPrefix } = require(path.join(BUILD, 'services.js'));
  log('starting a one-node Ceph RGW, a PostgreSQL database and a Redis prefix');
  const rgw = await startRgw();
  const db = await createTestDatabase();
  const redis = createRedisPrefix();
  const procs = [];
  try {
    const endpoint = new URL(rgw.endpoint);
    const client = new Minio.Client({
      endPoint: endpoint.hostname,
      port: Number(endpoint.port),
      useSSL: false,
      accessKey: rgw.accessKey,
      secretKey: rgw.secretKey,
      pathStyle: true,
      region: 'us-east-1',
    });
    await client.makeBucket('bench-raw', 'us-east-1');

    const env = {
      CAIRN_STORAGE: `s3://bench-cairn?endpoint=${encodeURIComponent(rgw.endpoint)}`,
      CAIRN_DATABASE: db.url,
      CAIRN_SESSIONS: redis.url,
      AWS_ACCESS_KEY_ID: rgw.accessKey,
      AWS_SECRET_ACCESS_KEY: rgw.secretKey,
      CAIRN_LOG_LEVEL: 'warn',
      CAIRN_TOKEN_TTL: '3600',
      // Both replicas draw from one set of rate-limit buckets, as in production.
      CAIRN_RATE_LIMITS: redis.url,
    };
    const bases = [];
    for (const name of ['a', 'b']) {
      const port = await freePort();
      procs.push(
        start(
          `cairn-${name}`,
          process.execPath,
          [path.join(root, 'bin', 'cairn.js'), 'serve', '--config', path.join(tmp, 'cairn-bench.yaml')],
          { ...env, CAIRN_LISTEN: `127.0.0.1:${port}`, CAIRN_DATA_DIR: path.join(tmp, `replica-${name}`) },
        ),
      );
      bases.push(`http://127.0.0.1:${port}`);
      // One at a time: the first applies the catalog migrations, the second finds them done.
      await waitUp(bases.at(-1), 60000);
    }

    // The first replica created the bootstrap admin (one database), so its data directory has the password.
    await authenticate(bases, path.join(tmp, 'replica-a'), [
      'bench/scale',
      ...Array.from({ length: 20 }, (_, i) => `bench/scale-c${i}`),
    ]);
    const r = { rawPut: [], rawGet: [], push: [], chunked: [], commit: [], pull: [] };
    for (let i = 0; i < runs; i++) {
      r.rawPut.push(BLOB / MiB / (await rawPut(client, 'bench-raw', `raw-${i}`, file)));
      r.rawGet.push(BLOB / MiB / (await rawGet(client, 'bench-raw', `raw-${i}`)));
      const d1 = await vary(file, 100 + i * 2);
      r.push.push(BLOB / MiB / (await pushMonolithic(bases[0], 'bench/scale', file, d1)));
      const d2 = await vary(file, 101 + i * 2);
      const c = await pushChunked(bases, 'bench/scale', file, d2);
      r.chunked.push(BLOB / MiB / c.seconds);
      r.commit.push(c.commitSeconds);
      r.pull.push(BLOB / MiB / (await pull(bases[1], 'bench/scale', d2)));
      log(
        `  scale-out run ${i + 1}: raw S3 put ${r.rawPut[i].toFixed(0)} / get ${r.rawGet[i].toFixed(0)} MiB/s; Cairn push ${r.push[i].toFixed(0)}, chunked across replicas ${r.chunked[i].toFixed(0)} (commit ${c.commitSeconds.toFixed(1)} s), pull ${r.pull[i].toFixed(0)} MiB/s`,
      );
    }
    await pushSmallImage(bases[0], 'bench/scale');
    const rps = wrk(`${bases[1]}/v2/bench/scale/manifests/latest`);
    log(`  scale-out manifest GET (one replica, catalog in PostgreSQL): ${rps.toFixed(0)} req/s`);
    const conc = await concurrentPushes(bases, 'bench/scale-c', tmp);
    log(`  scale-out 20 concurrent 50 MiB pushes over both replicas: ${conc.toFixed(0)} MiB/s`);
    return {
      rawPutMiBs: median(r.rawPut),
      rawGetMiBs: median(r.rawGet),
      pushMiBs: median(r.push),
      chunkedMiBs: median(r.chunked),
      commitSeconds: median(r.commit),
      pullMiBs: median(r.pull),
      manifestRps: rps,
      concurrentMiBs: conc,
      runs: r,
    };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null ? new Promise((res) => p.once('exit', res)) : undefined)));
    await Promise.allSettled([rgw.stop(), db.drop(), redis.cleanup()]);
  }
}

module.exports = { measureScaleOut };
