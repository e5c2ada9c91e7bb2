import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { errorCode, pushBlob, random } from './http-client';
import { waitFor } from '../helpers/cli-transfer';

describe('operations endpoints', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
  });
  afterAll(async () => reg.close());

  it('answers /healthz and /readyz', async () => {
    const h = await fetch(`${reg.url}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    const r = await fetch(`${reg.url}/readyz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: 'ready', checks: { catalog: 'ok', sessions: 'ok', storage: 'ok' } });
  });

  it('gives every request an id, keeping a sane one the caller sent', async () => {
    const a = await fetch(`${reg.url}/v2/`);
    expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const b = await fetch(`${reg.url}/v2/`, { headers: { 'X-Request-Id': 'trace-123' } });
    expect(b.headers.get('x-request-id')).toBe('trace-123');
    const c = await fetch(`${reg.url}/v2/`, { headers: { 'X-Request-Id': 'bad id with spaces' } });
    expect(c.headers.get('x-request-id')).not.toBe('bad id with spaces');
  });

  it('exports Prometheus metrics: requests by route and status, bytes in and out, upload durations', async () => {
    const data = random(12345);
    const digest = await pushBlob(reg.url, 'ops/metrics', data);
    const g = await fetch(`${reg.url}/v2/ops/metrics/blobs/${digest}`);
    expect(Buffer.from(await g.arrayBuffer()).equals(data)).toBe(true);
    await fetch(`${reg.url}/v2/ops/metrics/blobs/sha256:${'0'.repeat(64)}`);
    const expected = [
      /cairn_http_requests_total\{route="blob",method="GET",status="200"\} 1/,
      /cairn_http_requests_total\{route="blob",method="GET",status="404"\} 1/,
      /cairn_bytes_received_total\{route="upload"\} 12345/,
      /cairn_bytes_sent_total\{route="blob"\} 12345/,
      /cairn_upload_duration_seconds_count\{kind="monolithic"\} 1/,
      /cairn_http_request_duration_seconds_bucket/,
    ];
    // A request is counted when the server sees its response finish, which on a loaded machine can come
    // after the client already holds every byte: wait for the counters rather than race them.
    let text = '';
    await waitFor(
      async () => {
        const m = await fetch(`${reg.url}/metrics`);
        expect(m.status).toBe(200);
        text = await m.text();
        return expected.every((re) => re.test(text)) ? true : undefined;
      },
      10_000,
      'the request counters',
    ).catch(() => undefined);
    for (const re of expected) expect(text).toMatch(re);
  });

  it('answers unknown paths and methods with OCI errors', async () => {
    const a = await fetch(`${reg.url}/nothing-here`);
    expect(a.status).toBe(404);
    expect(await errorCode(a)).toBe('NOT_FOUND');
    const b = await fetch(`${reg.url}/v2/a/tags/list`, { method: 'POST' });
    expect(b.status).toBe(405);
    expect(b.headers.get('allow')).toBe('GET');
    expect(await errorCode(b)).toBe('UNSUPPORTED');
  });
});
