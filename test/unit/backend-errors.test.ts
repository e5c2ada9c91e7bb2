import { isBackendUnavailable } from '../../src/http/backend-errors';

describe('which errors mean a backend is unavailable (503) rather than a fault of the registry (500)', () => {
  it('recognises what the drivers throw when their backend is gone, through wrapped causes', () => {
    const cases: unknown[] = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('Reached the max retries per request limit (which is 3).'), {
        name: 'MaxRetriesPerRequestError',
      }),
      new Error('Connection is closed.'),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
      new Error('Connection terminated unexpectedly'),
      new Error('Client has encountered a connection error and is not queryable'),
      new Error('Client was closed and is not queryable'),
      Object.assign(new Error('Please reduce your request rate.'), { name: 'S3Error', code: 'SlowDown' }),
      Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }),
      new Error('query failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }),
      new AggregateError([Object.assign(new Error('x'), { code: 'ETIMEDOUT' })], 'all attempts failed'),
    ];
    for (const err of cases) expect([String(err), isBackendUnavailable(err)]).toEqual([String(err), true]);
  });

  it('leaves the registry its own faults', () => {
    for (const err of [
      new TypeError("Cannot read properties of undefined (reading 'x')"),
      new Error('invariant broken'),
      'a string',
      null,
      undefined,
      Object.assign(new Error('duplicate key'), { code: '23505' }),
    ]) {
      expect(isBackendUnavailable(err)).toBe(false);
    }
  });
});
