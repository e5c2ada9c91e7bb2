'use strict';
/**
 * `node bench/pull-ab.js`: verified pulls of one warm 1 GiB blob from Cairn (every read hashed) and from
 * CNCF Distribution, alternating, each pull by a fresh client process that hashes what it receives, with
 * the server's CPU seconds per pull. Auth off on both: only the blob path is compared. Loopback only.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { cpuSeconds, median, freePort, waitUp, generate, vary, pushMonolithic } = require('./transfers');

const ROUNDS = Number(process.env.BENCH_RUNS || 4);
const CLIENT = `
const http = require('node:http');
const { createHash } = require('node:crypto');
const h = createHash('sha256');
const t = process.hrtime.bigint();
let n = 0;
http.get(process.argv[1], (res) => {
  res.on('data', (d) => { n += d.length; h.update(d); });
  res.on('end', () => console.log(JSON.stringify({ n, s: Number(process.hrtime.bigint() - t) / 1e9, d: 'sha256:' + h.digest('hex') })));
});`;

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-pull-ab-'));
  const [pc, pd] = [await freePort(), await freePort()];
  const cairn = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'cairn.js'), 'serve'], {
    env: {
      ...process.env,
      CAIRN_LISTEN: `127.0.0.1:${pc}`,
      CAIRN_DATA_DIR: path.join(tmp, 'cairn'),
      CAIRN_LOG_LEVEL: 'warn',
      CAIRN_AUTH: 'none',
      CAIRN_VERIFIED_TTL: '0',
    },
    stdio: 'ignore',
  });
  fs.mkdirSync(path.join(tmp, 'distribution'));
  const config = path.join(tmp, 'distribution.yml');
  fs.writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${tmp}/distribution\nhttp:\n  addr: 127.0.0.1:${pd}\n`,
  );
  const dist = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  try {
    const servers = [
      { name: 'cairn', url: `http://127.0.0.1:${pc}`, pid: cairn.pid, runs: [] },
      { name: 'distribution', url: `http://127.0.0.1:${pd}`, pid: dist.pid, runs: [] },
    ];
    await Promise.all(servers.map((s) => waitUp(s.url)));
    const file = path.join(tmp, 'blob.bin');
    await generate(file);
    const digest = await vary(file, 1);
    for (const s of servers) await pushMonolithic(s.url, 'ab/pull', file, digest);
    execFileSync('sync');
    for (let i = 0; i < ROUNDS; i++) {
      for (const s of i % 2 === 0 ? servers : [...servers].reverse()) {
        const before = cpuSeconds(s.pid);
        const out = JSON.parse(
          execFileSync(process.execPath, ['-e', CLIENT, `${s.url}/v2/ab/pull/blobs/${digest}`], { encoding: 'utf8' }),
        );
        if (out.d !== digest) throw new Error(`${s.name} served other bytes`);
        s.runs.push({ mibs: out.n / 1024 / 1024 / out.s, cpu: cpuSeconds(s.pid) - before });
      }
    }
    for (const s of servers)
      process.stderr.write(
        `${s.name}: ${s.runs.map((r) => `${r.mibs.toFixed(0)} MiB/s (CPU ${r.cpu.toFixed(2)} s)`).join(', ')}; median ${median(s.runs.map((r) => r.mibs)).toFixed(0)} MiB/s\n`,
      );
    const [c, d] = servers.map((s) => median(s.runs.map((r) => r.mibs)));
    process.stderr.write(`Cairn / Distribution, warm verified pull: ${(c / d).toFixed(2)}x\n`);
  } finally {
    cairn.kill();
    dist.kill();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
