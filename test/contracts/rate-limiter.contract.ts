import { randomBytes } from 'node:crypto';
import type { RateLimiter } from '../../src/auth/rate-limiter';

/** The behaviour every RateLimiter must have. */
export function rateLimiterContract(
  name: string,
  make: () => Promise<{ open(): RateLimiter; cleanup(): Promise<void> }>,
): void {
  describe(`RateLimiter contract: ${name}`, () => {
    let f: { open(): RateLimiter; cleanup(): Promise<void> };
    let l: RateLimiter;
    beforeAll(async () => {
      f = await make();
      l = f.open();
      await l.init();
    });
    afterAll(async () => {
      await l.close();
      await f.cleanup();
    });
    const key = () => `k-${randomBytes(6).toString('hex')}`;

    it('allows a burst, then refuses with a Retry-After, then refills at the rate', async () => {
      const k = key();
      const rule = { perSecond: 2, burst: 3 };
      for (let i = 0; i < 3; i++) expect((await l.take(k, rule)).allowed).toBe(true);
      const refused = await l.take(k, rule);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await l.take(k, rule)).allowed).toBe(true);
      expect((await l.take(k, rule)).allowed).toBe(true);
      expect((await l.take(k, rule)).allowed).toBe(false);
    });

    it('answers a cost-0 question without taking anything', async () => {
      const k = key();
      const rule = { perSecond: 0.1, burst: 2 };
      for (let i = 0; i < 5; i++) expect((await l.take(k, rule, 0)).allowed).toBe(true);
      await l.take(k, rule);
      await l.take(k, rule);
      const empty = await l.take(k, rule, 0);
      expect(empty.allowed).toBe(false);
      expect(empty.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    });

    it('keeps keys apart and charges the cost asked', async () => {
      const [a, b] = [key(), key()];
      const rule = { perSecond: 0.1, burst: 5 };
      expect((await l.take(a, rule, 5)).allowed).toBe(true);
      expect((await l.take(a, rule)).allowed).toBe(false);
      expect((await l.take(b, rule, 4)).allowed).toBe(true);
      expect((await l.take(b, rule, 2)).allowed).toBe(false);
      expect((await l.take(b, rule, 1)).allowed).toBe(true);
    });

    it('is shared by every instance on the same backend', async () => {
      const other = f.open();
      await other.init();
      try {
        const k = key();
        const rule = { perSecond: 0.1, burst: 4 };
        const results = await Promise.all([l, other, l, other, l, other].map((x) => x.take(k, rule)));
        const allowed = results.filter((r) => r.allowed).length;
        // Memory buckets are per instance (per process); Redis ones are shared.
        expect(allowed).toBe(l.kind === 'redis' ? 4 : 6);
      } finally {
        await other.close();
      }
    });
  });
}
