import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

export interface SourceFile {
  /** Relative to the packed directory, `/`-separated: what the layer annotations carry. */
  relPath: string;
  absPath: string;
  size: number;
}

/** Input a push cannot use; the message says what to change. */
export class PackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackError';
  }
}

/** Files of the packing tool itself, never part of an artifact. */
export const METADATA_FILES = ['cairn.yaml', 'cairn.yml'];
/** `cairn pull` downloads into `<file>.partial`; a half-downloaded file is not content. */
export const PARTIAL_SUFFIX = '.partial';

function inside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The regular files under `root` in a stable (byte-wise sorted) order. Symbolic links are followed when
 * they stay inside the directory; one that leaves it is refused rather than skipped, since silently
 * dropping, say, a weights file linked from a cache would produce a broken artifact.
 */
export async function listFiles(root: string): Promise<SourceFile[]> {
  let rootStat;
  try {
    rootStat = await stat(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PackError(`no such directory: ${root}`);
    throw err;
  }
  if (!rootStat.isDirectory()) throw new PackError(`${root} is not a directory`);
  const rootReal = await realpath(root);
  const out: SourceFile[] = [];
  // Real paths of directories being walked: a link back to an ancestor would loop forever.
  const visiting = new Set<string>();

  const walk = async (dir: string, rel: string, real: string): Promise<void> => {
    if (visiting.has(real)) throw new PackError(`${rel || '.'}: a symbolic link loops back to a directory above it`);
    visiting.add(real);
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const name = entry.name;
      const relPath = rel ? `${rel}/${name}` : name;
      const absPath = path.join(dir, name);
      if (name === '.git') continue;
      if (!rel && METADATA_FILES.includes(name)) continue;
      if (name.endsWith(PARTIAL_SUFFIX)) continue;
      let info = await lstat(absPath);
      let realTarget = path.join(real, name);
      if (info.isSymbolicLink()) {
        try {
          realTarget = await realpath(absPath);
        } catch {
          throw new PackError(
            `${relPath} is a symbolic link to nothing; remove it or make it point to a file inside ${root}`,
          );
        }
        if (!inside(rootReal, realTarget)) {
          throw new PackError(
            `refusing to pack ${relPath}: it is a symbolic link to ${realTarget}, outside ${root}. Copy the file into the directory (or remove the link) and push again`,
          );
        }
        info = await stat(absPath);
      }
      if (info.isDirectory()) await walk(absPath, relPath, realTarget);
      else if (info.isFile()) out.push({ relPath, absPath, size: info.size });
      else
        throw new PackError(
          `${relPath} is neither a file nor a directory (a socket or device?); remove it from ${root}`,
        );
    }
    visiting.delete(real);
  };

  await walk(root, '', rootReal);
  return out.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
}
