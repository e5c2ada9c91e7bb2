import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The registry's Prometheus metrics; one instance per server so that tests can run several. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestDuration: Histogram<'route' | 'method'>;
  readonly bytesReceived: Counter<'route'>;
  readonly bytesSent: Counter<'route'>;
  readonly uploadDuration: Histogram<'kind'>;
  readonly integrityFailures: Counter<'where'>;

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
  }
}
