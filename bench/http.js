'use strict';
// A small streaming HTTP client for the benchmark: bodies come from files, never from memory.
const http = require('node:http');
const https = require('node:https');

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const tlsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });
/** Headers sent to every request for a base URL (the registry's bearer token). */
const defaults = new Map();
function setDefaultHeaders(base, headers) {
  defaults.set(new URL(base).host, headers);
}
const withDefaults = (u, headers) => ({ ...(defaults.get(u.host) || {}), ...headers });

/** http or https by the URL, so the same transfers measure a deployment behind TLS. */
const client = (u) => (u.protocol === 'https:' ? [https, tlsAgent] : [http, agent]);

function request(base, method, path, headers = {}, body) {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const [lib, a] = client(u);
    const req = lib.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path: u.pathname + u.search,
        headers: withDefaults(u, headers),
        agent: a,
      },
      (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body && typeof body.pipe === 'function') body.pipe(req);
    else req.end(body);
  });
}

module.exports = {
  request,
  agent,
  setDefaultHeaders,
  defaultHeaders: (base) => defaults.get(new URL(base).host) || {},
};
