// Where a pull's time goes, by phase, for `keel pull --timings` and
// bench/pull.ts. Off unless enabled: then now() is one branch and add() none.
//
// Two kinds of phase. Work on the main thread (hashing, tar parsing and file
// creation, the store's own writes) is timed around the synchronous calls, so
// its figure is main-thread time. Waits (the source delivering bytes, a sync,
// a fingerprint) are timed from start to end, so their figure is wall time;
// layers run at once, so a phase's sum over layers can exceed the pull's wall
// time. Beside the phases, the CPU time of each kind of thread of the process
// (/proc/self/task/*/stat): the main thread, the extraction threads
// (layer/extract-pool.ts), libuv's pool (inflating, and the file calls that run
// there) and V8's helpers (garbage collection). An extraction thread has its
// own clock; its totals are added to the main thread's as each layer ends
// (takeTotals/addTotals), so `extract` and `verify` are thread time summed
// over the threads that did the work.

import { readFileSync, readdirSync } from 'node:fs';

export type Phase =
  | 'resolve' // manifests and config, up to the first layer
  | 'fetch' // a layer's bytes, from asking the source to the last byte (wall, per layer)
  | 'verify' // sha256 of blobs and diff_ids (the thread that hashes)
  | 'extract' // tar parsing and creating the layer's files (the thread that extracts)
  | 'blob-write' // writing blobs into the store (main thread side of async writes)
  | 'fingerprint' // the tree digest at commit (wall)
  | 'sync' // syncfs before a layer counts as stored (wall)
  | 'commit'; // rename into place and the record (wall)

export interface PhaseReport {
  readonly wallMs: number;
  readonly phases: Readonly<Partial<Record<Phase, { readonly ms: number; readonly count: number }>>>;
  /** CPU ms by thread kind since the clock was started: main, extract (extraction threads), pool (libuv), v8 (GC, compiler), other. */
  readonly cpuMs: Readonly<Record<CpuKind, number>>;
}

type CpuKind = 'main' | 'extract' | 'pool' | 'v8' | 'other';

/** A clock's phase sums, to carry to another thread's clock. */
export type PhaseTotals = ReadonlyArray<{ readonly phase: Phase; readonly ns: bigint; readonly count: number }>;

/** The name extraction threads are given (Worker's `name`), by which their CPU is counted. */
export const EXTRACT_THREAD_NAME = 'keel-extract';

export class PhaseClock {
  #enabled = false;
  #started = 0n;
  #cpuAtStart: Record<string, number> = {};
  readonly #ns = new Map<Phase, { ns: bigint; count: number }>();

  /** Starts (or restarts) timing from now. */
  start(): void {
    this.#enabled = true;
    this.#ns.clear();
    this.#started = process.hrtime.bigint();
    this.#cpuAtStart = threadCpuMs();
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** A start mark for add(); 0n when off. */
  now(): bigint {
    return this.#enabled ? process.hrtime.bigint() : 0n;
  }

  /** Adds the time since `mark` (from now()) to `phase`. */
  add(phase: Phase, mark: bigint): void {
    if (!this.#enabled || mark === 0n) return;
    const e = this.#ns.get(phase) ?? { ns: 0n, count: 0 };
    e.ns += process.hrtime.bigint() - mark;
    e.count += 1;
    this.#ns.set(phase, e);
  }

  /** Times an async step as a whole (a wait phase). */
  async measure<T>(phase: Phase, fn: () => Promise<T>): Promise<T> {
    const mark = this.now();
    try {
      return await fn();
    } finally {
      this.add(phase, mark);
    }
  }

  /** The phase sums so far, cleared (an extraction thread hands them to the main thread's clock). */
  takeTotals(): PhaseTotals {
    const out = [...this.#ns].map(([phase, e]) => ({ phase, ns: e.ns, count: e.count }));
    this.#ns.clear();
    return out;
  }

  /** Adds another thread's sums (from takeTotals). */
  addTotals(totals: PhaseTotals): void {
    if (!this.#enabled) return;
    for (const t of totals) {
      const e = this.#ns.get(t.phase) ?? { ns: 0n, count: 0 };
      e.ns += t.ns;
      e.count += t.count;
      this.#ns.set(t.phase, e);
    }
  }

  report(): PhaseReport {
    const phases: Partial<Record<Phase, { ms: number; count: number }>> = {};
    for (const [phase, e] of this.#ns) phases[phase] = { ms: round(Number(e.ns) / 1e6), count: e.count };
    const cpu = threadCpuMs();
    const since = (kind: string): number => round((cpu[kind] ?? 0) - (this.#cpuAtStart[kind] ?? 0));
    return {
      wallMs: round(Number(process.hrtime.bigint() - this.#started) / 1e6),
      phases,
      cpuMs: { main: since('main'), extract: since('extract'), pool: since('pool'), v8: since('v8'), other: since('other') },
    };
  }
}

/** The process's one clock (a pull runs in one process; the CLI starts it per image). */
export const phaseClock = new PhaseClock();

/** One line for humans: `wall 3.48 s; fetch 3.10 s ×5; verify 0.21 s; ...; CPU main 2.1 s, extract 1.2 s, pool 0.8 s, v8 0.2 s` (extract and other only when used). */
export function formatPhaseReport(r: PhaseReport): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  const parts = [`wall ${s(r.wallMs)}`];
  for (const [phase, e] of Object.entries(r.phases)) parts.push(`${phase} ${s(e.ms)}${e.count > 1 ? ` ×${e.count}` : ''}`);
  const extract = r.cpuMs.extract > 0 ? `, extract ${s(r.cpuMs.extract)}` : '';
  parts.push(`CPU main ${s(r.cpuMs.main)}${extract}, pool ${s(r.cpuMs.pool)}, v8 ${s(r.cpuMs.v8)}${r.cpuMs.other > 0 ? `, other ${s(r.cpuMs.other)}` : ''}`);
  return parts.join('; ');
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
const TICK_MS = 10; // USER_HZ is 100 on Linux

function threadCpuMs(): Record<string, number> {
  const out: Record<string, number> = {};
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      const ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
      const kind: CpuKind =
        name === 'MainThread' || tid === String(process.pid) ? 'main' : name === EXTRACT_THREAD_NAME ? 'extract' : name.startsWith('libuv-worker') ? 'pool' : name.startsWith('V8') ? 'v8' : 'other';
      out[kind] = (out[kind] ?? 0) + ms;
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}
