import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface Containerd {
  dir: string;
  socket: string;
  /** `ctr -a SOCKET ARGS`; rejects on a non-zero exit, with ctr's stderr in the message. */
  ctr(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** `ctr -a SOCKET ARGS` with stdout as raw bytes (`content get`). */
  ctrBytes(...args: string[]): Promise<Buffer>;
  /** Kills containerd, waits for it to exit and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** Throws (never skips) when containerd or ctr is missing: CI installs them (.ci/run). */
export async function requireContainerd(): Promise<void> {
  for (const bin of ['containerd', 'ctr']) {
    await exec(bin, ['--version']).catch(() => {
      throw new Error(
        `${bin} is required for the containerd end-to-end test (.ci/run installs it with apt-get install containerd)`,
      );
    });
  }
}

const running = new Set<ChildProcess>();
// Jest may exit without afterAll (a worker killed on timeout); a daemon must never outlive the run.
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A private containerd: root, state, sockets and the "opt" directory (which otherwise lands in
 * /opt/containerd) all in one temporary directory, the CRI plugin off, so it shares nothing with a
 * system containerd.
 */
export async function startContainerd(): Promise<Containerd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-containerd-'));
  // A unix socket path is limited to 108 bytes; a short random name keeps it unique and short.
  const socket = path.join(dir, `c-${randomBytes(4).toString('hex')}.sock`);
  const config = path.join(dir, 'config.toml');
  await mkdir(path.join(dir, 'root'));
  await mkdir(path.join(dir, 'state'));
  await writeFile(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(path.join(dir, 'root'))}`,
      `state = ${JSON.stringify(path.join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(socket)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${JSON.stringify(path.join(dir, 'opt'))}`,
      '',
    ].join('\n'),
  );
  const logFile = path.join(dir, 'containerd.log');
  const log = openSync(logFile, 'w');
  const child = spawn('containerd', ['--config', config], { stdio: ['ignore', log, log] });
  closeSync(log);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
    running.delete(child);
  });

  const ctr = (...args: string[]) => exec('ctr', ['-a', socket, ...args], { timeout: 120_000, maxBuffer: 64 << 20 });
  const ctrBytes = async (...args: string[]) =>
    (await exec('ctr', ['-a', socket, ...args], { timeout: 120_000, maxBuffer: 256 << 20, encoding: 'buffer' })).stdout;

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!gone) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  // Ready when it answers over its socket; a daemon that dies on start is reported with its log.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gone) {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      await stop();
      throw new Error(`containerd exited on start:\n${text.slice(-4000)}`);
    }
    const ok = await exec('ctr', ['-a', socket, 'version'], { timeout: 10_000 }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      const text = await readFile(logFile, 'utf8').catch(() => '');
      await stop();
      throw new Error(`containerd did not answer on ${socket} within 60 s:\n${text.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { dir, socket, ctr, ctrBytes, stop };
}
