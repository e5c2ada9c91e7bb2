import { createHash } from 'node:crypto';
import path from 'node:path';
import { existing, ReloadingFile } from '../policy/reloading-file';
import { readFileSync } from 'node:fs';
import { parseTrustConfig, TRUST_FILE, type TrustConfig } from './trust-config';
import type { TufRoots } from './tuf-roots';

/**
 * The trust configuration in force, re-read when trust.yaml changes (checked at most every
 * `reloadSeconds`), with the Sigstore roots its TUF sources gave merged in. A file that no longer parses
 * keeps the previous configuration and is reported. A new root from TUF changes `rootsStamp`, not the
 * version: replicas fetch on their own schedules, and a version they disagree on for hours would have
 * them re-check each other's results back and forth; the rechecker makes one full pass instead.
 */
export class TrustStore extends ReloadingFile<TrustConfig> {
  private merged: { base: TrustConfig; generation: number; value: TrustConfig } | undefined;

  constructor(
    policyDir: string | undefined,
    reloadSeconds: number,
    onError: (message: string) => void,
    readonly tuf: TufRoots,
  ) {
    // No trust.yaml: nothing is trusted and nothing enforced.
    super(
      () => existing(policyDir ? path.join(policyDir, TRUST_FILE) : undefined),
      (file) => parseTrustConfig(file ? readFileSync(file, 'utf8') : '', file ?? TRUST_FILE, policyDir ?? '.'),
      reloadSeconds,
      'trust configuration',
      onError,
    );
  }

  override current(): TrustConfig {
    const base = super.current();
    if (base.tuf.length === 0) return base;
    const generation = this.tuf.generation;
    if (this.merged?.base === base && this.merged.generation === generation) return this.merged.value;
    const fetched = this.tuf.rootsFor(base.tuf);
    const problems = this.tuf
      .status(base.tuf)
      .filter((st) => fetched.every((f) => f.file !== `tuf:${st.mirror}`))
      .map((st) => `no trusted root from the TUF mirror ${st.mirror} yet${st.error ? ` (${st.error})` : ''}`);
    const value: TrustConfig = {
      ...base,
      trustedRoots: [...base.trustedRoots, ...fetched.map(({ file, json }) => ({ file, json }))],
      rootProblems: problems,
      rootsStamp: fetched.length
        ? createHash('sha256')
            .update(fetched.map((f) => f.digest).join('\n'))
            .digest('hex')
            .slice(0, 16)
        : '',
    };
    this.merged = { base, generation, value };
    return value;
  }
}
