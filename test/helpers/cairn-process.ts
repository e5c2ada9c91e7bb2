import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');

/**
 * `cairn serve` as its own process on `dir` (embedded defaults, auth off unless `env` says otherwise),
 * resolved with its URL once it listens: for tests that kill it, or measure it apart from the test.
 */
export async function serveCairn(
  dir: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [bin, 'serve', ...args], {
    env: {
      ...process.env,
      CAIRN_LISTEN: '127.0.0.1:0',
      CAIRN_DATA_DIR: dir,
      CAIRN_AUTH: 'none',
      CAIRN_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('cairn registry listening'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line).url);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  // Logs are not read past start-up: a full pipe must never stall the server.
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, url };
}

/** Stops a `cairn serve` started by serveCairn (SIGTERM) and waits for it to exit; nothing when absent. */
export async function stopCairn(server: { child: ChildProcess } | undefined): Promise<void> {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
}

/** A process's resident set size in bytes (Linux /proc). */
export async function memoryOf(pid: number): Promise<{ rss: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024 };
}
