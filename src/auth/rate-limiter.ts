/** A token-bucket rule: `perSecond` tokens refill, up to `burst`. */
export interface RateRule {
  perSecond: number;
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Seconds until one token is available again (0 when allowed). */
  retryAfterSeconds: number;
}

/**
 * Token buckets keyed by identity or source address: per process in memory, or in Redis so that every
 * replica draws from the same bucket. Every implementation passes test/contracts/rate-limiter.contract.ts.
 */
export interface RateLimiter {
  readonly kind: string;
  init(): Promise<void>;
  close(): Promise<void>;
  /** Takes `cost` tokens (default 1). Cost 0 only asks whether a whole token is there, taking nothing. */
  take(key: string, rule: RateRule, cost?: number): Promise<RateDecision>;
}

/** The bucket arithmetic both implementations share (Redis runs the same steps in Lua). */
export function refill(tokens: number, updatedMs: number, nowMs: number, rule: RateRule): number {
  return Math.min(rule.burst, tokens + (Math.max(0, nowMs - updatedMs) / 1000) * rule.perSecond);
}

export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory';
  private readonly buckets = new Map<string, { tokens: number; updated: number }>();
  private sweeper: NodeJS.Timeout | undefined;

  async init(): Promise<void> {
    // Full buckets carry no information: drop them so the map does not grow with every address seen.
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const [k, b] of this.buckets) if (now - b.updated > 600_000) this.buckets.delete(k);
    }, 60_000);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  async take(key: string, rule: RateRule, cost = 1): Promise<RateDecision> {
    const now = Date.now();
    const b = this.buckets.get(key);
    const tokens = b ? refill(b.tokens, b.updated, now, rule) : rule.burst;
    if (cost === 0)
      return tokens >= 1
        ? { allowed: true, retryAfterSeconds: 0 }
        : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / rule.perSecond)) };
    if (tokens >= cost) {
      this.buckets.set(key, { tokens: tokens - cost, updated: now });
      return { allowed: true, retryAfterSeconds: 0 };
    }
    this.buckets.set(key, { tokens, updated: now });
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((cost - tokens) / rule.perSecond)) };
  }
}
