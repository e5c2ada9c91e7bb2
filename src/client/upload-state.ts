import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Where a chunked upload stands, kept on disk so that a later run can continue it. */
export interface UploadState {
  registry: string;
  repository: string;
  digest: string;
  size: number;
  /** The upload URL the registry gave last (it may change with every chunk). */
  location: string;
  /** Bytes the registry acknowledged. A resume asks the registry anyway: it may hold more. */
  offset: number;
  updatedAt: string;
}

export function stateFileOf(stateDir: string, digest: string): string {
  return path.join(stateDir, `${digest.replace(/^sha256:/, '').replace(/[^a-zA-Z0-9]/g, '_')}.json`);
}

export async function readUploadState(file: string): Promise<UploadState | undefined> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as UploadState;
    if (typeof s.location === 'string' && typeof s.offset === 'number' && typeof s.digest === 'string') return s;
  } catch {
    // missing or unreadable: there is nothing to resume
  }
  return undefined;
}

/** Replaced in one rename, so that a kill at any moment leaves either the old state or the new one. */
export async function writeUploadState(file: string, state: UploadState): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
  await rename(tmp, file);
}

export async function removeUploadState(file: string): Promise<void> {
  await rm(file, { force: true });
}
