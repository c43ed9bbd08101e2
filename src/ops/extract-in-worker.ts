// extractLayer on a worker thread. The main thread keeps the network, the
// tee into the blob store and the bookkeeping; the worker (layer-worker.ts)
// does the CPU-heavy part of one layer — inflate, hash, parse, write — and
// fingerprints the finished tree for the store's completion record. The
// promise settles exactly like extractLayer's: it resolves only after the
// input ended cleanly, the tar ended and the diff_id matched.

import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { KeelError, type ErrorCode, CODES } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import type { ExtractLayerOptions, LayerStats } from '../layer/index.ts';
import type { SerializedError, WorkerTask } from './layer-worker.ts';

export interface WorkerLayerStats extends LayerStats {
  /** fingerprintTree of the extracted tree, for the store's record. */
  readonly treeDigest: Digest;
}

/** Chunks in flight to the worker before the main thread waits for acks. */
const WINDOW = 8;

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './layer-worker.ts' : './layer-worker.js', import.meta.url);

function revive(error: SerializedError): KeelError {
  const code = (error.code in CODES ? error.code : 'E_INTERNAL') as ErrorCode;
  return new KeelError(code, error.message, { detail: { ...error.detail, ...(error.errno ? { errno: error.errno } : {}) }, ...(error.hint ? { hint: error.hint } : {}) });
}

export async function extractInWorker(input: Readable, dir: string, options: ExtractLayerOptions): Promise<WorkerLayerStats> {
  const { signal, ...rest } = options;
  const task: WorkerTask = { dir, options: rest };
  // Small heaps: a worker streams; it never holds much, and RSS matters at boot.
  const worker = new Worker(WORKER_URL, { workerData: task, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 } });
  let inFlight = 0;
  let wake: (() => void) | undefined;
  let settled = false;

  const result = new Promise<WorkerLayerStats>((resolve, reject) => {
    worker.on('message', (message: { type: 'ack' } | { type: 'done'; stats: LayerStats; treeDigest: Digest } | { type: 'error'; error: SerializedError }) => {
      if (message.type === 'ack') {
        inFlight--;
        wake?.();
        return;
      }
      settled = true;
      wake?.();
      if (message.type === 'done') resolve({ ...message.stats, treeDigest: message.treeDigest });
      else reject(revive(message.error));
    });
    worker.on('error', (err) => {
      settled = true;
      wake?.();
      reject(new KeelError('E_INTERNAL', `layer extraction worker failed: ${err.message}`, { cause: err }));
    });
    worker.on('exit', (code) => {
      if (!settled) {
        settled = true;
        wake?.();
        reject(new KeelError('E_INTERNAL', `layer extraction worker exited (${code}) before finishing`));
      }
    });
  });
  result.catch(() => undefined);

  const onAbort = (): void => {
    worker.postMessage({ type: 'fail' });
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        if (settled) break;
        worker.postMessage({ type: 'chunk', data: chunk });
        inFlight++;
        while (inFlight >= WINDOW && !settled) await new Promise<void>((r) => (wake = r));
      }
      if (!settled) worker.postMessage({ type: 'end' });
    } catch (err) {
      // The input failed (network, digest mismatch upstream): the worker stops, and the
      // input's own error is the one to report.
      worker.postMessage({ type: 'fail' });
      await result.catch(() => undefined);
      throw err;
    }
    if (signal?.aborted) onAbort();
    return await result;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    input.destroy();
    await worker.terminate().catch(() => undefined);
  }
}
