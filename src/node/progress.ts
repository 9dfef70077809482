/** Where a progress bar writes: process.stdout, or any stream-like object (tests pass a collector). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Default process.stdout. */
  stream?: ProgressStream;
  /** Redraw in place with carriage returns. Default: the stream is a TTY. */
  tty?: boolean;
  /** Without a TTY, print a line each time this fraction of the work more is done. Default 0.25. */
  lineEvery?: number;
}

/**
 * A one-line progress bar: `label [#######.......] 412/1000 41% 3.2s  loss 0.0123`.
 *
 * On a terminal it redraws in place at most every 80 ms; redirected to a file or a pipe (CI logs, a test's child
 * process) it prints a plain line every `lineEvery` of the work instead, since carriage returns would pile up there.
 */
export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly lineEvery: number;
  private readonly start = Date.now();
  private lastDraw = 0;
  private nextLine: number;
  private current = 0;
  private status = "";
  private finished = false;

  constructor(readonly label: string, readonly total: number, options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.lineEvery = options.lineEvery ?? 0.25;
    this.nextLine = this.lineEvery;
  }

  /** Sets the amount of work done (0..total) and an optional status such as the current loss. */
  update(done: number, status = ""): void {
    if (this.finished) return;
    this.current = Math.min(Math.max(done, 0), this.total);
    this.status = status;
    const fraction = this.total > 0 ? this.current / this.total : 1;
    if (this.tty) {
      const now = Date.now();
      if (now - this.lastDraw < 80 && this.current < this.total) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.render(status)}\x1b[K`);
    } else if (fraction >= this.nextLine && this.current < this.total) {
      while (this.nextLine <= fraction) this.nextLine += this.lineEvery;
      this.stream.write(`${this.render(status)}\n`);
    }
  }

  /** Draws the bar full and ends its line, with the last status given to update() unless another is given. */
  done(status = this.status): void {
    if (this.finished) return;
    this.current = this.total;
    const line = this.render(status);
    this.stream.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
    this.finished = true;
  }

  private render(status: string): string {
    const fraction = this.total > 0 ? this.current / this.total : 1;
    const width = 24;
    const filled = Math.round(fraction * width);
    const seconds = ((Date.now() - this.start) / 1000).toFixed(1);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
    const line = `  ${this.label} ${bar} ${this.current}/${this.total} ${pct} ${seconds}s${status ? `  ${status}` : ""}`;
    const columns = this.stream.columns ?? 120;
    return this.tty && line.length > columns - 1 ? line.slice(0, columns - 1) : line;
  }
}
