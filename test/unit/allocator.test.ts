import { tuneAllocator } from '../../src/allocator';
import type { Logger } from '../../src/observability/logger';

describe('tuneAllocator', () => {
  it('sets glibc thresholds through mallopt on this Linux machine without a warning', () => {
    const warnings: unknown[] = [];
    const logger = { warn: (...a: unknown[]) => warnings.push(a) } as unknown as Logger;
    const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header
      .glibcVersionRuntime;
    expect(process.platform === 'linux' && glibc !== undefined).toBe(true);
    expect(tuneAllocator(logger)).toBe(true);
    expect(warnings).toEqual([]);
  });
});
