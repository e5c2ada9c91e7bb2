/**
 * Which blobs this process has hashed recently: on upload (their digest was checked as they arrived) or
 * on a verified full read. A full GET of such a blob within the TTL streams without hashing again.
 *
 * Why: checking every read costs CPU (less since reads after the first check a keyed tag, read-tags.ts),
 * yet the bytes were proven moments ago, and clients verify digests themselves. Tampering that happens
 * between two reads within the TTL is found by the next read after it, and by the integrity scrub.
 * `blobs.verifiedTtlSeconds: 0` verifies every read.
 */
export class VerifiedBlobs {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  mark(digest: string): void {
    if (this.ttlMs <= 0) return;
    this.until.delete(digest);
    this.until.set(digest, Date.now() + this.ttlMs);
    // Map keeps insertion order: the first entries are the oldest marks.
    while (this.until.size > this.maxEntries) this.until.delete(this.until.keys().next().value as string);
  }

  isFresh(digest: string): boolean {
    const t = this.until.get(digest);
    if (t === undefined) return false;
    if (t < Date.now()) {
      this.until.delete(digest);
      return false;
    }
    return true;
  }

  forget(digest: string): void {
    this.until.delete(digest);
  }
}
