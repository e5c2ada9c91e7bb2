'use strict';
/**
 * The search profile of `npm run bench` (BENCH_SEARCH=off skips it), or alone after `npm run build`:
 * `node bench/search.js [sqlite] [postgres]` (both by default; figures also in .bench/search.json).
 *
 * GET /v2/_cairn/search over 100,000 artifacts, on SQLite and on PostgreSQL, each beside a baseline
 * measured on the same server in the same run: GET /v2/<repo>/tags/list of a repository with 100 tags.
 * A child process starts the registry from dist/ and fills its catalog directly through
 * `services.catalog.putManifest` (1,000 repositories, 90,000 models, 10,000 datasets, lineage edges),
 * then moves a fifth of them through the lifecycle (`services.artifacts.transition`) and closes it.
 * A fresh `node bin/cairn.js serve` (auth on, as in production) then answers the requests, sent over
 * loopback: sequentially, then over 8 connections. Every loop is bounded in requests and in time.
 *
 * BENCH_SEARCH_ARTIFACTS (100000), BENCH_SEARCH_REQUESTS (200 sequential a query), BENCH_POSTGRES
 * (admin URL; a database is created and dropped), BENCH_SEARCH_NODE_FLAGS (Node options for the
 * server), BENCH_SEARCH_KEEP=1 (standalone: keep the SQLite catalog for a closer look).
 */
const { fork, spawn } = require('node:child_process');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { createHash } = require('node:crypto');
const { request, setDefaultHeaders } = require('./http');
const { freePort, waitUp } = require('./transfers');
const { measureConsoleSearch } = require('./console-search');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const TOTAL = Number(process.env.BENCH_SEARCH_ARTIFACTS || 100000);
const PER_REPO = 100;
const REPOS = Math.max(10, Math.round(TOTAL / PER_REPO));
const DATASET_REPOS = Math.max(1, Math.round(REPOS / 10));
/** Writers in flight while populating: SQLite serialises them on its one connection, PostgreSQL spreads them over its pool of 10. */
const FILL_CONCURRENCY = 16;
/** Sequential requests per query (after 10 warm-up ones), at most SEQ_SECONDS each. */
const SEQ_N = Number(process.env.BENCH_SEARCH_REQUESTS || 200);
const SEQ_SECONDS = 4;
/** Concurrent phase: CONC connections, at most CONC_N requests or CONC_SECONDS. */
const CONC = 8;
const CONC_N = 2 * SEQ_N;
const CONC_SECONDS = 3;
const POSTGRES_ADMIN_URL =
  process.env.BENCH_POSTGRES || process.env.CAIRN_TEST_POSTGRES || 'postgres://postgres@127.0.0.1:5432/postgres';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MODEL_TYPE = 'application/vnd.cncf.model.manifest.v1+json';
const MODEL_CONFIG = 'application/vnd.cncf.model.config.v1+json';
const DATASET_TYPE = 'application/vnd.cairn.dataset.manifest.v1+json';
const DATASET_CONFIG = 'application/vnd.cairn.dataset.config.v1+json';

// Frameworks with a realistic skew (PyTorch dominant), five licences, a few namespaces.
const FRAMEWORKS = [
  ['pytorch', 30],
  ['transformers', 20],
  ['tensorflow', 12],
  ['onnx', 10],
  ['jax', 8],
  ['sklearn', 6],
  ['keras', 5],
  ['xgboost', 4],
  ['paddle', 3],
  ['mlx', 2],
];
const LICENSES = [
  ['apache-2.0', 40],
  ['mit', 25],
  ['bsd-3-clause', 10],
  ['cc-by-4.0', 10],
  ['proprietary', 15],
];
const MODEL_NAMESPACES = ['ml', 'vision', 'nlp', 'speech'];
const ARCHS = [
  'bert',
  'roberta',
  'distilbert',
  'gpt2',
  'llama',
  'mistral',
  't5',
  'whisper',
  'wav2vec',
  'vit',
  'resnet',
  'efficientnet',
  'yolo',
  'detr',
  'clip',
  'unet',
  'xgb',
  'lightgbm',
  'tabnet',
  'deberta',
  'electra',
  'mobilenet',
  'convnext',
  'segformer',
  'bart',
  'phi',
  'gemma',
  'qwen',
  'falcon',
  'stablelm',
];
const TASKS = [
  'classifier',
  'sentiment',
  'ner',
  'summarizer',
  'translator',
  'detector',
  'segmenter',
  'asr',
  'embedder',
  'reranker',
  'forecaster',
  'chat',
];
const SIZES = ['tiny', 'small', 'base', 'large', 'xl'];
const TOPICS = [
  'reviews',
  'images',
  'speech',
  'clicks',
  'tickets',
  'transactions',
  'docs',
  'sensors',
  'medical',
  'code',
];
const TEAMS = Array.from({ length: 20 }, (_, i) => `team-${String.fromCharCode(97 + i)}`);
const STAGE_MOVES = {
  model: [
    ['approved', 12],
    ['candidate', 5],
    ['deprecated', 3],
  ],
  dataset: [
    ['approved', 30],
    ['deprecated', 2],
  ],
};

const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const seconds = (t) => Number(process.hrtime.bigint() - t) / 1e9;
const percentile = (a, p) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

/** A small deterministic generator, so every run builds the same catalog. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------
// The child: the registry, started from dist/, and the population.

function describeCatalog(rnd) {
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const weighted = (pairs) => {
    let x = rnd() * pairs.reduce((s, [, w]) => s + w, 0);
    for (const [v, w] of pairs) if ((x -= w) < 0) return v;
    return pairs[pairs.length - 1][0];
  };
  const repos = [];
  for (let i = 0; i < DATASET_REPOS; i++) {
    const topic = pick(TOPICS);
    repos.push({
      name: `data/${topic}-${pick(['raw', 'clean', 'labelled', 'eval'])}-${i}`,
      kind: 'dataset',
      topic,
      team: pick(TEAMS),
      license: weighted(LICENSES),
    });
  }
  for (let i = 0; i < REPOS - DATASET_REPOS; i++) {
    const arch = pick(ARCHS);
    const task = pick(TASKS);
    repos.push({
      name: `${MODEL_NAMESPACES[i % MODEL_NAMESPACES.length]}/${arch}-${task}-${i}`,
      kind: 'model',
      arch,
      task,
      team: pick(TEAMS),
      framework: weighted(FRAMEWORKS),
      license: weighted(LICENSES),
    });
  }
  return { repos, pick, weighted };
}

/** The manifest (real JSON, its digest the sha256 of the bytes) and the artifact record of one push. */
function makeRecord(repo, k, rnd, pick, weighted, datasets) {
  const version = `1.${k}.0`;
  const isModel = repo.kind === 'model';
  const name = isModel ? `${repo.arch}-${pick(SIZES)}-${repo.task}` : `${repo.topic}-${repo.name.split('-').at(-2)}`;
  const size = Math.floor(1e6 + rnd() * (isModel ? 4e9 : 2e10));
  const configBytes = Buffer.from(JSON.stringify({ descriptor: { name, version }, repository: repo.name }));
  const layer = sha256(`${repo.name}@${version}/weights`);
  const annotations = {
    'org.opencontainers.image.source': `https://git.example.com/${repo.name}`,
    'org.opencontainers.image.version': version,
    team: repo.team,
    ...(isModel ? { task: repo.task } : { domain: repo.topic }),
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: isModel ? MODEL_TYPE : DATASET_TYPE,
    config: {
      mediaType: isModel ? MODEL_CONFIG : DATASET_CONFIG,
      digest: sha256(configBytes),
      size: configBytes.length,
    },
    layers: [
      {
        mediaType: isModel ? 'application/vnd.cncf.model.weight.v1.raw' : 'application/vnd.cairn.dataset.file.v1.raw',
        digest: layer,
        size,
      },
    ],
    annotations,
  };
  const content = Buffer.from(JSON.stringify(manifest));
  const digest = sha256(content);
  const metrics = isModel
    ? { accuracy: Math.round((0.5 + rnd() * 0.5) * 1e4) / 1e4, f1: Math.round((0.4 + rnd() * 0.6) * 1e4) / 1e4 }
    : {};
  const edges = [];
  if (isModel && datasets.length) {
    const n = Math.min(datasets.length, 1 + Math.floor(rnd() * 3));
    while (edges.length < n) {
      const d = pick(datasets);
      if (!edges.some((e) => e.digest === d.digest))
        edges.push({ relation: 'trained-on', repository: d.repository, digest: d.digest });
    }
  } else if (!isModel && datasets.length && rnd() < 0.1) {
    const d = pick(datasets);
    edges.push({ relation: 'derived-from', repository: d.repository, digest: d.digest });
  }
  const metadata = {
    kind: repo.kind,
    family: isModel ? 'modelpack' : 'cairn-dataset',
    artifactType: manifest.artifactType,
    configMediaType: manifest.config.mediaType,
    name,
    version,
    ...(isModel
      ? { framework: repo.framework, format: 'safetensors', architecture: repo.arch }
      : { records: Math.floor(rnd() * 1e7) }),
    licenses: [repo.license],
    creators: [repo.team],
    metrics,
    datasets: isModel ? edges.map((e) => ({ repository: e.repository, digest: e.digest })) : [],
    derivedFrom: isModel ? [] : edges.map((e) => ({ repository: e.repository, digest: e.digest })),
    sources: [],
    preprocessing: [],
    files: [
      {
        path: isModel ? 'model.safetensors' : 'data.parquet',
        digest: layer,
        size,
        mediaType: manifest.layers[0].mediaType,
      },
    ],
    pushedBy: 'user:bench',
  };
  const record = {
    digest,
    mediaType: OCI_MANIFEST,
    size: content.length,
    content,
    artifactType: manifest.artifactType,
    annotations,
    blobs: [],
    manifests: [],
    artifact: {
      kind: repo.kind,
      family: metadata.family,
      name,
      version,
      ...(isModel ? { framework: repo.framework } : {}),
      license: repo.license,
      pushedBy: 'user:bench',
      totalSize: size + configBytes.length,
      metadata: JSON.stringify(metadata),
      annotations,
      metrics,
      edges,
    },
  };
  return {
    record,
    tag: `v${version}`,
    stage: weighted([
      ...STAGE_MOVES[repo.kind],
      ['draft', 100 - STAGE_MOVES[repo.kind].reduce((s, [, w]) => s + w, 0)],
    ]),
  };
}

/** Runs `work` over the items with `n` in flight; resolves when all are done. */
async function pool(items, n, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

async function populate(services, log) {
  const rnd = mulberry32(20261127);
  const { repos, pick, weighted } = describeCatalog(rnd);
  // Pushes arrive over time from every repository: version k of each (in a shuffled order) before
  // version k+1 of any, so one repository's artifacts are spread over the whole id range.
  const order = repos.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const jobs = [];
  for (let k = 0; k < PER_REPO; k++) for (const i of order) jobs.push([i, k]);
  const datasets = [];
  const moves = [];
  const counts = { model: 0, dataset: 0, edges: 0, stages: {} };
  const t = process.hrtime.bigint();
  let done = 0;
  let lastLog = Date.now();
  await pool(jobs, FILL_CONCURRENCY, async ([i, k]) => {
    const repo = repos[i];
    const { record, tag, stage } = makeRecord(repo, k, rnd, pick, weighted, datasets);
    // Recorded before the write so that the generator stays deterministic whatever order writes finish in.
    if (repo.kind === 'dataset') datasets.push({ repository: repo.name, digest: record.digest });
    await services.catalog.putManifest(repo.name, record, tag);
    counts[repo.kind]++;
    counts.edges += record.artifact.edges.length;
    counts.stages[stage] = (counts.stages[stage] || 0) + 1;
    if (stage !== 'draft') moves.push({ repository: repo.name, digest: record.digest, to: stage });
    if (++done % 10000 === 0 || Date.now() - lastLog > 15000) {
      lastLog = Date.now();
      log(`    ${done} artifacts, ${(done / seconds(t)).toFixed(0)}/s`);
    }
  });
  const fillSeconds = seconds(t);
  const t2 = process.hrtime.bigint();
  await pool(moves, FILL_CONCURRENCY, async (m) => {
    const ok = await services.artifacts.transition(m.repository, m.digest, {
      from: 'draft',
      to: m.to,
      by: 'user:bench',
      ...(m.to === 'approved' ? { approval: 'user:bench-approver' } : {}),
    });
    if (!ok) throw new Error(`transition of ${m.repository}@${m.digest} to ${m.to} failed`);
  });
  const moveSeconds = seconds(t2);
  const modelRepos = repos.filter((r) => r.kind === 'model');
  return {
    artifacts: done,
    repositories: repos.length,
    counts,
    fillSeconds,
    moves: moves.length,
    moveSeconds,
    // What the queries vary over: repositories to list tags of, dataset digests to follow, a repository name.
    sample: {
      tagRepos: Array.from({ length: 20 }, (_, i) => repos[Math.floor((i * repos.length) / 20)].name),
      datasets: Array.from({ length: 100 }, (_, i) => datasets[Math.floor((i * datasets.length) / 100)].digest),
      rareRepo: modelRepos[Math.floor(modelRepos.length / 2)].name,
    },
  };
}

/** The population process: a registry started from dist/ (auth on), filled through its catalog, closed. */
async function child() {
  process.on('disconnect', () => process.exit(1));
  const opts = JSON.parse(process.env.BENCH_SEARCH_CHILD);
  const log = (m) => process.send({ log: m });
  const { loadConfig } = require(path.join(DIST, 'config', 'config.js'));
  const { startRegistry } = require(path.join(DIST, 'app.js'));
  const config = loadConfig({
    env: {},
    overrides: {
      listen: '127.0.0.1:0',
      dataDir: opts.dataDir,
      ...(opts.database ? { database: opts.database } : {}),
      log: { level: 'warn' },
    },
  });
  const registry = await startRegistry(config);
  const stats = await populate(registry.services, log);
  await registry.close();
  process.send({ done: stats }, () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------
// The parent: databases, the requests, the query plans.

async function createDatabase() {
  const { Client } = require('pg');
  const name = `cairn_bench_search_${Date.now().toString(36)}`;
  const admin = new Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    // Only the population's commits gain from this (16 in flight, each a transaction); the searches
    // measured are reads. BENCH_SEARCH_PG_SYNC=on keeps the server's default.
    if (process.env.BENCH_SEARCH_PG_SYNC !== 'on')
      await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  } finally {
    await admin.end();
  }
  const u = new URL(POSTGRES_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Runs the population in a child process; resolves with its figures. */
function populateIn(opts, log) {
  const c = fork(__filename, ['--populate'], {
    env: { ...process.env, BENCH_SEARCH_CHILD: JSON.stringify(opts) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  c.stdout.on('data', (d) => (out = (out + d).slice(-4000)));
  c.stderr.on('data', (d) => (out = (out + d).slice(-4000)));
  let stats;
  c.on('message', (m) => {
    if (m.log) log(m.log);
    if (m.done) stats = m.done;
  });
  return new Promise((resolve, reject) => {
    c.once('exit', (code, signal) =>
      code === 0 && stats ? resolve(stats) : reject(new Error(`population exited ${code ?? signal}: ${out}`)),
    );
  });
}

/** Servers running, stopped if this process ends first (run.js exits on SIGINT without knowing them). */
const live = new Set();
process.on('exit', () => live.forEach((c) => c.kill('SIGTERM')));

/**
 * The registry measured: a fresh `node [flags] bin/cairn.js serve` over the populated catalog, as run.js
 * starts it (its JIT not shaped by 100,000 in-process puts; its caches the ones a restart leaves).
 */
async function startServer({ dataDir, database, tmp, flags }) {
  const config = path.join(tmp, 'search-bench.yaml');
  await fsp.writeFile(
    config,
    'rateLimits:\n  perAddress: { perSecond: 1000000, burst: 1000000 }\n  perIdentity: { perSecond: 1000000, burst: 1000000 }\n',
  );
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CAIRN_')));
  const child = spawn(process.execPath, [...flags, path.join(ROOT, 'bin', 'cairn.js'), 'serve', '--config', config], {
    env: {
      ...env,
      CAIRN_LISTEN: `127.0.0.1:${port}`,
      CAIRN_DATA_DIR: dataDir,
      ...(database ? { CAIRN_DATABASE: database } : {}),
      CAIRN_LOG_LEVEL: 'warn',
      CAIRN_TOKEN_TTL: '3600',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  child.stdout.on('data', (d) => (out = (out + d).slice(-8000)));
  child.stderr.on('data', (d) => (out = (out + d).slice(-8000)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([
    waitUp(url, 60000),
    exited.then((code) => Promise.reject(new Error(`cairn serve exited ${code}: ${out}`))),
  ]);
  return {
    url,
    pid: child.pid,
    /** Whether the server died, how, and its last words (a V8 fatal error, say). */
    postMortem: async () => ({
      exit: await Promise.race([exited, new Promise((r) => setTimeout(() => r(undefined), 1000))]),
      output: out,
    }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** The lines of a V8 fatal error (or the last lines of output) for the report. */
function lastWords(output) {
  const i = output.indexOf('# Fatal error');
  const lines = (i >= 0 ? output.slice(i) : output).split('\n').filter((l) => l.trim() && l.trim() !== '#');
  return (i >= 0 ? lines.slice(0, 8) : lines.slice(-8)).map((l) => l.trimEnd());
}

function peakRssMB(pid) {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
  } catch {
    return NaN;
  }
}

async function authenticate(base, dataDir, repositories) {
  const password = (await fsp.readFile(path.join(dataDir, 'admin-password'), 'utf8')).trim();
  const scopes = ['registry:catalog:*', ...repositories.map((r) => `repository:${r}:pull`)]
    .map((s) => `scope=${encodeURIComponent(s)}`)
    .join('&');
  const r = await request(base, 'GET', `/token?service=cairn&${scopes}`, {
    Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
  });
  if (r.status !== 200) throw new Error(`token: ${r.status} ${r.body}`);
  setDefaultHeaders(base, { Authorization: `Bearer ${JSON.parse(r.body.toString()).token}` });
}

/**
 * The queries, each a function of the request number returning a path; `paging` walks 10 pages of
 * one result set with `last`, one page a request, then starts again. n is the API's default (100).
 */
function cases(s) {
  const fws = FRAMEWORKS.map(([f]) => f);
  const q = (params) => `/v2/_cairn/search?${new URLSearchParams(params).toString()}`;
  return [
    {
      key: 'tags',
      name: 'baseline: GET /v2/<repo>/tags/list (100 tags)',
      path: (i) => `/v2/${s.tagRepos[i % s.tagRepos.length]}/tags/list`,
    },
    {
      key: 'framework-stage',
      name: 'framework + stage (framework=<each of 10>&stage=approved)',
      path: (i) => q({ framework: fws[i % fws.length], stage: 'approved' }),
    },
    { key: 'q', name: 'name substring, common (q=bert)', path: () => q({ q: 'bert' }) },
    {
      key: 'q-rare',
      name: `name substring, rare (q=<one repository's name>, 100 hits)`,
      path: () => q({ q: s.rareRepo }),
    },
    { key: 'metric', name: 'metric threshold (metric=accuracy>=0.9)', path: () => q({ metric: 'accuracy>=0.9' }) },
    {
      key: 'metric-rare',
      name: 'metric threshold, selective (metric=accuracy>=0.999)',
      path: () => q({ metric: 'accuracy>=0.999' }),
    },
    {
      key: 'annotation',
      name: 'annotation (annotation=team=<each of 20>)',
      path: (i) => q({ annotation: `team=${TEAMS[i % TEAMS.length]}` }),
    },
    {
      key: 'references',
      name: 'lineage (references=<a dataset digest>)',
      path: (i) => q({ references: s.datasets[i % s.datasets.length] }),
    },
    {
      key: 'paging',
      name: 'paging, 10 pages with last (repository=ml/&kind=model), per page',
      paging: { params: { repository: 'ml/', kind: 'model', n: '100' }, pages: 10 },
    },
  ];
}

/** A request stream for one case: next() resolves with the latency of one request in ms. */
function stream(base, c) {
  let i = 0;
  let page = 0;
  let last;
  let hits;
  const get = async (p) => {
    const t = process.hrtime.bigint();
    const r = await request(base, 'GET', p);
    const ms = seconds(t) * 1000;
    if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${r.body.toString().slice(0, 300)}`);
    return { ms, body: r.body };
  };
  return {
    hits: () => hits,
    next: async () => {
      if (!c.paging) {
        const { ms, body } = await get(c.path(i++));
        if (hits === undefined) {
          const j = JSON.parse(body.toString());
          hits = (j.artifacts || j.tags || []).length;
        }
        return ms;
      }
      const params = new URLSearchParams(c.paging.params);
      if (page > 0 && last) params.set('last', last);
      const { ms, body } = await get(`/v2/_cairn/search?${params.toString()}`);
      const j = JSON.parse(body.toString());
      if (hits === undefined) hits = j.artifacts.length;
      last = j.next;
      page = !last || page + 1 >= c.paging.pages ? 0 : page + 1;
      return ms;
    },
  };
}

async function measureCase(base, c) {
  const s = stream(base, c);
  for (let w = 0; w < 10; w++) await s.next();
  const seq = [];
  let t = process.hrtime.bigint();
  while (seq.length < SEQ_N && seconds(t) < SEQ_SECONDS) seq.push(await s.next());
  const seqSeconds = seconds(t);
  const conc = [];
  const streams = Array.from({ length: CONC }, () => stream(base, c));
  t = process.hrtime.bigint();
  await Promise.all(
    streams.map(async (st) => {
      while (conc.length < CONC_N && seconds(t) < CONC_SECONDS) conc.push(await st.next());
    }),
  );
  const concSeconds = seconds(t);
  return {
    hits: s.hits(),
    seqP50: percentile(seq, 50),
    seqP95: percentile(seq, 95),
    seqRps: seq.length / seqSeconds,
    seqN: seq.length,
    concP50: percentile(conc, 50),
    concP95: percentile(conc, 95),
    concRps: conc.length / concSeconds,
    concN: conc.length,
  };
}

/** The SQL the registry's own query builder makes for a search query string (captured, not re-typed). */
async function searchSql(dialectDb, qs) {
  const { Kysely } = require('kysely');
  const { KyselyArtifactIndex } = require(path.join(DIST, 'catalog', 'kysely-artifact-index.js'));
  const { parseSearch } = require(path.join(DIST, 'artifacts', 'api', 'search.js'));
  const seen = [];
  const db = new Kysely({ dialect: dialectDb, log: (e) => e.level === 'query' && seen.push(e.query) });
  await new KyselyArtifactIndex(db).search(parseSearch({ query: new URLSearchParams(qs) }, 10000));
  await db.destroy();
  return seen[0];
}

async function sqlitePlans(file, queries) {
  const BetterSqlite3 = require('better-sqlite3');
  const { SqliteDialect } = require('kysely');
  const out = {};
  for (const [key, qs] of queries) {
    const conn = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    const { sql, parameters } = await searchSql(new SqliteDialect({ database: conn }), qs);
    const conn2 = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    const rows = conn2.prepare(`explain query plan ${sql}`).all(...parameters);
    conn2.close();
    const depth = new Map([[0, -1]]);
    out[key] = {
      sql,
      parameters,
      plan: rows.map((r) => (depth.set(r.id, depth.get(r.parent) + 1), `${'  '.repeat(depth.get(r.id))}${r.detail}`)),
    };
  }
  return out;
}

async function postgresPlans(url, queries) {
  const pg = require('pg');
  const { PostgresDialect } = require('kysely');
  const out = {};
  for (const [key, qs] of queries) {
    const { sql, parameters } = await searchSql(
      new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
      qs,
    );
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query(`explain (analyze, costs off, timing off, summary on) ${sql}`, parameters);
      out[key] = { sql, parameters, plan: r.rows.map((x) => x['QUERY PLAN']) };
    } finally {
      await c.end();
    }
  }
  return out;
}

/** The query string a case sends on its first request (what the plans below explain). */
function firstQuery(c) {
  if (c.paging) return new URLSearchParams(c.paging.params).toString();
  return c.path(0).split('?')[1];
}

async function measureBackend(backend, { tmp, log }) {
  const dataDir = path.join(tmp, `search-${backend}`);
  let db;
  let srv;
  if (backend === 'postgres') db = await createDatabase();
  try {
    log(`  populating ${TOTAL} artifacts in ${REPOS} repositories (${FILL_CONCURRENCY} putManifest calls in flight)`);
    const info = await populateIn({ dataDir, ...(db ? { database: db.url } : {}) }, log);
    const c = info.counts;
    log(
      `  ${info.artifacts} artifacts (${c.model} models, ${c.dataset} datasets, ${c.edges} lineage edges) in ${info.fillSeconds.toFixed(1)} s: ${(info.artifacts / info.fillSeconds).toFixed(0)} artifacts/s; ${info.moves} lifecycle moves in ${info.moveSeconds.toFixed(1)} s (${(info.moves / info.moveSeconds).toFixed(0)}/s)`,
    );
    if (db) {
      // Autovacuum analyses a table this size within a minute of the load; do it now so that the plans
      // measured are the steady ones, not whichever the planner guesses before statistics exist.
      const { Client } = require('pg');
      const a = new Client({ connectionString: db.url });
      await a.connect();
      await a.query('analyze');
      await a.end();
    }
    const all = cases(info.sample);
    // BENCH_SEARCH_NODE_FLAGS: Node options for the server (--no-turbo-inlining, say).
    let flags = (process.env.BENCH_SEARCH_NODE_FLAGS || '').split(/\s+/).filter(Boolean);
    let crash;
    let results;
    for (;;) {
      srv = await startServer({ dataDir, ...(db ? { database: db.url } : {}), tmp, flags });
      await authenticate(srv.url, dataDir, info.sample.tagRepos);
      results = {};
      let failed;
      for (const k of all) {
        try {
          results[k.key] = await measureCase(srv.url, k);
        } catch (err) {
          failed = { key: k.key, err };
          break;
        }
        const r = results[k.key];
        log(
          `  ${k.key}: ${r.hits} hits, p50 ${r.seqP50.toFixed(1)} ms, p95 ${r.seqP95.toFixed(1)} ms, ${r.seqRps.toFixed(0)} req/s sequential; ${CONC} concurrent: p50 ${r.concP50.toFixed(1)} ms, ${r.concRps.toFixed(0)} req/s`,
        );
      }
      if (!failed) break;
      const pm = await srv.postMortem();
      await srv.stop();
      srv = undefined;
      log(
        `  ${failed.key} failed: ${failed.err.message}; the server ${pm.exit === undefined ? 'is still running' : `exited (${pm.exit})`}:\n    ${lastWords(pm.output).join('\n    ')}`,
      );
      // A V8 fatal error in the deoptimiser (SIGTRAP) was seen on PostgreSQL with Node 20.20 (docs/performance.md);
      // the figures are then taken again, baseline included, on a server without TurboFan inlining.
      if (pm.exit !== 'SIGTRAP' || crash) throw failed.err;
      crash = { during: failed.key, exit: pm.exit, flags: flags.join(' '), output: lastWords(pm.output) };
      flags = [...flags, '--no-turbo-inlining'];
      log(`  measuring again on a server started with node ${flags.join(' ')}`);
    }
    let consoleSearch;
    try {
      consoleSearch = await measureConsoleSearch(srv.url, dataDir, log);
    } catch (err) {
      log(`  console search failed: ${err.message}`);
      consoleSearch = { error: err.message.split('\n')[0] };
    }
    const peak = peakRssMB(srv.pid);
    const queries = all.filter((k) => k.key !== 'tags').map((k) => [k.key, firstQuery(k)]);
    let plans;
    if (backend === 'sqlite') plans = await sqlitePlans(path.join(dataDir, 'cairn.db'), queries);
    else {
      // EXPLAIN ANALYZE (which runs the query) for the slow ones and the framework + stage query.
      const slow = queries.filter(([key]) => key === 'framework-stage' || results[key].seqP50 > 50);
      plans = await postgresPlans(db.url, slow);
    }
    return {
      backend,
      populate: info,
      cases: all.map((k) => ({ key: k.key, name: k.name, query: k.key === 'tags' ? undefined : firstQuery(k) })),
      results,
      plans,
      peakRssMB: peak,
      consoleSearch,
      nodeFlags: flags.join(' '),
      crash,
    };
  } finally {
    if (srv) await srv.stop();
    if (db) await db.drop().catch((err) => log(`  could not drop the bench database: ${err.message}`));
  }
}

function report(runs) {
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '');
  const lines = [];
  for (const run of runs) {
    if (run.error) {
      lines.push(`Search, ${run.backend}: FAILED: ${run.error}`, '');
      continue;
    }
    const p = run.populate;
    const base = run.results.tags;
    lines.push(
      `Search, ${run.backend === 'sqlite' ? 'SQLite (embedded default)' : 'PostgreSQL'}: ${p.artifacts} artifacts (${p.counts.model} models, ${p.counts.dataset} datasets) in ${p.repositories} repositories, ${p.counts.edges} lineage edges; populated in ${f(p.fillSeconds)} s (${f(p.artifacts / p.fillSeconds, 0)} artifacts/s through catalog.putManifest, ${FILL_CONCURRENCY} in flight), ${p.moves} lifecycle moves in ${f(p.moveSeconds)} s; server peak RSS ${f(run.peakRssMB, 0)} MB`,
      ...(run.crash
        ? [
            '',
            `**The server crashed** (${run.crash.exit}) while measuring ${run.crash.during}${run.crash.flags ? ` (node ${run.crash.flags})` : ''}:`,
            '```',
            ...run.crash.output,
            '```',
            `The figures below, baseline included, are from a server started again with \`node ${run.nodeFlags}\`.`,
          ]
        : run.nodeFlags
          ? ['', `Server started with \`node ${run.nodeFlags}\`.`]
          : []),
      '',
      `| query (page size 100) | hits on page 1 | p50 ms | p95 ms | req/s | ${CONC} conc. p50 ms | ${CONC} conc. p95 ms | ${CONC} conc. req/s | p50 / tags-list p50 | tags-list req/s / req/s (${CONC} conc.) |`,
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const c of run.cases) {
      const r = run.results[c.key];
      const ratio = c.key === 'tags' ? '1.0×' : `${f(r.seqP50 / base.seqP50)}×`;
      const rpsRatio = c.key === 'tags' ? '1.0×' : `${f(base.concRps / r.concRps)}×`;
      lines.push(
        `| ${c.name} | ${r.hits} | ${f(r.seqP50)} | ${f(r.seqP95)} | ${f(r.seqRps, 0)} | ${f(r.concP50)} | ${f(r.concP95)} | ${f(r.concRps, 0)} | ${ratio} | ${rpsRatio} |`,
      );
    }
    if (Array.isArray(run.consoleSearch))
      lines.push(
        '',
        `Web console (Chromium), typing a query a key at a time: results on screen after the last key, median of 3 (max): ${run.consoleSearch.map((r) => `"${r.query}" ${r.medianMs} ms (${r.maxMs})`).join(', ')}`,
      );
    else if (run.consoleSearch) lines.push('', `Web console search: FAILED: ${run.consoleSearch.error}`);
    const slow = run.cases.filter((c) => c.key !== 'tags' && run.results[c.key].seqP50 > 50);
    lines.push('', slow.length ? `p50 over 50 ms: ${slow.map((c) => c.key).join(', ')}` : 'no query over 50 ms at p50');
    const planned = Object.keys(run.plans || {});
    if (planned.length) {
      lines.push(
        '',
        run.backend === 'sqlite'
          ? 'EXPLAIN QUERY PLAN (SQLite), the SQL the registry sends for the first request of each query:'
          : 'EXPLAIN ANALYZE (PostgreSQL):',
      );
      for (const key of planned) {
        const c = run.cases.find((x) => x.key === key);
        lines.push('', `${key}: ?${c.query}`, '```', ...run.plans[key].plan, '```');
      }
    }
    lines.push('');
  }
  return lines;
}

/** Measures every backend asked for (sqlite, postgres when reachable); returns the report lines and the figures. */
async function measureSearch({ tmp, log, backends = ['sqlite', 'postgres'] }) {
  const runs = [];
  for (const backend of backends) {
    if (backend === 'postgres') {
      try {
        const { Client } = require('pg');
        const c = new Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 3000 });
        await c.connect();
        await c.end();
      } catch (err) {
        log(
          `search on PostgreSQL skipped: ${POSTGRES_ADMIN_URL} is not reachable (${err.message}); BENCH_POSTGRES names another server`,
        );
        continue;
      }
    }
    log(`Cairn search, ${backend}:`);
    try {
      runs.push(await measureBackend(backend, { tmp, log }));
    } catch (err) {
      // One backend failing does not lose the other's figures (nor, under run.js, the transfer figures).
      log(`  search on ${backend} failed: ${err.stack || err}`);
      runs.push({ backend, error: err.message.split('\n')[0] });
    }
  }
  return { lines: report(runs), results: runs };
}

module.exports = { measureSearch };

if (require.main === module) {
  if (process.argv[2] === '--populate') {
    child().catch((err) => {
      process.stderr.write(`${err.stack || err}\n`);
      process.exit(1);
    });
  } else {
    const log = (...a) => process.stderr.write(`${a.join(' ')}\n`);
    const asked = process.argv.slice(2).filter((a) => a === 'sqlite' || a === 'postgres');
    let tmp;
    (async () => {
      tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'cairn-bench-search-'));
      const t = process.hrtime.bigint();
      const { lines, results } = await measureSearch({ tmp, log, ...(asked.length ? { backends: asked } : {}) });
      process.stdout.write(
        `\n${lines.join('\n')}\n${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; ${(seconds(t) / 60).toFixed(1)} min\n`,
      );
      await fsp.mkdir(path.join(ROOT, '.bench'), { recursive: true });
      await fsp.writeFile(
        path.join(ROOT, '.bench', 'search.json'),
        JSON.stringify({ date: new Date().toISOString(), search: results }, null, 2),
      );
    })()
      .catch((err) => {
        log(`search bench failed: ${err.stack || err}`);
        process.exitCode = 1;
      })
      .finally(() => {
        if (!tmp) return undefined;
        // BENCH_SEARCH_KEEP=1 leaves the SQLite catalog (search-sqlite/cairn.db) for a closer look.
        if (process.env.BENCH_SEARCH_KEEP === '1') return log(`kept ${tmp}`);
        return fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      });
  }
}
