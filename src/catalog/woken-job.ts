/**
 * A background job that runs a pass when woken (a change arrived here), on a sweep (a change arrived at
 * another replica), never two passes at once in this process, and passes again at once when woken while
 * running. Wake-ups within `delayMs` share one pass. With `retryMaxMs`, a failed pass is retried after a
 * backoff that doubles from 1 s up to it, whatever wakes it meanwhile; without, the next wake-up retries.
 */
export class WokenJob {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private sweep: NodeJS.Timeout | undefined;
  private stopped = false;
  private backoffMs = 0;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly o: {
      delayMs: number;
      sweepMs: number;
      retryMaxMs?: number;
      /** One pass; false when it did not run (another replica holds its lease). */
      pass: () => Promise<boolean>;
      /** A failed pass; `retryInMs` when a retry is scheduled. */
      onError: (err: unknown, retryInMs: number | undefined) => Promise<void> | void;
    },
  ) {}

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.running = this.run().finally(() => {
        this.running = undefined;
        const failed = this.backoffMs > 0;
        if (failed || !this.again) for (const w of this.waiters.splice(0)) w();
        if (failed || this.again) this.wake();
      });
    }, this.backoffMs || this.o.delayMs);
  }

  start(): () => Promise<void> {
    this.sweep = setInterval(() => this.wake(), this.o.sweepMs);
    this.sweep.unref();
    this.wake();
    return async () => {
      this.stopped = true;
      if (this.sweep) clearInterval(this.sweep);
      if (this.timer) clearTimeout(this.timer);
      await this.running;
      for (const w of this.waiters.splice(0)) w();
    };
  }

  /** Resolves once a pass that starts after this call is over (or failed): for shutdown and tests. */
  async settled(): Promise<void> {
    this.again = true;
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (!this.running && !this.timer) this.wake();
    await done;
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      try {
        const ran = await this.o.pass();
        this.backoffMs = 0;
        if (!ran) return;
      } catch (err) {
        const max = this.o.retryMaxMs;
        if (max) {
          this.backoffMs = Math.min(max, Math.max(1_000, this.backoffMs * 2));
          this.again = false;
        }
        await this.o.onError(err, max ? this.backoffMs : undefined);
        return;
      }
    } while (this.again && !this.stopped);
  }
}
