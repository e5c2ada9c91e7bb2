import { randomUUID } from 'node:crypto';

/** The named leases every replica shares (the catalog's `leases` table). */
export interface LeaseStore {
  /** Takes, or renews for the same holder, the lease for ttlMs; false when another holder has it. */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
}

/** Thrown into a job's signal when its lease was lost (taken by another replica after a renewal failed). */
export class LeaseLost extends Error {
  constructor(readonly lease: string) {
    super(`lease ${lease} was lost; another replica may be running the same job`);
    this.name = 'LeaseLost';
  }
}

export type Exclusive<T> = { ran: true; value: T } | { ran: false };

/**
 * Runs `work` holding the named lease, one holder at a time across replicas. The lease is renewed every
 * third of its time while the work runs, so a pass longer than the lease keeps it; when a renewal finds
 * it gone, or renewals have failed for a whole lease time (the database unreachable), the work's signal
 * aborts with LeaseLost: the work must stop at its next check. Released at the end. `{ ran: false }` when
 * another holder has the lease.
 */
export async function runExclusive<T>(
  leases: LeaseStore,
  name: string,
  ttlMs: number,
  work: (signal: AbortSignal) => Promise<T>,
  holder: string = randomUUID(),
): Promise<Exclusive<T>> {
  if (!(await leases.acquireLease(name, holder, ttlMs))) return { ran: false };
  const lost = new AbortController();
  let renewedAt = Date.now();
  const renew = setInterval(() => {
    leases.acquireLease(name, holder, ttlMs).then(
      (kept) => {
        if (kept) renewedAt = Date.now();
        else lost.abort(new LeaseLost(name));
      },
      () => {
        if (Date.now() - renewedAt >= ttlMs) lost.abort(new LeaseLost(name));
      },
    );
  }, ttlMs / 3);
  renew.unref();
  try {
    return { ran: true, value: await work(lost.signal) };
  } finally {
    clearInterval(renew);
    if (!lost.signal.aborted) await leases.releaseLease(name, holder).catch(() => undefined);
  }
}

export interface PeriodicJob {
  /** The lease's name: one pass at a time across all replicas. */
  name: string;
  everyMs: number;
  leaseMs: number;
  /** A pass; `signal` aborts when the registry stops or the lease is lost. */
  pass: (signal: AbortSignal) => Promise<void>;
  onError: (err: unknown) => void;
}

/**
 * Runs a job every `everyMs` (the first one interval after start), never twice at once in this process
 * and, through runExclusive, never on two replicas at once however long a pass takes. Returns the stop
 * function: no new pass, the running one's signal aborted, and awaited.
 */
export function schedulePeriodic(leases: LeaseStore, job: PeriodicJob): () => Promise<void> {
  const holder = randomUUID();
  const stopping = new AbortController();
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= runExclusive(
      leases,
      job.name,
      job.leaseMs,
      (lost) => job.pass(AbortSignal.any([lost, stopping.signal])),
      holder,
    )
      .then(() => undefined, job.onError)
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, job.everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    stopping.abort();
    await running;
  };
}
