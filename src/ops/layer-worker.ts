// The worker-thread side of extractInWorker (extract-in-worker.ts): runs one
// layer's decompression, diff_id hashing, tar parsing, file writes and the
// tree fingerprint off the main thread, so layers extract on every core while
// the main thread moves bytes from the network to the store.
//
// Protocol (messages on the worker's parentPort):
//   in:  { type: 'chunk', data }   bytes of the compressed layer, in order
//        { type: 'end' }           the input ended cleanly
//        { type: 'fail' }          the input failed: stop, report nothing new
//   out: { type: 'ack' }           one per chunk, once the chunk was consumed (flow control)
//        { type: 'done', stats, treeDigest } | { type: 'error', error }

import { Readable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { KeelError, errnoCode } from '../errors.ts';
import { extractLayer, type ExtractLayerOptions } from '../layer/index.ts';
import { fingerprintTree } from '../store/index.ts';

export interface WorkerTask {
  readonly dir: string;
  readonly options: Omit<ExtractLayerOptions, 'signal'>;
}

export interface SerializedError {
  readonly code: string;
  readonly message: string;
  readonly detail?: Readonly<Record<string, unknown>> | undefined;
  readonly hint?: string | undefined;
  readonly errno?: string | undefined;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof KeelError) return { code: err.code, message: err.message, detail: err.detail, hint: err.hint };
  return { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err), errno: errnoCode(err) };
}

const port = parentPort;
if (port) {
  const task = workerData as WorkerTask;
  const controller = new AbortController();
  let pendingAcks = 0;
  let wantMore = true;
  const input = new Readable({
    highWaterMark: 1 << 20,
    read() {
      wantMore = true;
      while (pendingAcks > 0) {
        pendingAcks--;
        port.postMessage({ type: 'ack' });
      }
    },
  });
  port.on('message', (message: { type: 'chunk'; data: Uint8Array } | { type: 'end' } | { type: 'fail' }) => {
    if (message.type === 'chunk') {
      const buf = Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
      wantMore = input.push(buf);
      if (wantMore) port.postMessage({ type: 'ack' });
      else pendingAcks++;
    } else if (message.type === 'end') {
      input.push(null);
    } else {
      controller.abort(new KeelError('E_INTERRUPTED', 'the layer stream failed'));
      input.destroy(new KeelError('E_INTERRUPTED', 'the layer stream failed'));
    }
  });
  void (async () => {
    try {
      const stats = await extractLayer(input, task.dir, { ...task.options, signal: controller.signal });
      const treeDigest = await fingerprintTree(task.dir);
      port.postMessage({ type: 'done', stats: { ...stats, implicitDirs: [...stats.implicitDirs], warnings: [...stats.warnings] }, treeDigest });
    } catch (err) {
      port.postMessage({ type: 'error', error: serializeError(err) });
    } finally {
      port.close();
    }
  })();
}
