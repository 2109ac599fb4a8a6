// The progress line of the CLI's long runs (collections backfill, hosts import): redrawn in place on a terminal, a
// plain line now and then in a log.

export interface CliIo {
  out: (line: string) => void;
  err: (text: string) => void;
  /** Whether stderr is a terminal (a progress bar redrawn in place), or a log (a line now and then). */
  tty: boolean;
}

/** One host's count so far. */
export interface Progress {
  hostname: string;
  done: number;
  failed: number;
  skipped: number;
}

/** What the line calls the items and the ones done. */
export interface ProgressWords {
  items: string;
  done: string;
}

/**
 * One line for a long run over many hosts: items handled (of a total, when known), with how many were done and
 * failed, redrawn at most ten times a second on a terminal.
 */
export class ProgressBar {
  private readonly hosts = new Map<string, Progress>();
  private last = 0;
  private drawn = false;
  private readonly io: CliIo;
  private readonly total: number;
  private readonly words: ProgressWords;
  constructor(io: CliIo, total: number, words: ProgressWords = { items: 'repos', done: 'described' }) {
    this.io = io;
    this.total = total;
    this.words = words;
  }

  get done(): number {
    return [...this.hosts.values()].reduce((n, p) => n + p.done, 0);
  }

  get failed(): number {
    return [...this.hosts.values()].reduce((n, p) => n + p.failed, 0);
  }

  update(p: Progress): void {
    this.hosts.set(p.hostname, { ...p });
    const now = Date.now();
    if (now - this.last < (this.io.tty ? 100 : 10_000)) return;
    this.last = now;
    const handled = [...this.hosts.values()].reduce((n, h) => n + h.done + h.failed + h.skipped, 0);
    const share = this.total > 0 ? Math.min(1, handled / this.total) : 0;
    const width = 30;
    const filled = Math.round(share * width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${handled}${this.total > 0 ? `/${this.total}` : ''} ${this.words.items}, ${this.done} ${this.words.done}, ${this.failed} failed (${p.hostname})`;
    if (this.io.tty) {
      this.io.err(`\r${line}\x1b[K`);
      this.drawn = true;
    } else {
      this.io.err(`${line}\n`);
    }
  }

  /** What erases the bar, so a line can be written in its place. */
  clear(): string {
    if (!this.drawn) return '';
    this.drawn = false;
    return '\r\x1b[K';
  }
}
