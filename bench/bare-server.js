'use strict';
// The ceiling: a bare Node HTTP server that only hashes (crypto sha256) and writes an upload to a file.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');

const [, , port, dir] = process.argv;
let n = 0;
http
  .createServer((req, res) => {
    if (req.method === 'GET') return res.end('{}');
    const file = path.join(dir, `upload-${n++}`);
    const out = fs.createWriteStream(file, { highWaterMark: 4 << 20 });
    const hash = createHash('sha256');
    req.on('data', (c) => hash.update(c));
    req.pipe(out);
    out.on('finish', () => {
      res.writeHead(201, { 'Docker-Content-Digest': `sha256:${hash.digest('hex')}`, 'Content-Length': '0' });
      res.end();
      fs.rm(file, { force: true }, () => undefined);
    });
  })
  .listen(Number(port), '127.0.0.1');
