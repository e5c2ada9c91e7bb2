/**
 * A first-come, first-served allowance of bytes: S3 parts are held in memory while they upload, and
 * with many pushes at once the sum of those buffers, not any one push, is what fills the heap. An
 * upload takes its part's bytes before filling it and gives them back once S3 has the part, so memory
 * stays bounded whatever the number of concurrent pushes; a push that must wait simply reads its
 * client more slowly (TCP backpressure), it never holds a buffer while waiting for another.
 */
export class ByteBudget {
  private available: number;
  private readonly waiting: { bytes: number; resolve: () => void }[] = [];

  constructor(readonly capacity: number) {
    this.available = capacity;
  }

  /** Waits until `bytes` are free (a request larger than the capacity waits for all of it). */
  async take(bytes: number): Promise<void> {
    const want = Math.min(bytes, this.capacity);
    if (this.waiting.length === 0 && this.available >= want) {
      this.available -= want;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push({ bytes: want, resolve }));
  }

  give(bytes: number): void {
    this.available += Math.min(bytes, this.capacity);
    // In order: a large request at the head is not starved by small ones behind it.
    while (this.waiting.length > 0 && this.available >= this.waiting[0]!.bytes) {
      const next = this.waiting.shift()!;
      this.available -= next.bytes;
      next.resolve();
    }
  }
}
