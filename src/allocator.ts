import type { Logger } from './observability/logger';

// glibc's mallopt parameters (malloc.h).
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const THRESHOLD = 1024 * 1024;

/**
 * Fixes glibc's allocator thresholds for the serving process, as `MALLOC_MMAP_THRESHOLD_` and
 * `MALLOC_TRIM_THRESHOLD_` would at start-up. By default glibc raises both after the first large block
 * is freed (an argon2 password check frees 12 MiB): from then on, freed request buffers are kept by the
 * process instead of going back to the system, and a `cairn serve` that pushed 1 GiB held about 30 MB
 * more for good (docs/performance.md, "Memory"). At 1 MiB, blocks of 1 MiB and more are mapped and
 * unmapped on their own and the heap's free top is trimmed.
 *
 * Only on Linux with glibc, and not when the operator set the allocator through the environment. A
 * failure changes nothing but memory use, so it is logged and serving goes on. Returns whether the
 * thresholds were set here.
 */
export function tuneAllocator(logger?: Logger): boolean {
  if (process.platform !== 'linux') return false;
  if (process.env.MALLOC_MMAP_THRESHOLD_ || process.env.MALLOC_TRIM_THRESHOLD_ || process.env.GLIBC_TUNABLES)
    return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  if (!header?.glibcVersionRuntime) return false;
  try {
    const koffi = require('koffi') as { load(lib: string): { func(signature: string): (...args: number[]) => number } };
    const mallopt = koffi.load('libc.so.6').func('int mallopt(int param, int value)');
    if (mallopt(M_MMAP_THRESHOLD, THRESHOLD) !== 1 || mallopt(M_TRIM_THRESHOLD, THRESHOLD) !== 1)
      throw new Error('mallopt refused the thresholds');
    return true;
  } catch (err) {
    logger?.warn({ err: (err as Error).message }, 'allocator thresholds left at their defaults');
    return false;
  }
}
