'use strict';
/**
 * The scale-out profile of `npm run bench`: two Cairn replicas sharing S3 (a throwaway Ceph RGW, as
 * in the tests), PostgreSQL and Redis, measured in the same run against CNCF Distribution 2.8 with its
 * own S3 driver on the same RGW (its own bucket, token auth when the benchmark has it, redirects off so
 * that both serve the bytes themselves), and against the S3 server's raw throughput (the minio client
 * putting and getting the same 1 GiB object directly). Distribution and Cairn alternate, the order
 * swapped each run.
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
const { request, setDefaultHeaders } = require('./http');

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

/** Distribution 2.8 on the RGW with its S3 driver, as its documentation configures it. */
async function startDistributionOnS3({ rgw, tmp, start, distAuth, tokens, log }) {
  const port = await freePort();
  const config = path.join(tmp, 'distribution-s3.yml');
  await fs.promises.writeFile(
    config,
    [
      'version: 0.1',
      'log:\n  level: error\n  accesslog:\n    disabled: true',
      'storage:',
      '  s3:',
      `    accesskey: ${rgw.accessKey}`,
      `    secretkey: ${rgw.secretKey}`,
      '    region: us-east-1',
      `    regionendpoint: ${rgw.endpoint}`,
      '    bucket: bench-distribution',
      '    secure: false',
      '    v4auth: true',
      '  delete:\n    enabled: true',
      '  redirect:\n    disable: true',
      `http:\n  addr: 127.0.0.1:${port}`,
      distAuth,
    ].join('\n'),
  );
  // Its AWS SDK refuses to start when AWS_CA_BUNDLE is set (as it is on these machines): ../shared/backends.md.
  const proc = start('distribution-s3', 'env', ['-u', 'AWS_CA_BUNDLE', 'docker-registry', 'serve', config]);
  const base = `http://127.0.0.1:${port}`;
  await waitUp(base, 60000);
  if (tokens) {
    const scope = encodeURIComponent('repository:bench/dist-s3:pull,push');
    const { token } = await (await fetch(`${tokens.realm}?service=bench-distribution&scope=${scope}`)).json();
    setDefaultHeaders(base, { Authorization: `Bearer ${token}` });
  }
  const probe = await request(base, 'GET', '/v2/');
  if (probe.status !== 200) throw new Error(`Distribution on S3 answered ${probe.status} on /v2/`);
  log(`  Distribution 2.8 with its S3 driver on the same RGW at ${base}`);
  return { proc, base };
}

async function measureScaleOut({ file, runs, tmp, log, start, root, distAuth = '', tokens }) {
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
    // Distribution's S3 driver expects its bucket to exist.
    await client.makeBucket('bench-distribution', 'us-east-1');
    const dist = await startDistributionOnS3({ rgw, tmp, start, distAuth, tokens, log });
    procs.push(dist.proc);
    const r = {
      rawPut: [],
      rawGet: [],
      push: [],
      chunkedOne: [],
      chunked: [],
      commit: [],
      pull: [],
      distPush: [],
      distChunked: [],
      distPull: [],
    };
    const mibs = (secs) => BLOB / MiB / secs;
    for (let i = 0; i < runs; i++) {
      r.rawPut.push(mibs(await rawPut(client, 'bench-raw', `raw-${i}`, file)));
      r.rawGet.push(mibs(await rawGet(client, 'bench-raw', `raw-${i}`)));
      // Each blob is new to both registries (its last bytes differ from every other run's).
      const [dm, cm, dc, cc] = [0, 1, 2, 3].map((k) => 100 + i * 10 + k);
      const both = async (distributionSide, cairnSide) => {
        const pair = [distributionSide, cairnSide];
        for (const f of i % 2 === 0 ? pair : pair.reverse()) await f();
      };
      let dmd;
      let cmd;
      await both(
        async () =>
          r.distPush.push(mibs(await pushMonolithic(dist.base, 'bench/dist-s3', file, (dmd = await vary(file, dm))))),
        async () =>
          r.push.push(mibs(await pushMonolithic(bases[0], 'bench/scale', file, (cmd = await vary(file, cm))))),
      );
      await both(
        async () =>
          r.distChunked.push(mibs((await pushChunked(dist.base, 'bench/dist-s3', file, await vary(file, dc))).seconds)),
        async () =>
          r.chunkedOne.push(mibs((await pushChunked(bases[0], 'bench/scale', file, await vary(file, cc))).seconds)),
      );
      await both(
        async () => r.distPull.push(mibs(await pull(dist.base, 'bench/dist-s3', dmd))),
        async () => r.pull.push(mibs(await pull(bases[1], 'bench/scale', cmd))),
      );
      // The worst case, informational: every request on the other replica than the one before.
      const c = await pushChunked(bases, 'bench/scale', file, await vary(file, 100 + i * 10 + 4));
      r.chunked.push(mibs(c.seconds));
      r.commit.push(c.commitSeconds);
      log(
        `  scale-out run ${i + 1}: raw S3 put ${r.rawPut[i].toFixed(0)} / get ${r.rawGet[i].toFixed(0)} MiB/s; ` +
          `monolithic push Distribution ${r.distPush[i].toFixed(0)} / Cairn ${r.push[i].toFixed(0)}; ` +
          `chunked Distribution ${r.distChunked[i].toFixed(0)} / Cairn ${r.chunkedOne[i].toFixed(0)} ` +
          `(across replicas ${r.chunked[i].toFixed(0)}, commit ${c.commitSeconds.toFixed(1)} s); ` +
          `pull Distribution ${r.distPull[i].toFixed(0)} / Cairn ${r.pull[i].toFixed(0)} MiB/s`,
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
      chunkedOneMiBs: median(r.chunkedOne),
      chunkedMiBs: median(r.chunked),
      distPushMiBs: median(r.distPush),
      distChunkedMiBs: median(r.distChunked),
      distPullMiBs: median(r.distPull),
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
