/**
 * A one-line progress display for long CLI operations: items done, rate, bytes (and percent when the total is
 * known). It draws only when its stream is a terminal, so piped or redirected output never contains control
 * characters, and it redraws at most 10 times a second however often it is updated.
 */

/** The part of a tty.WriteStream the display needs. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): boolean;
}

const REDRAW_MS = 100;
const BAR_WIDTH = 20;

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export class Progress {
  readonly #stream: ProgressStream;
  readonly #label: string;
  readonly #unit: string;
  readonly #now: () => number;
  readonly #enabled: boolean;
  readonly #started: number;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #drawn = false;

  /** `label` starts the line, `unit` names what `done` counts; `stream` defaults to stderr. */
  constructor(options: { label: string; unit: string; stream?: ProgressStream; now?: () => number }) {
    this.#stream = options.stream ?? process.stderr;
    this.#label = options.label;
    this.#unit = options.unit;
    this.#now = options.now ?? (() => performance.now());
    this.#enabled = this.#stream.isTTY === true;
    this.#started = this.#now();
  }

  /** Reports the running totals; cheap to call often. */
  update(done: number, bytes: number, totalBytes?: number): void {
    if (!this.#enabled) return;
    const now = this.#now();
    if (now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    const parts = [
      this.#label,
      `${done.toLocaleString("en-US")} ${this.#unit}`,
      `${rate.toLocaleString("en-US")}/s`,
    ];
    if (totalBytes !== undefined && totalBytes > 0) {
      const fraction = Math.min(1, bytes / totalBytes);
      const filled = Math.round(fraction * BAR_WIDTH);
      parts.push(
        `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${Math.floor(fraction * 100)}%`,
        `${formatBytes(bytes)} / ${formatBytes(totalBytes)}`,
      );
    } else {
      parts.push(formatBytes(bytes));
    }
    let text = parts.filter((p) => p !== "").join("  ");
    const columns = this.#stream.columns;
    if (columns !== undefined && columns > 1 && text.length >= columns) text = text.slice(0, columns - 1);
    // \r returns to the start of the line and ESC[K clears what a longer previous line left behind.
    this.#stream.write(`\r${text}\x1b[K`);
    this.#drawn = true;
  }

  /** Erases the line so what is printed next starts clean. */
  done(): void {
    if (!this.#drawn) return;
    this.#stream.write("\r\x1b[K");
    this.#drawn = false;
  }
}
