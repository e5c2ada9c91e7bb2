import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/** Whether SoftHSM2 is installed; with CI=true it must be (.ci/run installs it). */
export function softHsmAvailable(): boolean {
  const ok = spawnSync('softhsm2-util', ['--version']).status === 0;
  if (!ok && process.env.CI === 'true') throw new Error('softhsm2 is not installed and CI=true (.ci/run installs it)');
  return ok;
}

export interface SoftHsm {
  dir: string;
  tokens: string;
  /**
   * SOFTHSM2_CONF for the processes that use the token. Not this one's: a Jest worker's process.env is a
   * copy that native code never sees, so every HSM user in these tests is a child process.
   */
  env: Record<string, string>;
  uri(object: string, pin?: string): string;
  cleanup(): void;
}

/** A SoftHSM2 token of its own, in a temporary directory. */
export function startSoftHsm(label = 'cairn-test', pin = '1234'): SoftHsm {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-hsm-'));
  const tokens = path.join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { SOFTHSM2_CONF: conf };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', '87654321'], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  return {
    dir,
    tokens,
    env,
    uri: (object, p = pin) => `pkcs11:token=${label};object=${object}?module-path=${SOFTHSM_MODULE}&pin-value=${p}`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
