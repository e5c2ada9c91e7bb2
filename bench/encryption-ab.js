'use strict';
/**
 * `node bench/encryption-ab.js`: what encryption at rest costs. Two `cairn serve` on the same disk, one
 * plain and one with `encryption.key` (a file key), take the same 1 GiB monolithic push and chunked push
 * (16 MiB PATCHes) and serve a verified pull, alternating, BENCH_RUNS rounds (default 3): throughput and
 * the server's CPU seconds per GiB, medians, and the encrypted/plain ratios. Auth off, loopback only.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  cpuSeconds,
  median,
  freePort,
  waitUp,
  generate,
  vary,
  pushMonolithic,
  pushChunked,
  pull,
} = require('./transfers');

const ROUNDS = Number(process.env.BENCH_RUNS || 3);
const GIB = 1024;

function serve(tmp, name, port, extra) {
  return spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'cairn.js'), 'serve'], {
    env: {
      ...process.env,
      CAIRN_LISTEN: `127.0.0.1:${port}`,
      CAIRN_DATA_DIR: path.join(tmp, name),
      CAIRN_LOG_LEVEL: 'warn',
      CAIRN_AUTH: 'none',
      CAIRN_VERIFIED_TTL: '0',
      ...extra,
    },
    stdio: 'ignore',
  });
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-enc-ab-'));
  const key = path.join(tmp, 'kek');
  execFileSync(
    process.execPath,
    [path.join(__dirname, '..', 'bin', 'cairn.js'), 'admin', 'keys', 'create-kek', '--file', key],
    {
      env: { ...process.env, CAIRN_DATA_DIR: path.join(tmp, 'cli'), CAIRN_LOG_LEVEL: 'silent' },
    },
  );
  const [pp, pe] = [await freePort(), await freePort()];
  const plain = serve(tmp, 'plain', pp, {});
  const sealed = serve(tmp, 'sealed', pe, { CAIRN_ENCRYPTION_KEY: `file://${key}` });
  const servers = [
    { name: 'plain', url: `http://127.0.0.1:${pp}`, pid: plain.pid, runs: { mono: [], chunked: [], pull: [] } },
    { name: 'encrypted', url: `http://127.0.0.1:${pe}`, pid: sealed.pid, runs: { mono: [], chunked: [], pull: [] } },
  ];
  try {
    await Promise.all(servers.map((s) => waitUp(s.url)));
    const file = path.join(tmp, 'blob.bin');
    await generate(file);
    for (let i = 0; i < ROUNDS; i++) {
      for (const s of i % 2 === 0 ? servers : [...servers].reverse()) {
        const measure = async (what, work) => {
          const before = cpuSeconds(s.pid);
          const seconds = await work();
          s.runs[what].push({ mibs: GIB / seconds, cpu: cpuSeconds(s.pid) - before });
        };
        const mono = await vary(file, 2 * i);
        await measure('mono', () => pushMonolithic(s.url, 'ab/enc', file, mono));
        const chunked = await vary(file, 2 * i + 1);
        await measure('chunked', async () => (await pushChunked(s.url, 'ab/enc', file, chunked)).seconds);
        await measure('pull', () => pull(s.url, 'ab/enc', chunked));
      }
    }
    for (const what of ['mono', 'chunked', 'pull']) {
      const [p, e] = servers.map((s) => ({
        mibs: median(s.runs[what].map((r) => r.mibs)),
        cpu: median(s.runs[what].map((r) => r.cpu)),
        all: s.runs[what].map((r) => `${r.mibs.toFixed(0)} MiB/s ${r.cpu.toFixed(2)} s`).join(', '),
      }));
      process.stderr.write(
        `${what}: plain ${p.mibs.toFixed(0)} MiB/s, CPU ${p.cpu.toFixed(2)} s/GiB [${p.all}]; encrypted ${e.mibs.toFixed(0)} MiB/s, CPU ${e.cpu.toFixed(2)} s/GiB [${e.all}]; throughput ${(e.mibs / p.mibs).toFixed(2)}x, CPU ${(e.cpu / p.cpu).toFixed(2)}x\n`,
      );
    }
  } finally {
    plain.kill();
    sealed.kill();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
