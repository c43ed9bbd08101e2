// Pull progress on terminals of any width: the live block's lines are cut to
// the width, so each takes one row and the cursor-up redraw lands on the
// block's first row. Checked by playing the bytes keel writes into a small
// terminal model (wrapping at the last column, cursor up, erase line, erase
// below, scrolling) and reading the screen back.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { Digest } from '../../../src/oci/digest.ts';
import type { LayerPlan } from '../../../src/ops/pull.ts';
import { PullProgress, cutToWidth, renderLayerLines } from '../../../src/cli/progress.ts';

/** A terminal with `columns` × `rows` and unlimited scrollback, as xterm behaves. */
class FakeTerminal {
  readonly isTTY = true;
  readonly columns: number;
  readonly rows: number;
  readonly lines: string[][] = [[]];
  row = 0;
  col = 0;
  #pendingWrap = false;

  constructor(columns: number, rows: number) {
    this.columns = columns;
    this.rows = rows;
  }

  get #top(): number {
    return Math.max(0, this.lines.length - this.rows);
  }

  #newline(): void {
    this.row += 1;
    this.col = 0;
    this.#pendingWrap = false;
    if (this.row >= this.lines.length) this.lines.push([]);
  }

  write(chunk: string): boolean {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i] as string;
      if (c === '\x1b') {
        const m = /^\x1b\[(\d*)([AKJ])/.exec(chunk.slice(i));
        assert.ok(m, `unexpected escape ${JSON.stringify(chunk.slice(i, i + 8))}`);
        const n = m[1] === '' ? 1 : Number(m[1]);
        if (m[2] === 'A') this.row = Math.max(this.#top, this.row - n);
        else if (m[2] === 'K') this.lines[this.row] = [];
        else {
          this.lines[this.row] = (this.lines[this.row] ?? []).slice(0, this.col);
          this.lines.length = this.row + 1;
        }
        this.#pendingWrap = false;
        i += m[0].length - 1;
      } else if (c === '\r') {
        this.col = 0;
        this.#pendingWrap = false;
      } else if (c === '\n') {
        this.#newline();
      } else {
        if (this.#pendingWrap) this.#newline();
        const line = (this.lines[this.row] ??= []);
        while (line.length < this.col) line.push(' ');
        line[this.col] = c;
        if (this.col === this.columns - 1) this.#pendingWrap = true;
        else this.col += 1;
      }
    }
    return true;
  }

  screen(): string[] {
    const out = this.lines.map((l) => l.join('').trimEnd());
    while (out.length > 0 && out[out.length - 1] === '') out.pop();
    return out;
  }
}

const digest = (i: number): Digest => `sha256:${i.toString(16).padStart(2, '0').repeat(32)}` as Digest;

function plans(n: number): LayerPlan[] {
  return Array.from({ length: n }, (_, i) => ({ digest: digest(i + 1), size: 3_000_000 + i * 1_234_567, cached: i === 0 }) as LayerPlan);
}

/** Runs a pull's progress through several redraws and returns the terminal. */
async function play(columns: number, rows: number, layers: LayerPlan[], name = 'registry.example.com:5000/team/etcd:v3.5.17'): Promise<FakeTerminal> {
  const term = new FakeTerminal(columns, rows);
  term.write('$ keel\n');
  const p = new PullProgress(term as unknown as NodeJS.WriteStream);
  p.resolved({ name, digest: digest(99), layers });
  for (const [i, l] of layers.entries()) {
    p.layerProgress(l.digest, Math.floor(l.size / 3));
    if (i % 2 === 0) p.layerDone(l.digest);
    await sleep(110); // one timer redraw
  }
  p.fail(); // the last redraw, without the summary line
  return term;
}

function expectedHeader(name: string, columns: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < name.length; i += columns) out.push(name.slice(i, i + columns));
  return out;
}

describe('the live block fits the terminal whatever its width', () => {
  for (const columns of [12, 20, 33, 40, 61, 80, 200]) {
    test(`${columns} columns: one row per layer, no line wider than the terminal, nothing left from earlier draws`, async () => {
      const layers = plans(4);
      const name = 'registry.example.com:5000/team/etcd:v3.5.17';
      const screen = (await play(columns, 40, layers, name)).screen();
      const header = expectedHeader(name, columns);
      assert.deepEqual(screen.slice(0, 1 + header.length), ['$ keel', ...header]);
      const block = screen.slice(1 + header.length);
      assert.equal(block.length, layers.length, `block:\n${block.join('\n')}`);
      for (const [i, line] of block.entries()) {
        assert.ok(line.length <= columns - 1, `${JSON.stringify(line)} is wider than ${columns - 1}`);
        assert.ok(`  ${digest(i + 1).slice(7, 19)}`.startsWith(line.replace(/…$/, '')) || line.startsWith(`  ${digest(i + 1).slice(7, 19)}`), `row ${i}: ${JSON.stringify(line)}`);
      }
      if (columns >= 80) {
        assert.match(block[0] ?? '', /\[={24}\] 3\.00 MB \/ 3\.00 MB {2}cached$/);
        assert.match(block[1] ?? '', /\[={8} {16}\] 1\.41 MB \/ 4\.23 MB {2}[0-9.]+ [kM]B\/s$/);
        assert.match(block[2] ?? '', /\[={24}\] 5\.47 MB \/ 5\.47 MB {2}done$/);
      }
    });
  }

  test('more layers than rows: the block keeps to rows - 2 lines and counts the rest', async () => {
    const layers = plans(12);
    const screen = (await play(80, 8, layers, 'img')).screen();
    assert.deepEqual(screen.slice(0, 2), ['$ keel', 'img']);
    const block = screen.slice(2);
    assert.equal(block.length, 6, block.join('\n'));
    assert.match(block[5] ?? '', /^ {2}… 7 more layers: \d+ done, \d+ cached, \d+ to go$/);
  });
});

describe('renderLayerLines and cutToWidth', () => {
  const state = (plan: LayerPlan, bytes: number, done: boolean) => ({ plan, bytes, done });
  const [a, b] = plans(2) as [LayerPlan, LayerPlan];

  test('the bar shrinks with the width and goes when it would be under 5 columns', () => {
    const at = (columns: number): string => renderLayerLines([state(b, 1_000_000, false)], 1, columns, undefined)[0] as string;
    const d = digest(2).slice(7, 19);
    assert.equal(at(100), `  ${d} [======${' '.repeat(18)}] 1.00 MB / 4.23 MB  1.00 MB/s`);
    assert.equal(at(70), `  ${d} [=====${' '.repeat(18)}] 1.00 MB / 4.23 MB  1.00 MB/s`);
    assert.equal(at(58), `  ${d} [===        ] 1.00 MB / 4.23 MB  1.00 MB/s`);
    assert.equal(at(50), `  ${d} 1.00 MB / 4.23 MB  1.00 MB/s`);
    assert.equal(at(20), `  ${d} 1.0…`);
    for (let w = 1; w <= 120; w++) assert.ok(at(w).length <= Math.max(1, w - 1), `width ${w}: ${at(w)}`);
  });

  test('an unknown width is taken as 80 columns; an unknown height shows every layer', () => {
    const lines = renderLayerLines(Array.from({ length: 50 }, () => state(a, 0, false)), 1, undefined, undefined);
    assert.equal(lines.length, 50);
    for (const l of lines) assert.ok(l.length <= 79);
  });

  test('cutToWidth marks a cut with …', () => {
    assert.equal(cutToWidth('abcdef', 6), 'abcdef');
    assert.equal(cutToWidth('abcdef', 4), 'abc…');
    assert.equal(cutToWidth('abcdef', 0), '');
  });
});

describe('layer warnings on a terminal', () => {
  test('are held back while the live block is drawn and printed under it at the end (issue 9)', async () => {
    const term = new FakeTerminal(80, 40);
    const layers = plans(2);
    const p = new PullProgress(term as unknown as NodeJS.WriteStream);
    p.resolved({ name: 'img', digest: digest(99), layers });
    p.layerWarning(digest(1), 'img: layer x: skipped 1 device node (the runtime provides /dev), e.g. /dev/null');
    await sleep(110); // a redraw after the warning must not overwrite it
    p.finish(digest(99));
    const screen = term.screen();
    const warning = screen.findIndex((l) => l.startsWith('keel: warning: img: layer x: skipped 1 device node'));
    assert.ok(warning > 0, screen.join('\n'));
    assert.ok(screen.findIndex((l) => l.startsWith('img: sha256:')) > warning, 'then the summary line');
  });
});
