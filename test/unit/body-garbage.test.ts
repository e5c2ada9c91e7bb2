import { PerformanceObserver, constants } from 'node:perf_hooks';
import { bodyBytesTaken } from '../../src/storage/body-garbage';

/** Records the start of every young-generation collection from now on. */
function watchMinorCollections(): { minor: number[]; obs: PerformanceObserver } {
  const minor: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      if ((e as unknown as { detail: { kind: number } }).detail.kind === constants.NODE_PERFORMANCE_GC_MINOR)
        minor.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  return { minor, obs };
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('bodyBytesTaken', () => {
  it('collects the young generation once every 4 MiB of request body, not before', async () => {
    const { minor, obs } = watchMinorCollections();
    // Whatever an earlier call counted: reach the next boundary first, then measure from it.
    for (let i = 0; i < 64; i++) bodyBytesTaken(64 * 1024);
    await settle();
    minor.length = 0;
    for (let i = 0; i < 63; i++) bodyBytesTaken(64 * 1024);
    await settle();
    const before = minor.length;
    bodyBytesTaken(64 * 1024);
    await settle();
    obs.disconnect();
    // A collection V8 starts on its own may fall in either window; 63 of them would mean one a chunk.
    expect(before).toBeLessThanOrEqual(1);
    expect(minor.length).toBeGreaterThanOrEqual(before + 1);
  });
});
