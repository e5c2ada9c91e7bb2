import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';

const exec = promisify(execFile);

/**
 * A real S3 implementation for the tests: a throwaway one-node Ceph cluster (one monitor, one BlueStore
 * OSD on a sparse file) with the RADOS Gateway on loopback, from Debian's packages (radosgw, ceph-mon,
 * ceph-osd, uuid-runtime). The settings are the ones ../shared/backends.md found to work here.
 */
export interface Rgw {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  stop(): Promise<void>;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not come up within ${ms / 1000} s`);
}

export async function startRgw(): Promise<Rgw> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-rgw-'));
  for (const d of ['mon', 'osd', 'run', 'log', 'rgw']) await mkdir(path.join(dir, d));
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = path.join(dir, 'ceph.conf');
  await writeFile(path.join(dir, 'keyring'), '');
  await writeFile(
    conf,
    `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
mon max pg per osd = 1000
run dir = ${dir}/run
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
keyring = ${dir}/keyring
[mon.a]
mon data = ${dir}/mon
mon addr = v1:127.0.0.1:${monPort}
[osd.0]
osd data = ${dir}/osd
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 64424509440
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
# Deleted objects' space back within seconds (the default waits 2 h): the large-push tests write tens of GiB.
rgw gc obj min wait = 5
rgw gc processor period = 10
`,
  );
  const children: ChildProcess[] = [];
  const daemon = (cmd: string, args: string[]): ChildProcess => {
    const c = spawn(cmd, ['-c', conf, '-f', ...args], { stdio: 'ignore' });
    children.push(c);
    return c;
  };
  const stop = async () => {
    for (const c of children.reverse()) c.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await exec('monmaptool', [
      '--create',
      '--add',
      'a',
      `v1:127.0.0.1:${monPort}`,
      '--fsid',
      fsid,
      path.join(dir, 'monmap'),
    ]);
    await exec('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')]);
    daemon('ceph-mon', ['-i', 'a']);
    const osdUuid = randomUUID();
    await waitFor(
      'ceph-mon',
      async () =>
        (await exec('ceph', ['-c', conf, 'osd', 'new', osdUuid, '0'], { timeout: 10_000 })).stdout.trim() === '0',
      30_000,
    );
    await exec('ceph-osd', ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], { timeout: 60_000 });
    // Ceph's own start-up race: now and then the OSD's first command reaches the monitor before the OSD
    // has the monitor map ("handle_command on fsid 0000… != …", 'wrong fsid' in the OSD's log), and
    // the OSD gives up. Started again, it finds the map; the gateway starts once the OSD is up.
    let osd = daemon('ceph-osd', ['-i', '0']);
    await waitFor(
      'ceph-osd',
      async () => {
        if (osd.exitCode !== null || osd.signalCode !== null) {
          process.stderr.write(
            `rgw: ceph-osd exited during start-up (${osd.exitCode ?? osd.signalCode}); starting it again\n`,
          );
          osd = daemon('ceph-osd', ['-i', '0']);
          return false;
        }
        const stat = JSON.parse(
          (await exec('ceph', ['-c', conf, 'osd', 'stat', '-f', 'json'], { timeout: 10_000 })).stdout,
        ) as { num_up_osds?: number };
        return stat.num_up_osds === 1;
      },
      90_000,
    );
    daemon('radosgw', ['-n', 'client.rgw']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitFor('radosgw', async () => (await fetch(endpoint)).status === 200, 120_000);
    const accessKey = 'cairntest';
    const secretKey = randomUUID();
    await exec(
      'radosgw-admin',
      [
        '-c',
        conf,
        'user',
        'create',
        '--uid=cairn',
        '--display-name=cairn',
        `--access-key=${accessKey}`,
        `--secret-key=${secretKey}`,
      ],
      { timeout: 60_000 },
    );
    return { endpoint, accessKey, secretKey, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
