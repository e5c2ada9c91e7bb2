import { statSync } from 'node:fs';

/**
 * A configuration read from a file beside the policies, re-read when the file changes (looked at most
 * every `reloadSeconds`). A file that no longer parses leaves the previous value in force and is reported;
 * at construction it throws, so a registry never starts on a broken file.
 */
export class ReloadingFile<T> {
  private value: T;
  private stamp: string;
  private checkedAt = Date.now();

  constructor(
    /** Which file is in force now (undefined: none, the default applies). */
    private readonly locate: () => string | undefined,
    private readonly load: (file: string | undefined) => T,
    private readonly reloadSeconds: number,
    private readonly what: string,
    private readonly onError: (message: string) => void = () => {},
  ) {
    this.stamp = this.stampOf();
    this.value = load(locate());
  }

  /** The file and its modification time: a change of either is a change. */
  private stampOf(): string {
    const file = this.locate();
    if (!file) return '';
    try {
      return `${file}@${statSync(file).mtimeMs}`;
    } catch {
      return `${file}@missing`;
    }
  }

  current(): T {
    const now = Date.now();
    if (now - this.checkedAt < this.reloadSeconds * 1000) return this.value;
    this.checkedAt = now;
    const stamp = this.stampOf();
    if (stamp === this.stamp) return this.value;
    try {
      this.value = this.load(this.locate());
      this.stamp = stamp;
    } catch (err) {
      this.onError(`${this.what} not reloaded, the previous ones stay in force: ${(err as Error).message}`);
    }
    return this.value;
  }
}

/** The file if it exists. */
export function existing(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    statSync(file);
    return file;
  } catch {
    return undefined;
  }
}
