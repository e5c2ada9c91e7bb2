'use strict';
/**
 * `cairn pull` of a 1 GiB model file: one stream (`--connections 1`) against ranges on 4 connections
 * (the default), alternating, medians of BENCH_RUNS rounds, each pull a fresh `cairn pull` process that
 * checks the digest before it finishes. Two paths to the registry: loopback, and a proxy that holds each
 * TCP connection to BENCH_LINK_MIBS MiB/s (what one connection gets over a long-distance link, where the
 * window and the round trip set its pace, not the path). Run alone or from `npm run bench`.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { cpuSeconds, median, freePort, waitUp, generate, MiB } = require('./transfers');

const ROUNDS = Number(process.env.BENCH_RUNS || 3);
const LINK_MIBS = Number(process.env.BENCH_LINK_MIBS || 64);
const BIN = path.join(__dirname, '..', 'bin', 'cairn.js');

/** A TCP proxy that paces each connection's server-to-client bytes to `mibs` MiB/s. */
function pacedProxy(targetPort, mibs) {
  const perMs = (mibs * MiB) / 1000;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    client.pipe(upstream);
    let sent = 0;
    const t0 = Date.now();
    upstream.on('data', (chunk) => {
      sent += chunk.length;
      client.write(chunk);
      const ahead = sent / perMs - (Date.now() - t0);
      if (ahead > 5) {
        upstream.pause();
        setTimeout(() => upstream.resume(), ahead);
      }
    });
    upstream.on('end', () => client.end());
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function pullOnce(host, out, connections) {
  fs.rmSync(out, { recursive: true, force: true });
  const t = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    [BIN, 'pull', `${host}/bench/pull:v1`, out, '--plain-http', '-q', '--connections', String(connections)],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`cairn pull exited ${code}`));
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      resolve({ seconds: s, mibs: 1024 / s });
    });
  });
}

async function measureParallelPull(log = (m) => process.stderr.write(`${m}\n`)) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-parallel-pull-'));
  const port = await freePort();
  const cairn = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      CAIRN_LISTEN: `127.0.0.1:${port}`,
      CAIRN_DATA_DIR: path.join(tmp, 'cairn'),
      CAIRN_LOG_LEVEL: 'warn',
      CAIRN_AUTH: 'none',
    },
    stdio: 'ignore',
  });
  const proxy = await pacedProxy(port, LINK_MIBS);
  const results = {};
  try {
    await waitUp(`http://127.0.0.1:${port}`);
    const model = path.join(tmp, 'model');
    fs.mkdirSync(model);
    await generate(path.join(model, 'weights.bin'));
    execFileSync(process.execPath, [BIN, 'push', 'model', model, `127.0.0.1:${port}/bench/pull:v1`, '-q'], {
      stdio: 'ignore',
    });
    const paths = [
      { name: 'loopback', host: `127.0.0.1:${port}` },
      { name: `${LINK_MIBS} MiB/s per connection`, host: `127.0.0.1:${proxy.address().port}` },
    ];
    for (const p of paths) {
      const runs = { 1: [], 4: [] };
      for (let i = 0; i < ROUNDS; i++) {
        for (const c of i % 2 === 0 ? [1, 4] : [4, 1]) {
          const before = cpuSeconds(cairn.pid);
          const r = await pullOnce(p.host, path.join(tmp, `out-${c}`), c);
          runs[c].push({ ...r, serverCpu: cpuSeconds(cairn.pid) - before });
        }
      }
      const one = median(runs[1].map((r) => r.mibs));
      const four = median(runs[4].map((r) => r.mibs));
      const show = (rs) =>
        rs.map((r) => `${r.mibs.toFixed(0)} MiB/s (server CPU ${r.serverCpu.toFixed(2)} s)`).join(', ');
      log(`cairn pull, 1 GiB, ${p.name}: one stream ${show(runs[1])}; 4 connections ${show(runs[4])}`);
      log(
        `  medians ${one.toFixed(0)} vs ${four.toFixed(0)} MiB/s: 4 connections / one stream ${(four / one).toFixed(2)}x`,
      );
      results[p.name] = { oneStream: one, fourConnections: four, ratio: four / one };
    }
  } finally {
    proxy.close();
    cairn.kill();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return results;
}

module.exports = { measureParallelPull };

if (require.main === module)
  measureParallelPull().catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
