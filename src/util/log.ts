/**
 * Output discipline: with --json, stdout carries exactly one JSON object and everything else goes
 * to stderr. Progress bars are drawn only on a TTY stderr and never in JSON/quiet mode.
 */
export interface Reporter {
  info(msg: string): void;
  warn(msg: string): void;
  progress(label: string, total: number): Progress;
}
export interface Progress {
  tick(n?: number): void;
  done(): void;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const r = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(r).padStart(2, '0')}`;
}

class Bar implements Progress {
  private n = 0;
  private last = 0;
  private readonly t0 = Date.now();
  constructor(private readonly label: string, private readonly total: number, private readonly stream: NodeJS.WriteStream) {}
  tick(k = 1): void {
    this.n += k;
    const now = Date.now();
    if (now - this.last < 100 && this.n < this.total) return;
    this.last = now;
    const frac = this.total > 0 ? Math.min(1, this.n / this.total) : 1;
    const el = (now - this.t0) / 1000;
    const eta = frac > 0 ? (el / frac) * (1 - frac) : Infinity;
    const width = 28;
    const fill = Math.round(frac * width);
    const rate = el > 0 ? this.n / el : 0;
    this.stream.write(
      `\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${this.n}/${this.total} ${rate.toFixed(1)}/s ETA ${fmtTime(eta)}   `,
    );
  }
  done(): void {
    this.stream.write(`\r${this.label} ${this.n}/${this.total} in ${fmtTime((Date.now() - this.t0) / 1000)}${' '.repeat(40)}\n`);
  }
}

const noProgress: Progress = { tick() {}, done() {} };

/** A reporter writing to stderr; `quiet` drops info lines, progress needs a TTY and !quiet. */
export function makeReporter(opts: { quiet?: boolean; json?: boolean } = {}): Reporter {
  const quiet = !!opts.quiet || !!opts.json;
  const tty = !!process.stderr.isTTY;
  return {
    info: (m) => {
      if (!quiet) process.stderr.write(m + '\n');
    },
    warn: (m) => process.stderr.write(`warning: ${m}\n`),
    progress: (label, total) => (!quiet && tty ? new Bar(label, total, process.stderr) : noProgress),
  };
}

/** A reporter that prints nothing (library default). */
export const silentReporter: Reporter = { info() {}, warn() {}, progress: () => noProgress };
