import type { Actor } from './actor';

/** A before-commit check: throws (an OciError) to refuse the operation; may fill in the intent. */
export type Check<I> = (intent: I, actor: Actor) => Promise<void> | void;
/** An after-commit effect: sees what was committed; may add to the outcome for later effects and the caller. */
export type Effect<D> = (done: D, actor: Actor) => Promise<void> | void;

/**
 * Stages order the hooks: every check of an earlier stage runs before any of a later one, and within a
 * stage hooks run in the order they were registered. A feature picks its stage; it never edits a handler.
 */
export const CHECK_STAGES = ['validation', 'governance', 'quota', 'trust'] as const;
export type CheckStage = (typeof CHECK_STAGES)[number];
export const EFFECT_STAGES = ['audit', 'signatures', 'receipts', 'index', 'changes'] as const;
export type EffectStage = (typeof EFFECT_STAGES)[number];

interface Entry<F, S> {
  name: string;
  stage: S;
  fn: F;
}

/**
 * What a failed effect does. `required`: the operation fails with it (the audit event: the client's
 * success means the change is in the log). `logged`: the commit stands and the failure is reported to
 * `onEffectError` (a receipt that cannot be issued is not the client's failure).
 */
export type EffectFailure = 'required' | 'logged';

/** The ordered checks and effects of one registry operation. */
export class Pipeline<I, D> {
  private readonly checks: Entry<Check<I>, CheckStage>[] = [];
  private readonly effects: (Entry<Effect<D>, EffectStage> & { failure: EffectFailure })[] = [];

  constructor(readonly operation: string) {}

  check(name: string, stage: CheckStage, fn: Check<I>): this {
    this.assertNew(name);
    this.checks.push({ name, stage, fn });
    this.checks.sort((a, b) => CHECK_STAGES.indexOf(a.stage) - CHECK_STAGES.indexOf(b.stage));
    return this;
  }

  after(name: string, stage: EffectStage, fn: Effect<D>, failure: EffectFailure = 'required'): this {
    this.assertNew(name);
    this.effects.push({ name, stage, fn, failure });
    this.effects.sort((a, b) => EFFECT_STAGES.indexOf(a.stage) - EFFECT_STAGES.indexOf(b.stage));
    return this;
  }

  /** The registered hooks in the order they run, for `cairn` diagnostics and the tests. */
  describe(): { checks: string[]; effects: string[] } {
    return {
      checks: this.checks.map((c) => `${c.stage}:${c.name}`),
      effects: this.effects.map((e) => `${e.stage}:${e.name}`),
    };
  }

  /** Runs the checks of the given stages (all by default) in order; the first refusal ends the run. */
  async runChecks(intent: I, actor: Actor, stages?: readonly CheckStage[]): Promise<void> {
    for (const c of this.checks) {
      if (stages && !stages.includes(c.stage)) continue;
      // A check with nothing to wait for returns nothing: no await, no extra turn on a manifest GET.
      const pending = c.fn(intent, actor);
      if (pending) await pending;
    }
  }

  async runEffects(
    done: D,
    actor: Actor,
    onEffectError: (operation: string, effect: string, err: unknown) => void,
  ): Promise<void> {
    for (const e of this.effects) {
      try {
        const pending = e.fn(done, actor);
        if (pending) await pending;
      } catch (err) {
        if (e.failure === 'required') throw err;
        onEffectError(this.operation, e.name, err);
      }
    }
  }

  private assertNew(name: string): void {
    // Sorting is stable, so registration order is kept within a stage.
    if (this.checks.some((c) => c.name === name) || this.effects.some((e) => e.name === name))
      throw new Error(`${this.operation}: a hook named ${name} is already registered`);
  }
}
