/**
 * Progress on stderr: a redrawn bar when stderr is a terminal, plain periodic lines otherwise (CI logs,
 * files), nothing with --quiet. stdout stays free for the command's result.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[i]}`;
}

export function formatRate(bytesPerSecond: number): string {
  let v = bytesPerSecond;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${UNITS[i]}/s`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export interface ReporterOptions {
  quiet?: boolean;
  /** Defaults to process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Between two plain lines when not a terminal; default 5 s, or CAIRN_PROGRESS_INTERVAL seconds. */
  intervalMs?: number;
}

const REDRAW_MS = 100;

export class Reporter {
  readonly quiet: boolean;
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  private readonly tty: boolean;
  private readonly intervalMs: number;
  /** The bar currently drawn on the terminal's last line, if any. */
  private drawn = false;

  constructor(opts: ReporterOptions = {}) {
    this.quiet = Boolean(opts.quiet);
    this.out = opts.stream ?? process.stderr;
    this.tty = Boolean(this.out.isTTY);
    const envSeconds = Number(process.env.CAIRN_PROGRESS_INTERVAL);
    this.intervalMs = opts.intervalMs ?? (Number.isFinite(envSeconds) && envSeconds > 0 ? envSeconds * 1000 : 5000);
  }

  /** A message line (resumes, skips, summaries); silent with --quiet. */
  info(message: string): void {
    if (this.quiet) return;
    this.clearBar();
    this.out.write(`${message}\n`);
  }

  /** A message that is shown even with --quiet (warnings). */
  warn(message: string): void {
    this.clearBar();
    this.out.write(`warning: ${message}\n`);
  }

  /** Tracks one transfer of `total` bytes, of which `start` were already done before (a resume). */
  task(label: string, total: number, start = 0): ProgressTask {
    return new ProgressTask(this, label, total, start);
  }

  /** @internal */
  render(task: ProgressTask, final: boolean): void {
    if (this.quiet) return;
    if (this.tty) {
      const width = Math.max(40, (this.out.columns ?? 100) - 1);
      const line = task.line(true, width);
      this.out.write(`\r\x1b[2K${line.slice(0, width)}`);
      this.drawn = true;
      if (final) {
        this.out.write('\n');
        this.drawn = false;
      }
    } else {
      this.out.write(`${task.line(false)}\n`);
    }
  }

  /** @internal */
  clearBar(): void {
    if (this.drawn) {
      this.out.write('\r\x1b[2K');
      this.drawn = false;
    }
  }

  /** @internal */
  get isTty(): boolean {
    return this.tty;
  }

  /** @internal */
  get plainIntervalMs(): number {
    return this.intervalMs;
  }
}

export class ProgressTask {
  private done: number;
  private readonly startedAt = Date.now();
  private lastRender = 0;
  private printedPlain = false;
  private finished = false;

  constructor(
    private readonly reporter: Reporter,
    private readonly label: string,
    private readonly total: number,
    private readonly start: number,
  ) {
    this.done = start;
    this.lastRender = Date.now();
  }

  /** Counts `n` more bytes. */
  add(n: number): void {
    this.done += n;
    const now = Date.now();
    const every = this.reporter.isTty ? REDRAW_MS : this.reporter.plainIntervalMs;
    if (now - this.lastRender >= every) {
      this.lastRender = now;
      this.printedPlain = !this.reporter.isTty || this.printedPlain;
      this.reporter.render(this, false);
    }
  }

  /** Sets the count back (a chunk that has to be sent again). */
  rewind(to: number): void {
    this.done = to;
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const seconds = (Date.now() - this.startedAt) / 1000;
    // Short transfers leave no trace on a terminal, and need no closing line in a log that never showed them.
    if (this.reporter.isTty ? seconds >= 1 : this.printedPlain) this.reporter.render(this, true);
    else this.reporter.clearBar();
  }

  /** @internal `<file>: 512.0 MiB / 1.0 GiB, 210 MiB/s, eta 3 s` (with a bar in front of the numbers on a terminal). */
  line(bar: boolean, width = 100): string {
    const seconds = Math.max((Date.now() - this.startedAt) / 1000, 0.001);
    const rate = (this.done - this.start) / seconds;
    const remaining = Math.max(this.total - this.done, 0);
    const tail = this.finished
      ? `${formatBytes(this.done)} in ${formatDuration(seconds)}, ${formatRate(rate)}`
      : `${formatBytes(this.done)} / ${formatBytes(this.total)}, ${formatRate(rate)}, eta ${rate > 0 ? formatDuration(remaining / rate) : '?'}`;
    if (!bar) return `${this.label}: ${tail}`;
    // The numbers matter more than the bar, and the end of a path more than its start.
    const room = Math.max(width - tail.length - 2, 8);
    const label =
      this.label.length > Math.min(room, 40) ? `…${this.label.slice(-(Math.min(room, 40) - 1))}` : this.label;
    const barWidth = Math.min(30, width - tail.length - label.length - 9);
    if (barWidth < 10) return `${label}: ${tail}`;
    const fraction = this.total > 0 ? Math.min(this.done / this.total, 1) : 1;
    const filled = Math.round(fraction * barWidth);
    return `${label} [${'#'.repeat(filled)}${' '.repeat(barWidth - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${tail}`;
  }
}
