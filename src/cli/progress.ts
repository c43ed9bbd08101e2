// Pull progress for people. On a TTY: one live bar per layer (bytes, rate),
// redrawn at most 10 times a second on stderr. Otherwise: one summary line per
// image when it is done, so logs stay readable.
//
// Invariant of the redraw: every line of the live block is cut to the
// terminal's width (out.columns, read at each draw) minus one, and the block
// has at most out.rows - 2 lines, so each line takes exactly one row and the
// cursor-up by the number of lines drawn lands on the block's first row,
// however narrow the terminal. Each draw reads the width again and erases
// what is below the block (a terminal that reflows its old lines when it is
// narrowed may keep one stale copy above the block; the block itself is right).

import type { Digest } from '../oci/digest.ts';
import type { LayerPlan, PullObserver } from '../ops/pull.ts';
import { shortDigest } from '../plan/index.ts';
import { formatBytes, formatDuration } from './format.ts';

export interface LayerState {
  readonly plan: LayerPlan;
  bytes: number;
  done: boolean;
}

export class PullProgress implements PullObserver {
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #started = Date.now();
  #name = '';
  #layers = new Map<Digest, LayerState>();
  #drawnLines = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Layer warnings held back while the live block is drawn (printed under it at the end). */
  readonly #warnings: string[] = [];

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    this.#tty = out.isTTY === true && process.env.TERM !== 'dumb';
  }

  resolved(image: { name: string; digest: Digest; layers: readonly LayerPlan[] }): void {
    this.#name = image.name;
    this.#layers = new Map(image.layers.map((plan) => [plan.digest, { plan, bytes: plan.cached ? plan.size : 0, done: plan.cached }]));
    if (this.#tty) {
      this.#out.write(`${image.name}\n`);
      this.#timer = setInterval(() => this.#draw(), 100);
      this.#timer.unref();
      this.#draw();
    }
  }

  layerProgress(digest: Digest, bytes: number): void {
    const layer = this.#layers.get(digest);
    if (layer) layer.bytes += bytes;
  }

  layerDone(digest: Digest): void {
    const layer = this.#layers.get(digest);
    if (layer) {
      layer.done = true;
      layer.bytes = layer.plan.size;
    }
  }

  /** A layer's extraction warning: at once without a terminal, under the live block when it ends. */
  layerWarning(_digest: Digest, message: string): void {
    if (this.#tty && this.#timer !== undefined) this.#warnings.push(message);
    else this.#out.write(`keel: warning: ${message}\n`);
  }

  /** Final line; call once the pull succeeded. */
  finish(digest: Digest): void {
    this.#stop();
    const layers = [...this.#layers.values()];
    const cached = layers.filter((l) => l.plan.cached).length;
    const fetched = layers.filter((l) => !l.plan.cached).reduce((s, l) => s + l.plan.size, 0);
    const elapsed = Date.now() - this.#started;
    this.#out.write(
      `${this.#name}: ${digest} (${layers.length} layers, ${cached} cached, ${formatBytes(fetched)} fetched in ${formatDuration(elapsed)})\n`,
    );
  }

  fail(): void {
    this.#stop();
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty) this.#draw();
    for (const w of this.#warnings.splice(0)) this.#out.write(`keel: warning: ${w}\n`);
  }

  #draw(): void {
    const seconds = Math.max(0.001, (Date.now() - this.#started) / 1000);
    const lines = renderLayerLines([...this.#layers.values()], seconds, this.#out.columns, this.#out.rows);
    const up = this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}A` : '';
    this.#out.write(`${up}\r${lines.map((l) => `\x1b[2K${l}\n`).join('')}\x1b[J`);
    this.#drawnLines = lines.length;
  }
}

/** Columns assumed when the stream does not say (not a real terminal). */
const DEFAULT_COLUMNS = 80;
const MAX_BAR = 24;
const MIN_BAR = 5;

/** `text` cut to at most `width` characters (code points), with … when cut. */
export function cutToWidth(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return '';
  return `${chars.slice(0, width - 1).join('')}…`;
}

function layerLine(layer: LayerState, seconds: number, width: number): string {
  const size = layer.plan.size;
  const fraction = size > 0 ? Math.min(1, layer.bytes / size) : 1;
  const state = layer.plan.cached ? 'cached' : layer.done ? 'done' : `${formatBytes(layer.bytes / seconds)}/s`;
  const head = `  ${shortDigest(layer.plan.digest)} `;
  const tail = `${formatBytes(layer.bytes)} / ${formatBytes(size)}  ${state}`;
  // the bar takes what is left of the width, up to MAX_BAR; below MIN_BAR it is left out
  const barWidth = Math.min(MAX_BAR, width - head.length - tail.length - 3);
  if (barWidth < MIN_BAR) return cutToWidth(`${head}${tail}`, width);
  const filled = Math.round(fraction * barWidth);
  return `${head}[${'='.repeat(filled)}${' '.repeat(barWidth - filled)}] ${tail}`;
}

/**
 * The live block's lines for a terminal of `columns` × `rows` (undefined:
 * not known): one per layer, each at most columns - 1 characters (writing
 * the last column makes some terminals wrap); when the layers do not fit in
 * rows - 2 lines, the ones still moving are shown and one line counts the rest.
 */
export function renderLayerLines(layers: readonly LayerState[], seconds: number, columns: number | undefined, rows: number | undefined): string[] {
  const width = Math.max(1, (columns !== undefined && columns > 0 ? columns : DEFAULT_COLUMNS) - 1);
  const maxLines = rows !== undefined && rows > 0 ? Math.max(1, rows - 2) : Infinity;
  let shown = [...layers];
  let rest: LayerState[] = [];
  if (shown.length > maxLines) {
    const moving = shown.filter((l) => !l.done);
    const settled = shown.filter((l) => l.done);
    shown = [...moving, ...settled].slice(0, maxLines - 1);
    rest = layers.filter((l) => !shown.includes(l));
    shown = layers.filter((l) => shown.includes(l)); // keep the image's layer order
  }
  const lines = shown.map((l) => layerLine(l, seconds, width));
  if (rest.length > 0) {
    const done = rest.filter((l) => l.done && !l.plan.cached).length;
    const cached = rest.filter((l) => l.plan.cached).length;
    const waiting = rest.length - done - cached;
    lines.push(cutToWidth(`  … ${rest.length} more layers: ${done} done, ${cached} cached, ${waiting} to go`, width));
  }
  return lines;
}
