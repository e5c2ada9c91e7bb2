import path from 'node:path';
import { existing, ReloadingFile } from '../policy/reloading-file';
import { loadTrustConfig, TRUST_FILE, type TrustConfig } from './trust-config';

/**
 * The trust configuration in force, re-read when trust.yaml changes (checked at most every
 * `reloadSeconds`). A file that no longer parses keeps the previous configuration and is reported.
 */
export class TrustStore extends ReloadingFile<TrustConfig> {
  constructor(policyDir: string | undefined, reloadSeconds: number, onError: (message: string) => void = () => {}) {
    super(() => existing(policyDir ? path.join(policyDir, TRUST_FILE) : undefined), () => loadTrustConfig(policyDir), reloadSeconds, 'trust configuration', onError);
  }
}
