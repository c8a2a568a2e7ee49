/**
 * Progress on stderr while a comparison runs: on a terminal, one line redrawn in place (a bar, the style, the
 * phase, the seconds left); otherwise (a pipe, a CI log) one plain line as each step starts, so logs stay readable.
 * A single line needs no library; the figures go to stdout, so `hub compare > table.txt` keeps them apart.
 */
export interface ProgressSink {
  /** A new step: `units` of the run's total it will take. */
  step(label: string, units: number): void;
  /** How far into the current step (0..1). */
  update(fraction: number): void;
  /** A line of its own (a notice), kept above the bar. */
  note(text: string): void;
  done(): void;
}

const WIDTH = 28;
const REDRAW_MS = 100;

export class Progress implements ProgressSink {
  #doneUnits = 0;
  #stepUnits = 0;
  #fraction = 0;
  #label = '';
  #last = 0;
  #drawn = false;

  constructor(
    readonly totalUnits: number,
    readonly stream: NodeJS.WriteStream = process.stderr,
    readonly tty = Boolean(process.stderr.isTTY),
  ) {}

  step(label: string, units: number): void {
    this.#doneUnits += this.#stepUnits;
    this.#stepUnits = units;
    this.#fraction = 0;
    this.#label = label;
    if (this.tty) this.#draw(true);
    else this.stream.write(`hub compare: ${label} (${Math.round(this.#percent())}% done)\n`);
  }

  update(fraction: number): void {
    this.#fraction = Math.max(0, Math.min(1, fraction));
    if (this.tty) this.#draw(false);
  }

  note(text: string): void {
    if (this.tty && this.#drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(`hub compare: ${text}\n`);
    if (this.tty) this.#draw(true);
  }

  done(): void {
    if (this.tty && this.#drawn) this.stream.write('\r\x1b[2K');
    this.#drawn = false;
  }

  #percent(): number {
    return this.totalUnits ? ((this.#doneUnits + this.#stepUnits * this.#fraction) / this.totalUnits) * 100 : 100;
  }

  #draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.#last < REDRAW_MS) return;
    this.#last = now;
    const pct = Math.min(100, this.#percent());
    const filled = Math.round((pct / 100) * WIDTH);
    const columns = this.stream.columns || 100;
    const line = `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${pct.toFixed(0).padStart(3)}% ${this.#label}`;
    this.stream.write(`\r\x1b[2K${line.slice(0, columns - 1)}`);
    this.#drawn = true;
  }
}
