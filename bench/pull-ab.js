'use strict';
/**
 * `node bench/pull-ab.js`: verified pulls of one warm 1 GiB blob (`verifiedTtlSeconds: 0`) from Cairn as
 * configured by default (the first read hashed, later ones checked against its keyed tag), from Cairn
 * hashing every read (`verifyWith: digest`) and from CNCF Distribution, in rotating order, each pull by a
 * fresh client process that hashes what it receives, with the server's CPU seconds per pull. Auth off on
 * all three: only the blob path is compared. Loopback only.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { cpuSeconds, median, freePort, waitUp, generate, vary, pushMonolithic } = require('./transfers');

const ROUNDS = Number(process.env.BENCH_RUNS || 4);
const CLIENT = path.join(__dirname, 'pull-client.js');

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-pull-ab-'));
  const [pc, pi, pd] = [await freePort(), await freePort(), await freePort()];
  const serve = (port, dir, env = {}) =>
    spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'cairn.js'), 'serve'], {
      env: {
        ...process.env,
        CAIRN_LISTEN: `127.0.0.1:${port}`,
        CAIRN_DATA_DIR: path.join(tmp, dir),
        CAIRN_LOG_LEVEL: 'warn',
        CAIRN_AUTH: 'none',
        CAIRN_VERIFIED_TTL: '0',
        ...env,
      },
      stdio: 'ignore',
    });
  // The second Cairn hashes every read against the digest (verifyWith: digest) instead of checking the
  // keyed tag its first read made (the default): what the tags are worth.
  const cairn = serve(pc, 'cairn');
  const cairnDigest = serve(pi, 'cairn-digest', { CAIRN_VERIFY_WITH: 'digest' });
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
      { name: 'cairn, verifyWith digest', url: `http://127.0.0.1:${pi}`, pid: cairnDigest.pid, runs: [] },
      { name: 'distribution', url: `http://127.0.0.1:${pd}`, pid: dist.pid, runs: [] },
    ];
    await Promise.all(servers.map((s) => waitUp(s.url)));
    const file = path.join(tmp, 'blob.bin');
    await generate(file);
    const digest = await vary(file, 1);
    for (const s of servers) await pushMonolithic(s.url, 'ab/pull', file, digest);
    execFileSync('sync');
    // One pull each first, reported and not counted: it brings the blob into the page cache, and it is the
    // read on which Cairn proves the bytes against the digest and makes their tag.
    const pullOnce = (s) => {
      const out = JSON.parse(
        execFileSync(process.execPath, [CLIENT, `${s.url}/v2/ab/pull/blobs/${digest}`], { encoding: 'utf8' }),
      );
      if (out.d !== digest) throw new Error(`${s.name} served other bytes`);
      return out.n / 1024 / 1024 / out.s;
    };
    for (const s of servers)
      process.stderr.write(`${s.name}: first pull ${pullOnce(s).toFixed(0)} MiB/s (not counted)\n`);
    for (let i = 0; i < ROUNDS; i++) {
      // Each server takes each place in the order in turn.
      for (const s of servers.map((_, k) => servers[(k + i) % servers.length])) {
        const before = cpuSeconds(s.pid);
        const mibs = pullOnce(s);
        s.runs.push({ mibs, cpu: cpuSeconds(s.pid) - before });
      }
    }
    for (const s of servers)
      process.stderr.write(
        `${s.name}: ${s.runs.map((r) => `${r.mibs.toFixed(0)} MiB/s (CPU ${r.cpu.toFixed(2)} s)`).join(', ')}; median ${median(s.runs.map((r) => r.mibs)).toFixed(0)} MiB/s\n`,
      );
    const [c, ci, d] = servers.map((s) => median(s.runs.map((r) => r.mibs)));
    const cpu = servers.map((s) => median(s.runs.map((r) => r.cpu)));
    process.stderr.write(
      `Cairn / Distribution, warm verified pull: ${(c / d).toFixed(2)}x (verifyWith digest ${(ci / d).toFixed(2)}x); ` +
        `server CPU s a GiB, medians: ${servers.map((s, k) => `${s.name} ${cpu[k].toFixed(2)}`).join(', ')}\n`,
    );
  } finally {
    cairn.kill();
    cairnDigest.kill();
    dist.kill();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
