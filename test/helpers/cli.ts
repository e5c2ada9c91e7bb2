import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');
const run = promisify(execFile);

/** Runs the built `cairn` command; never throws on a non-zero exit, returns it. */
export async function cairn(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
