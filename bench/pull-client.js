'use strict';
/**
 * One pull, in a process of its own: `node bench/pull-client.js <url>` (headers as JSON in
 * BENCH_PULL_HEADERS). Hashes what it receives and prints {n, s, d}. A fresh process for each pull, so
 * that what the benchmark's own process holds (its heap, its garbage) does not pace the pull.
 */
const http = require('node:http');
const https = require('node:https');
const { createHash } = require('node:crypto');

const url = new URL(process.argv[2]);
const h = createHash('sha256');
const t = process.hrtime.bigint();
let n = 0;
(url.protocol === 'https:' ? https : http)
  .get(url, { headers: JSON.parse(process.env.BENCH_PULL_HEADERS || '{}') }, (res) => {
    if (res.statusCode !== 200) {
      process.stderr.write(`GET ${url.pathname}: ${res.statusCode}\n`);
      process.exit(1);
    }
    res.on('data', (d) => {
      n += d.length;
      h.update(d);
    });
    res.on('end', () =>
      process.stdout.write(
        JSON.stringify({ n, s: Number(process.hrtime.bigint() - t) / 1e9, d: `sha256:${h.digest('hex')}` }),
      ),
    );
  })
  .on('error', (err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
