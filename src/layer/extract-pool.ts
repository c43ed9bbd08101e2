// extractLayer on another thread: the main thread keeps fetching, hashing and
// writing blobs while extraction threads decompress, hash the diff_id, parse
// the tar and create the files (the file calls are synchronous and the kernel
// time of creating a file is most of a many-small-files layer; on one thread
// the two sides took turns, with the second core idle about half the time:
// bench/README.md). Same contract as extractLayer, same errors.
//
// The threads are started on first use, at most one per core but one
// (the main thread has the other), and kept for the process's life without
// holding it open: a thread with no layer is unref'd. A thread that dies fails
// its layers with E_INTERNAL and is replaced by the next layer that needs one.

import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KeelError } from '../errors.ts';
import { EXTRACT_THREAD_NAME, phaseClock } from '../util/phase-clock.ts';
import { STREAM_CHUNK } from '../util/stream-chunk.ts';
import type { ExtractLayerOptions, LayerStats } from './extract.ts';
import { fromWire, toWire, type FromThread, type ToThread } from './extract-protocol.ts';

/**
 * Layers of this size or more (compressed) are extracted on a thread. Where
 * the bytes dominate, the main thread was the bottleneck (three sha256 passes
 * over every byte, tar parsing, the zlib and write callbacks): on the ~1 GiB
 * bench image a pull took 7.7 s in one thread and 6.0 s with one extraction
 * thread on 2 cores. Smaller layers gain nothing measurable (a Debian image of
 * many small files: 1.9 s either way, its time is the kernel's file creation)
 * and a thread costs memory: ~24 MB for the isolate, plus the garbage of a
 * second heap (peak RSS of the 1 GiB pull 147 -> 200 MB). bench/README.md.
 */
export const OFF_THREAD_MIN_BYTES = 32 << 20;

/** Unacknowledged bytes in flight to a thread, per layer, before the input is paused. */
const IN_FLIGHT = 4 * STREAM_CHUNK;

interface Pending {
  ack(bytes: number): void;
  settle(msg: Extract<FromThread, { type: 'done' | 'failed' }>): void;
  crash(err: KeelError): void;
}

interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, Pending>;
}

const slots: Slot[] = [];
let nextId = 1;

/** The number of extraction threads a process uses: the cores but one (at least one). */
export function extractThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * Extracts a layer as extractLayer does, on an extraction thread. The input
 * is read here and its chunks copied to the thread (the caller's buffers may
 * be shared, as with the tee into the blob store); the signal aborts the
 * extraction there.
 */
export function extractLayerOffThread(input: Readable, dir: string, options: ExtractLayerOptions): Promise<LayerStats> {
  const { signal, ...wire } = options;
  const slot = pickSlot();
  const id = nextId++;
  const post = (msg: ToThread, transfer?: ArrayBuffer[]): void => slot.worker.postMessage(msg, transfer);
  return new Promise<LayerStats>((resolve, reject) => {
    let inFlight = 0;
    let settled = false;
    let inputDone = false;
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const copy = new Uint8Array(bytes.byteLength);
      copy.set(bytes);
      inFlight += copy.byteLength;
      post({ type: 'chunk', id, chunk: copy }, [copy.buffer]);
      if (inFlight >= IN_FLIGHT) input.pause();
    };
    const onEnd = (): void => {
      inputDone = true;
      post({ type: 'end', id });
    };
    const onError = (err: Error): void => {
      inputDone = true;
      post({ type: 'fail', id, error: toWire(err) });
    };
    const onClose = (): void => {
      if (inputDone) return;
      // destroyed without an error: what pipeline reports in one thread
      onError(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    const onAbort = (): void => post({ type: 'abort', id });
    const finish = (err: Error | undefined, stats?: LayerStats): void => {
      if (settled) return;
      settled = true;
      slot.jobs.delete(id);
      if (slot.jobs.size === 0) slot.worker.unref();
      input.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) {
        input.on('error', () => undefined);
        input.destroy(err); // with the error, as extractLayer's pipeline destroys its input (a tee then stops its other branch)
        reject(err);
      } else resolve(stats as LayerStats);
    };

    slot.jobs.set(id, {
      ack(bytes) {
        inFlight -= bytes;
        if (inFlight < IN_FLIGHT && !inputDone && input.isPaused()) input.resume();
      },
      settle(msg) {
        phaseClock.addTotals(msg.phases);
        if (msg.type === 'done') finish(undefined, msg.stats);
        else finish(fromWire(msg.error));
      },
      crash: (err) => finish(err),
    });
    slot.worker.ref();
    post({ type: 'start', id, dir, options: wire, timings: phaseClock.enabled });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    if (input.destroyed) return void onError(input.errored ?? Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })); // its events are past
    input.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
  });
}

/**
 * Ends every extraction thread; their layers fail with E_INTERNAL. For tests
 * (a thread that dies) and for an embedder that wants the threads gone; the
 * CLI need not call it (idle threads do not hold the process open).
 */
export async function stopExtractThreads(): Promise<void> {
  await Promise.all(slots.map((s) => s.worker.terminate()));
}

/** The thread with the fewest layers, or a new one while there are fewer than extractThreads() and all are busy. */
function pickSlot(): Slot {
  let best: Slot | undefined;
  for (const s of slots) if (best === undefined || s.jobs.size < best.jobs.size) best = s;
  if (best !== undefined && (best.jobs.size === 0 || slots.length >= extractThreads())) return best;
  return startSlot();
}

function startSlot(): Slot {
  const here = fileURLToPath(import.meta.url);
  // extract-thread.ts beside this file in a source checkout (tests), extract-thread.js in dist/
  const entry = path.join(path.dirname(here), `extract-thread${path.extname(here)}`);
  const worker = new Worker(entry, { name: EXTRACT_THREAD_NAME, stdout: false, stderr: false });
  const slot: Slot = { worker, jobs: new Map() };
  slots.push(slot);
  const fail = (why: string): void => {
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    const err = new KeelError('E_INTERNAL', `a layer extraction thread ${why}`, { hint: 'run the command again; if it persists, report it' });
    for (const job of [...slot.jobs.values()]) job.crash(err);
  };
  worker.on('message', (msg: FromThread) => {
    const job = slot.jobs.get(msg.id);
    if (job === undefined) return;
    if (msg.type === 'ack') job.ack(msg.bytes);
    else job.settle(msg);
  });
  worker.on('error', (err) => fail(`failed: ${err.message}`));
  worker.on('exit', (code) => fail(`exited (${code})`));
  worker.unref();
  return slot;
}
