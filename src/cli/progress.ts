// Pull progress for people. On a TTY: one live bar per layer (bytes, rate),
// redrawn at most 10 times a second on stderr. Otherwise: one summary line per
// image when it is done, so logs stay readable.

import type { Digest } from '../oci/digest.ts';
import type { LayerPlan, PullObserver } from '../ops/pull.ts';
import { formatBytes, formatDuration, shortDigest } from './format.ts';

interface LayerState {
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
  }

  #draw(): void {
    const seconds = Math.max(0.001, (Date.now() - this.#started) / 1000);
    const lines: string[] = [];
    for (const layer of this.#layers.values()) {
      const size = layer.plan.size;
      const fraction = size > 0 ? Math.min(1, layer.bytes / size) : 1;
      const width = 24;
      const filled = Math.round(fraction * width);
      const bar = `${'='.repeat(filled)}${' '.repeat(width - filled)}`;
      const state = layer.plan.cached ? 'cached' : layer.done ? 'done' : `${formatBytes(layer.bytes / seconds)}/s`;
      lines.push(`  ${shortDigest(layer.plan.digest)} [${bar}] ${formatBytes(layer.bytes)} / ${formatBytes(size)}  ${state}`);
    }
    const up = this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}A` : '';
    this.#out.write(`${up}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    this.#drawnLines = lines.length;
  }
}
