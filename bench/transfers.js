'use strict';
// The transfers every benchmark profile measures: 1 GiB pushes (monolithic and chunked) and pulls,
// bodies streamed from a file, every byte checked on the way back.
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const path = require('node:path');
const { execFile, execFileSync } = require('node:child_process');
const { promisify } = require('node:util');
const net = require('node:net');
const { createHash, randomBytes } = require('node:crypto');
const { request, setDefaultHeaders, defaultHeaders } = require('./http');

const execFileAsync = promisify(execFile);

const MiB = 1024 * 1024;
const BLOB = 1024 * MiB;
const CHUNK = 16 * MiB;

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system) the process has used so far, from /proc. */
function cpuSeconds(pid) {
  // The command name (field 2) may hold spaces: count the fields after its closing parenthesis.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}
const seconds = (t) => Number(process.hrtime.bigint() - t) / 1e9;
const location = (r) => r.headers.location;
const withDigest = (loc, d) => `${loc}${loc.includes('?') ? '&' : '?'}digest=${d}`;

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitUp(url, ms = 30000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const r = await request(url, 'GET', '/v2/');
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

async function hashFile(file) {
  const h = createHash('sha256');
  for await (const c of fs.createReadStream(file, { highWaterMark: 4 * MiB })) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

/** Makes the test blob different for each run (so no run is a deduplicated re-push) and returns its digest. */
async function vary(file, run) {
  const fh = await fsp.open(file, 'r+');
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(Date.now() * 1000 + run));
  await fh.write(b, 0, 8, BLOB - 8);
  await fh.close();
  return hashFile(file);
}

async function generate(file) {
  const out = fs.createWriteStream(file);
  for (let i = 0; i < BLOB / MiB; i++) {
    if (!out.write(randomBytes(MiB))) await new Promise((r) => out.once('drain', r));
  }
  out.end();
  await new Promise((r) => out.once('finish', r));
}

async function pushMonolithic(base, repo, file, digest) {
  const t = process.hrtime.bigint();
  const open = await request(base, 'POST', `/v2/${repo}/blobs/uploads/`);
  if (open.status !== 202) throw new Error(`POST ${open.status}`);
  const r = await request(
    base,
    'PUT',
    withDigest(location(open), digest),
    { 'Content-Type': 'application/octet-stream', 'Content-Length': BLOB },
    fs.createReadStream(file, { highWaterMark: 4 * MiB }),
  );
  if (r.status !== 201) throw new Error(`PUT ${r.status} ${r.body}`);
  return seconds(t);
}

/**
 * A chunked push in 16 MiB PATCHes; with several base URLs the requests alternate between them, as
 * behind a load balancer. Returns the total seconds and the closing PUT's share (the commit).
 */
async function pushChunked(bases, repo, file, digest) {
  const at = (i) => (Array.isArray(bases) ? bases[i % bases.length] : bases);
  const t = process.hrtime.bigint();
  let n = 0;
  const open = await request(at(n++), 'POST', `/v2/${repo}/blobs/uploads/`);
  let loc = location(open);
  for (let s = 0; s < BLOB; s += CHUNK) {
    const e = Math.min(s + CHUNK, BLOB) - 1;
    const r = await request(
      at(n++),
      'PATCH',
      loc,
      { 'Content-Type': 'application/octet-stream', 'Content-Length': e - s + 1, 'Content-Range': `${s}-${e}` },
      fs.createReadStream(file, { start: s, end: e, highWaterMark: 4 * MiB }),
    );
    if (r.status !== 202) throw new Error(`PATCH ${r.status} ${r.body}`);
    loc = location(r);
  }
  const c = process.hrtime.bigint();
  const r = await request(at(n), 'PUT', withDigest(loc, digest), { 'Content-Length': 0 });
  if (r.status !== 201) throw new Error(`PUT ${r.status} ${r.body}`);
  return { seconds: seconds(t), commitSeconds: seconds(c) };
}

/**
 * A pull of the 1 GiB blob by a fresh client process (bench/pull-client.js) that hashes what it gets;
 * returns its seconds from request to last byte. Pulled from the harness's own process (its heap holding
 * everything the run did before), both servers measured slower and noisier than from a fresh process in
 * the same hour (docs/performance.md).
 */
async function pull(base, repo, digest) {
  const url = new URL(`/v2/${repo}/blobs/${digest}`, base).href;
  const { stdout } = await execFileAsync(process.execPath, [path.join(__dirname, 'pull-client.js'), url], {
    env: { ...process.env, BENCH_PULL_HEADERS: JSON.stringify(defaultHeaders(base)) },
    encoding: 'utf8',
  });
  const out = JSON.parse(stdout);
  if (out.n !== BLOB || out.d !== digest) throw new Error('pulled bytes do not match');
  return out.s;
}

async function pushSmallImage(base, repo) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const layer = randomBytes(4096);
  const digests = [];
  for (const b of [config, layer]) {
    const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const open = await request(base, 'POST', `/v2/${repo}/blobs/uploads/`);
    const r = await request(base, 'PUT', withDigest(location(open), d), { 'Content-Length': b.length }, b);
    if (r.status !== 201) throw new Error(`blob ${r.status}`);
    digests.push(d);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digests[0], size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digests[1], size: layer.length }],
  });
  const r = await request(
    base,
    'PUT',
    `/v2/${repo}/manifests/latest`,
    { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    manifest,
  );
  if (r.status !== 201) throw new Error(`manifest ${r.status} ${r.body}`);
}

/**
 * Sequential manifest PUTs (each a new manifest under a new tag, the blobs already there): what a push
 * costs beyond its bytes, receipts and audit included. Returns requests a second.
 */
/**
 * n manifest PUTs, each a new manifest under a new tag, `concurrency` at a time; returns req/s and the
 * digest of the last one acknowledged (to time its receipt).
 */
async function manifestPushes(base, repo, n, concurrency = 1, round = 0) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', bench: 'puts' }));
  const d = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const open = await request(base, 'POST', `/v2/${repo}/blobs/uploads/`);
  const b = await request(base, 'PUT', withDigest(location(open), d), { 'Content-Length': config.length }, config);
  if (b.status !== 201) throw new Error(`blob ${b.status}`);
  let next = 0;
  let last;
  const started = process.hrtime.bigint();
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d, size: config.length },
        layers: [],
        annotations: { 'org.example.n': String(i), 'org.example.round': String(round) },
      });
      const r = await request(
        base,
        'PUT',
        `/v2/${repo}/manifests/t${i}`,
        { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        manifest,
      );
      if (r.status !== 201) throw new Error(`manifest ${r.status} ${r.body}`);
      last = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { rps: n / (Number(process.hrtime.bigint() - started) / 1e9), last };
}

/** Seconds from now until the registry's receipt of `digest` is there (receipts are signed in the background). */
async function receiptLag(base, repo, digest) {
  const started = process.hrtime.bigint();
  const r = await request(base, 'GET', `/v2/${repo}/_cairn/receipts/${digest}?wait=60`);
  const found = r.status === 200 && JSON.parse(r.body).manifests.length > 0;
  if (!found) throw new Error(`no receipt of ${repo}@${digest} within 60 s`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function wrk(url) {
  const auth = Object.entries(defaultHeaders(url)).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const out = execFileSync(
    'wrk',
    ['-t1', '-c32', '-d10s', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', ...auth, url],
    { encoding: 'utf8', timeout: 60000 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} errors`);
  return rps;
}

/** 20 pushes of 50 MiB at once, spread over the given base URLs; returns MiB/s. */
async function concurrentPushes(bases, repo, tmp) {
  const at = (i) => (Array.isArray(bases) ? bases[i % bases.length] : bases);
  const size = 50 * MiB;
  const files = [];
  const seed = randomBytes(size);
  for (let i = 0; i < 20; i++) {
    seed.writeUInt32LE(i, 0);
    seed.writeUInt32LE(Date.now() % 1e9, 4);
    const f = path.join(tmp, `c${i}.bin`);
    await fsp.writeFile(f, seed);
    files.push({ f, d: `sha256:${createHash('sha256').update(seed).digest('hex')}` });
  }
  const t = process.hrtime.bigint();
  await Promise.all(
    files.map(async ({ f, d }, i) => {
      const open = await request(at(i), 'POST', `/v2/${repo}${i}/blobs/uploads/`);
      const r = await request(
        at(i + 1),
        'PUT',
        withDigest(location(open), d),
        { 'Content-Length': size },
        fs.createReadStream(f, { highWaterMark: 4 * MiB }),
      );
      if (r.status !== 201) throw new Error(`concurrent PUT ${r.status}`);
    }),
  );
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  await Promise.all(files.map(({ f }) => fsp.rm(f)));
  return (20 * size) / MiB / s;
}

/**
 * Logs in as the bootstrap admin (its password file under the data directory) and makes every later
 * request to `bases` carry a token for `repositories`: the benchmark measures Cairn with its access
 * checks on, as it runs in production.
 */
async function authenticate(bases, dataDir, repositories) {
  const password = (await fsp.readFile(path.join(dataDir, 'admin-password'), 'utf8')).trim();
  const scopes = repositories.map((r) => `scope=${encodeURIComponent(`repository:${r}:pull,push`)}`).join('&');
  const r = await request(bases[0], 'GET', `/token?service=cairn&${scopes}`, {
    Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
  });
  if (r.status !== 200) throw new Error(`token: ${r.status} ${r.body}`);
  const { token } = JSON.parse(r.body.toString());
  for (const b of bases) setDefaultHeaders(b, { Authorization: `Bearer ${token}` });
}

module.exports = {
  cpuSeconds,
  manifestPushes,
  receiptLag,
  authenticate,
  MiB,
  BLOB,
  CHUNK,
  median,
  seconds,
  location,
  withDigest,
  freePort,
  waitUp,
  hashFile,
  vary,
  generate,
  pushMonolithic,
  pushChunked,
  pull,
  pushSmallImage,
  wrk,
  concurrentPushes,
};
