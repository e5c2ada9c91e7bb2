import { spawnSync } from 'node:child_process';
import { startRgw, type Rgw } from './rgw';

/**
 * Starts one Ceph RGW for the whole test run (about 10 s), shared by the S3 contract suite and the
 * conformance profile on S3. In CI it must be installed (.ci/run does it); elsewhere, without Ceph, the
 * S3 tests say so and do not run. CAIRN_TEST_S3=off skips it on purpose for a quick local run.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.CAIRN_TEST_S3 === 'off' && process.env.CI !== 'true') return;
  const installed = spawnSync('radosgw', ['--version']).status === 0;
  if (!installed) {
    if (process.env.CI === 'true') throw new Error('radosgw is not installed and CI=true (.ci/run installs it)');
    return;
  }
  const rgw = await startRgw();
  (globalThis as { __cairnRgw?: Rgw }).__cairnRgw = rgw;
  process.env.CAIRN_TEST_S3_ENDPOINT = rgw.endpoint;
  process.env.CAIRN_TEST_S3_ACCESS_KEY = rgw.accessKey;
  process.env.CAIRN_TEST_S3_SECRET_KEY = rgw.secretKey;
}
