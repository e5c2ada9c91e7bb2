import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { adminPassword, startAuthRegistry } from '../helpers/auth';
import type { BackendProfile, TestRegistry } from '../helpers/server';

/**
 * The official OCI distribution-spec conformance suite (../shared/tools/oci-conformance, built from its
 * public sources), against Cairn with token authentication on, as users run it: 0 failed, on the
 * embedded defaults and on PostgreSQL + Redis. Our own conformance tests are our reading of the spec;
 * this is the spec's. In CI the suite must be there.
 */
const suite = path.resolve(__dirname, '../../../shared/tools/oci-conformance/run.sh');
const present = existsSync(suite);
if (!present && process.env.CI === 'true')
  throw new Error(`the official conformance suite is missing at ${suite} (CI has ../shared/tools)`);
if (!present) console.warn(`no official conformance suite at ${suite}: not run here`);

function runSuite(
  url: string,
  user: string,
  password: string,
  reportDir: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    // Cairn mounts only with `from`: the suite's automatic-cross-mount spec runs in its "disabled" form.
    const env = { ...process.env, OCI_REPORT_DIR: reportDir, OCI_AUTOMATIC_CROSSMOUNT: 'false' };
    execFile(
      'bash',
      [suite, url, user, password],
      { env, timeout: 300_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
      },
    );
  });
}

const PROFILES: [string, BackendProfile][] = [
  ['embedded defaults (SQLite, memory sessions, file system)', { database: 'sqlite', sessions: 'memory' }],
  ['PostgreSQL + Redis', { database: 'postgres', sessions: 'redis' }],
];

(present ? describe : describe.skip).each(PROFILES)(
  'the official OCI conformance suite, token auth on, %s',
  (_name, profile) => {
    let reg: TestRegistry;
    let report: string;
    beforeAll(async () => {
      reg = await startAuthRegistry(profile);
      report = await mkdtemp(path.join(os.tmpdir(), 'cairn-oci-conformance-'));
    });
    afterAll(async () => {
      await reg?.close();
      await rm(report, { recursive: true, force: true });
    });

    it('passes every spec it runs (0 failed)', async () => {
      const { code, output } = await runSuite(reg.url, 'admin', await adminPassword(reg), report);
      const closing = /(\d+) passed, (\d+) failed/.exec(output);
      if (!closing || code !== 0) {
        const detail = await readFile(path.join(report, 'stdout.txt'), 'utf8').catch(() => output);
        throw new Error(`conformance suite exit ${code}:\n${output}\n${detail.slice(-6000)}`);
      }
      expect(Number(closing[2])).toBe(0);
      // All four workflows ran: pull, push, content discovery, content management (75 specs at this commit).
      expect(Number(closing[1])).toBeGreaterThanOrEqual(75);
    });
  },
);
