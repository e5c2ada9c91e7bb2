import { statSync } from 'node:fs';
import path from 'node:path';
import { loadTrustConfig, TRUST_FILE, type TrustConfig } from './trust-config';

/**
 * The trust configuration in force, re-read when trust.yaml changes (checked at most every
 * `reloadSeconds`). A file that no longer parses keeps the previous configuration and is reported.
 */
export class TrustStore {
  private config: TrustConfig;
  private mtime: number;
  private checkedAt = Date.now();

  constructor(
    private readonly policyDir: string | undefined,
    private readonly reloadSeconds: number,
    private readonly onError: (message: string) => void = () => {},
  ) {
    this.config = loadTrustConfig(policyDir);
    this.mtime = this.fileTime();
  }

  private fileTime(): number {
    if (!this.policyDir) return 0;
    try {
      return statSync(path.join(this.policyDir, TRUST_FILE)).mtimeMs;
    } catch {
      return 0;
    }
  }

  current(): TrustConfig {
    const now = Date.now();
    if (now - this.checkedAt >= this.reloadSeconds * 1000) {
      this.checkedAt = now;
      const mtime = this.fileTime();
      if (mtime !== this.mtime) {
        try {
          this.config = loadTrustConfig(this.policyDir);
          this.mtime = mtime;
        } catch (err) {
          this.onError(`trust configuration not reloaded, the previous one stays in force: ${(err as Error).message}`);
        }
      }
    }
    return this.config;
  }
}
