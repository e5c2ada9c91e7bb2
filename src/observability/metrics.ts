import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The registry's Prometheus metrics; one instance per server so that tests can run several. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestDuration: Histogram<'route' | 'method'>;
  readonly bytesReceived: Counter<'route'>;
  readonly bytesSent: Counter<'route'>;
  readonly uploadDuration: Histogram<'kind'>;
  readonly integrityFailures: Counter<'where'>;
  readonly authentications: Counter<'method' | 'result'>;
  readonly authorizations: Counter<'action' | 'decision'>;
  readonly rateLimited: Counter<'limit'>;
  readonly scrubbedBlobs: Counter;
  readonly scrubbedBytes: Counter;
  readonly scrubLastFullPass: Gauge;
  readonly trustRootFetched: Gauge<'mirror'>;
  readonly trustRootFailures: Counter<'mirror'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'cairn_' });
    this.requests = new Counter({
      name: 'cairn_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [this.registry],
    });
    this.requestDuration = new Histogram({
      name: 'cairn_http_request_duration_seconds',
      help: 'HTTP request duration until the response finished',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60, 600],
      registers: [this.registry],
    });
    this.bytesReceived = new Counter({
      name: 'cairn_bytes_received_total',
      help: 'Blob and manifest bytes received',
      labelNames: ['route'],
      registers: [this.registry],
    });
    this.bytesSent = new Counter({
      name: 'cairn_bytes_sent_total',
      help: 'Blob and manifest bytes sent',
      labelNames: ['route'],
      registers: [this.registry],
    });
    this.uploadDuration = new Histogram({
      name: 'cairn_upload_duration_seconds',
      help: 'Time from opening an upload to committing its blob',
      labelNames: ['kind'],
      buckets: [0.01, 0.1, 1, 10, 60, 600, 3600, 36000],
      registers: [this.registry],
    });
    this.integrityFailures = new Counter({
      name: 'cairn_integrity_failures_total',
      help: 'Stored bytes that did not match their digest when read',
      labelNames: ['where'],
      registers: [this.registry],
    });
    this.authentications = new Counter({
      name: 'cairn_authentications_total',
      help: 'Logins and token checks by method (password, pat, robot, oidc, refresh, bearer) and result',
      labelNames: ['method', 'result'],
      registers: [this.registry],
    });
    this.authorizations = new Counter({
      name: 'cairn_authorization_decisions_total',
      help: 'Policy decisions by action and decision (allow, deny)',
      labelNames: ['action', 'decision'],
      registers: [this.registry],
    });
    this.scrubbedBlobs = new Counter({
      name: 'cairn_scrub_blobs_checked_total',
      help: 'Stored blobs re-hashed by the scrubber',
      registers: [this.registry],
    });
    this.scrubbedBytes = new Counter({
      name: 'cairn_scrub_bytes_checked_total',
      help: 'Bytes re-hashed by the scrubber',
      registers: [this.registry],
    });
    this.scrubLastFullPass = new Gauge({
      name: 'cairn_scrub_last_full_pass_timestamp_seconds',
      help: 'When the scrubber last finished a full pass over the stored blobs (alert on time() minus this)',
      registers: [this.registry],
    });
    this.trustRootFetched = new Gauge({
      name: 'cairn_trust_root_fetched_timestamp_seconds',
      help: 'When a TUF mirror last gave a verified Sigstore trusted root (alert on time() minus this)',
      labelNames: ['mirror'],
      registers: [this.registry],
    });
    this.trustRootFailures = new Counter({
      name: 'cairn_trust_root_fetch_failures_total',
      help: 'Failed fetches of a Sigstore trusted root through TUF, by mirror',
      labelNames: ['mirror'],
      registers: [this.registry],
    });
    this.rateLimited = new Counter({
      name: 'cairn_rate_limited_total',
      help: 'Requests refused with 429, by limit (address, identity, login)',
      labelNames: ['limit'],
      registers: [this.registry],
    });
  }
}
