import { Pipeline } from '../../../src/core/pipeline';
import { systemActor } from '../../../src/core/actor';

describe('a pipeline of checks and effects', () => {
  const actor = systemActor('req-1');

  it('runs checks by stage, then in registration order, whatever order they were added in', async () => {
    const ran: string[] = [];
    const p = new Pipeline<{ n: number }, { n: number }>('test.op');
    p.check('trust-1', 'trust', () => void ran.push('trust-1'));
    p.check('quota-1', 'quota', () => void ran.push('quota-1'));
    p.check('validation-1', 'validation', () => void ran.push('validation-1'));
    p.check('quota-2', 'quota', () => void ran.push('quota-2'));
    p.check('governance-1', 'governance', () => void ran.push('governance-1'));
    await p.runChecks({ n: 1 }, actor);
    expect(ran).toEqual(['validation-1', 'governance-1', 'quota-1', 'quota-2', 'trust-1']);
    expect(p.describe().checks).toEqual([
      'validation:validation-1',
      'governance:governance-1',
      'quota:quota-1',
      'quota:quota-2',
      'trust:trust-1',
    ]);
  });

  it('stops at the first refusal, and runs only the stages asked for', async () => {
    const ran: string[] = [];
    const p = new Pipeline<object, object>('test.op');
    p.check('a', 'validation', () => void ran.push('a'));
    p.check('no', 'governance', () => {
      throw new Error('refused');
    });
    p.check('c', 'quota', () => void ran.push('c'));
    await expect(p.runChecks({}, actor)).rejects.toThrow('refused');
    expect(ran).toEqual(['a']);
    await p.runChecks({}, actor, ['validation', 'quota']);
    expect(ran).toEqual(['a', 'a', 'c']);
  });

  it('passes the intent along, so a later check sees what an earlier one filled in', async () => {
    const p = new Pipeline<{ kind?: string; seen?: string }, never>('test.op');
    p.check('read', 'governance', (i) => void (i.seen = i.kind));
    p.check('classify', 'validation', (i) => void (i.kind = 'model'));
    const intent: { kind?: string; seen?: string } = {};
    await p.runChecks(intent, actor);
    expect(intent.seen).toBe('model');
  });

  it('fails the operation on a required effect, and only reports a logged one', async () => {
    const reported: string[] = [];
    const report = (op: string, effect: string, err: unknown) => reported.push(`${op}/${effect}: ${String(err)}`);
    const ran: string[] = [];
    const p = new Pipeline<object, { out: string[] }>('test.op');
    p.after('changes', 'changes', (d) => void d.out.push('changes'));
    p.after(
      'receipt',
      'receipts',
      () => {
        throw new Error('no key');
      },
      'logged',
    );
    p.after('audit', 'audit', (d) => void d.out.push('audit'));
    const done = { out: ran };
    await p.runEffects(done, actor, report);
    expect(ran).toEqual(['audit', 'changes']);
    expect(reported).toEqual(['test.op/receipt: Error: no key']);

    const q = new Pipeline<object, object>('test.op');
    q.after('audit', 'audit', () => {
      throw new Error('log down');
    });
    await expect(q.runEffects({}, actor, report)).rejects.toThrow('log down');
  });

  it('refuses a second hook of the same name', () => {
    const p = new Pipeline<object, object>('test.op');
    p.check('quota', 'quota', () => undefined);
    expect(() => p.after('quota', 'audit', () => undefined)).toThrow('already registered');
  });
});
