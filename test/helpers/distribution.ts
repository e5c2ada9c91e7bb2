import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

export interface Distribution {
  url: string;
  port: number;
  /** Stops the registry; its storage stays until close. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage. */
  start(): Promise<void>;
  close(): Promise<void>;
}

async function waitUp(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/v2/`);
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry at ${url} did not answer`);
}

/**
 * CNCF Distribution 2.8 (Debian's docker-registry) on a loopback port, file system storage with deletes
 * on, and Basic authentication from an htpasswd file when `user` is given. `port` reuses a port (a
 * registry that comes up where a client was failing to reach one).
 */
export async function startDistribution(
  opts: { user?: { name: string; password: string }; port?: number; startNow?: boolean } = {},
): Promise<Distribution> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-distribution-'));
  const port = opts.port ?? (await freePort());
  let auth = '';
  if (opts.user) {
    const line = execFileSync('htpasswd', ['-Bbn', opts.user.name, opts.user.password], { encoding: 'utf8' });
    await writeFile(path.join(dir, 'htpasswd'), line);
    auth = `auth:\n  htpasswd:\n    realm: distribution\n    path: ${dir}/htpasswd\n`;
  }
  const config = path.join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    await waitUp(url, child);
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  if (opts.startNow !== false) await start();
  return {
    url,
    port,
    start,
    stop,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
