'use strict';
/**
 * `npm run bench`: Cairn and the CNCF Distribution registry (Debian `docker-registry`, file-system
 * storage) side by side on loopback, same machine, same run, plus a bare Node server as the ceiling.
 * Prints each figure, Cairn/Distribution ratios and the targets; writes .bench/results.json.
 * Loopback only; every loop is bounded.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { createHash, randomBytes } = require('node:crypto');
const { request, download } = require('./http');

const ROOT = path.join(__dirname, '..');
const MiB = 1024 * 1024;
const BLOB = 1024 * MiB;
const CHUNK = 16 * MiB;
const RUNS = Number(process.env.BENCH_RUNS || 3);
const children = [];
let tmp;

function log(...a) {
  process.stderr.write(`${a.join(' ')}\n`);
}

async function freePort() {
  const net = require('node:net');
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
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

function start(name, cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  child.on('exit', (code) => code && code !== 143 && log(`${name} exited ${code}: ${err}`));
  children.push(child);
  return child;
}

function peakRssMB(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024;
  } catch {
    return NaN;
  }
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

const location = (r) => r.headers.location;
const withDigest = (loc, d) => `${loc}${loc.includes('?') ? '&' : '?'}digest=${d}`;

async function pushMonolithic(base, repo, file, digest) {
  const t = process.hrtime.bigint();
  const open = await request(base, 'POST', `/v2/${repo}/blobs/uploads/`);
  if (open.status !== 202) throw new Error(`POST ${open.status}`);
  const r = await request(base, 'PUT', withDigest(location(open), digest), { 'Content-Type': 'application/octet-stream', 'Content-Length': BLOB }, fs.createReadStream(file, { highWaterMark: 4 * MiB }));
  if (r.status !== 201) throw new Error(`PUT ${r.status} ${r.body}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function pushChunked(base, repo, file, digest) {
  const t = process.hrtime.bigint();
  const open = await request(base, 'POST', `/v2/${repo}/blobs/uploads/`);
  let loc = location(open);
  for (let s = 0; s < BLOB; s += CHUNK) {
    const e = Math.min(s + CHUNK, BLOB) - 1;
    const r = await request(base, 'PATCH', loc, { 'Content-Type': 'application/octet-stream', 'Content-Length': e - s + 1, 'Content-Range': `${s}-${e}` }, fs.createReadStream(file, { start: s, end: e, highWaterMark: 4 * MiB }));
    if (r.status !== 202) throw new Error(`PATCH ${r.status} ${r.body}`);
    loc = location(r);
  }
  const r = await request(base, 'PUT', withDigest(loc, digest), { 'Content-Length': 0 });
  if (r.status !== 201) throw new Error(`PUT ${r.status} ${r.body}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function pull(base, repo, digest) {
  const h = createHash('sha256');
  const t = process.hrtime.bigint();
  const n = await download(base, `/v2/${repo}/blobs/${digest}`, (d) => h.update(d));
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (n !== BLOB || `sha256:${h.digest('hex')}` !== digest) throw new Error('pulled bytes do not match');
  return s;
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
  const r = await request(base, 'PUT', `/v2/${repo}/manifests/latest`, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, manifest);
  if (r.status !== 201) throw new Error(`manifest ${r.status} ${r.body}`);
}

function wrk(url) {
  const out = execFileSync('wrk', ['-t1', '-c32', '-d10s', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', url], { encoding: 'utf8', timeout: 60000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} errors`);
  return rps;
}

async function concurrentPushes(base, repo) {
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
      const open = await request(base, 'POST', `/v2/${repo}${i}/blobs/uploads/`);
      const r = await request(base, 'PUT', withDigest(location(open), d), { 'Content-Length': size }, fs.createReadStream(f, { highWaterMark: 4 * MiB }));
      if (r.status !== 201) throw new Error(`concurrent PUT ${r.status}`);
    }),
  );
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  await Promise.all(files.map(({ f }) => fsp.rm(f)));
  return (20 * size) / MiB / s;
}

async function measure(name, base, pid, file) {
  const repo = `bench/${name}`;
  const r = { mono: [], chunked: [], pull: [] };
  for (let i = 0; i < RUNS; i++) {
    const d1 = await vary(file, i * 2);
    r.mono.push(BLOB / MiB / (await pushMonolithic(base, repo, file, d1)));
    const d2 = await vary(file, i * 2 + 1);
    r.chunked.push(BLOB / MiB / (await pushChunked(base, repo, file, d2)));
    r.pull.push(BLOB / MiB / (await pull(base, repo, d2)));
    log(`  ${name} run ${i + 1}: push ${r.mono[i].toFixed(0)} MiB/s, chunked ${r.chunked[i].toFixed(0)} MiB/s, pull ${r.pull[i].toFixed(0)} MiB/s`);
  }
  await pushSmallImage(base, repo);
  const rps = wrk(`${base}/v2/${repo}/manifests/latest`);
  log(`  ${name} manifest GET: ${rps.toFixed(0)} req/s`);
  const conc = await concurrentPushes(base, `bench/${name}-c`);
  log(`  ${name} 20 concurrent 50 MiB pushes: ${conc.toFixed(0)} MiB/s`);
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { pushMiBs: median(r.mono), chunkedMiBs: median(r.chunked), pullMiBs: median(r.pull), manifestRps: rps, concurrentMiBs: conc, peakRssMB: peakRssMB(pid), runs: r };
}

async function main() {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-'));
  const file = path.join(tmp, 'blob.bin');
  log(`generating a 1 GiB test blob in ${tmp}`);
  await generate(file);

  const [pc, pd, pb] = [await freePort(), await freePort(), await freePort()];
  const cairnData = path.join(tmp, 'cairn');
  const cairn = start('cairn', process.execPath, [path.join(ROOT, 'bin', 'cairn.js'), 'serve'], {
    CAIRN_LISTEN: `127.0.0.1:${pc}`,
    CAIRN_DATA_DIR: cairnData,
    CAIRN_LOG_LEVEL: 'warn',
  });
  const distData = path.join(tmp, 'distribution');
  await fsp.mkdir(distData);
  const config = path.join(tmp, 'distribution.yml');
  await fsp.writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${distData}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${pd}\n`,
  );
  const dist = start('distribution', 'docker-registry', ['serve', config]);
  const bareDir = path.join(tmp, 'bare');
  await fsp.mkdir(bareDir);
  const bare = start('bare', process.execPath, [path.join(__dirname, 'bare-server.js'), String(pb), bareDir]);
  const [cu, du, bu] = [`http://127.0.0.1:${pc}`, `http://127.0.0.1:${pd}`, `http://127.0.0.1:${pb}`];
  await Promise.all([waitUp(cu), waitUp(du), waitUp(bu)]);

  log('bare Node server (hash + write), monolithic 1 GiB:');
  const bareRuns = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    const r = await request(bu, 'PUT', '/upload', { 'Content-Length': BLOB }, fs.createReadStream(file, { highWaterMark: 4 * MiB }));
    if (r.status !== 201) throw new Error('bare server failed');
    bareRuns.push(BLOB / MiB / (Number(process.hrtime.bigint() - t) / 1e9));
  }
  const bareMiBs = bareRuns.sort((a, b) => a - b)[Math.floor(bareRuns.length / 2)];
  log(`  ${bareMiBs.toFixed(0)} MiB/s`);

  log('CNCF Distribution:');
  const d = await measure('distribution', du, dist.pid, file);
  log('Cairn:');
  const c = await measure('cairn', cu, cairn.pid, file);

  const rows = [
    ['monolithic push 1 GiB (MiB/s)', c.pushMiBs, d.pushMiBs, 1.3, 'ratio'],
    ['chunked push 1 GiB, 16 MiB chunks (MiB/s)', c.chunkedMiBs, d.chunkedMiBs, 1.3, 'ratio'],
    ['pull 1 GiB (MiB/s)', c.pullMiBs, d.pullMiBs, 1.0, 'ratio'],
    ['manifest GET by tag, 32 connections (req/s)', c.manifestRps, d.manifestRps, 5.0, 'ratio'],
    ['20 concurrent 50 MiB pushes (MiB/s)', c.concurrentMiBs, d.concurrentMiBs, null, 'ratio'],
    ['server peak RSS (MB)', c.peakRssMB, d.peakRssMB, 300, 'max'],
  ];
  const lines = [];
  lines.push(`| measure | Cairn | Distribution | Cairn / Distribution | target | result |`);
  lines.push(`|---|---:|---:|---:|---|---|`);
  const results = [];
  for (const [name, cv, dv, target, kind] of rows) {
    const ratio = cv / dv;
    let verdict = '';
    let tgt = '';
    if (kind === 'ratio' && target !== null) {
      tgt = `≥ ${target.toFixed(1)}×`;
      verdict = ratio >= target ? 'PASS' : 'FAIL';
    } else if (kind === 'max') {
      tgt = `< ${target} MB`;
      verdict = cv < target ? 'PASS' : 'FAIL';
    }
    results.push({ name, cairn: cv, distribution: dv, ratio, target: tgt, verdict });
    lines.push(`| ${name} | ${cv.toFixed(0)} | ${dv.toFixed(0)} | ${ratio.toFixed(2)}× | ${tgt} | ${verdict} |`);
  }
  lines.push(`| bare Node server, hash + write 1 GiB (MiB/s) — the ceiling | ${bareMiBs.toFixed(0)} | | ${(bareMiBs / d.pushMiBs).toFixed(2)}× | | |`);
  process.stdout.write(`\n${lines.join('\n')}\n\nmedians of ${RUNS} runs; ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`);
  await fsp.mkdir(path.join(ROOT, '.bench'), { recursive: true });
  await fsp.writeFile(
    path.join(ROOT, '.bench', 'results.json'),
    JSON.stringify({ date: new Date().toISOString(), runs: RUNS, bareMiBs, cairn: c, distribution: d, results }, null, 2),
  );
}

async function cleanup() {
  for (const c of children) c.kill('SIGTERM');
  if (tmp) await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
}

process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
main()
  .then(cleanup)
  .catch(async (err) => {
    log(`bench failed: ${err.stack || err}`);
    await cleanup();
    process.exit(1);
  });
