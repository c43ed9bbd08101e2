// The entry of an extraction thread (started by extract-pool.ts): runs
// extractLayer for each layer the main thread sends, on a stream fed by its
// messages, and answers with the layer's stats or its error. Several layers
// may extract in one thread at once, as they would on the main thread.
//
// Flow control: a chunk is acknowledged once the extractor's input has room
// for it (at once, or when the extractor next reads), and the main thread
// stops sending while too many bytes are unacknowledged.

import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { phaseClock } from '../util/phase-clock.ts';
import { STREAM_CHUNK } from '../util/stream-chunk.ts';
import { extractLayer } from './extract.ts';
import { fromWire, toWire, type FromThread, type ToThread } from './extract-protocol.ts';

interface Job {
  readonly input: Readable;
  readonly controller: AbortController;
  /** Bytes pushed while the input was full: acknowledged when it is read. */
  unacked: number;
}

const port = parentPort;
if (port === null) throw new Error('extract-thread.ts runs only as a worker thread (layer/extract-pool.ts starts it)');
const jobs = new Map<number, Job>();
const send = (msg: FromThread): void => port.postMessage(msg);

port.on('message', (msg: ToThread) => {
  if (msg.type === 'start') return void start(msg.id, msg.dir, msg.options, msg.timings);
  const job = jobs.get(msg.id);
  if (job === undefined) return; // the job has settled; late messages are moot
  switch (msg.type) {
    case 'chunk': {
      const buf = Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, msg.chunk.byteLength);
      if (job.input.push(buf)) send({ type: 'ack', id: msg.id, bytes: buf.byteLength });
      else job.unacked += buf.byteLength;
      return;
    }
    case 'end':
      return void job.input.push(null);
    case 'fail':
      return void job.input.destroy(fromWire(msg.error));
    case 'abort':
      return void job.controller.abort();
  }
});

function start(id: number, dir: string, options: Extract<ToThread, { type: 'start' }>['options'], timings: boolean): void {
  if (timings && !phaseClock.enabled) phaseClock.start();
  const controller = new AbortController();
  const job: Job = {
    controller,
    unacked: 0,
    input: new Readable({
      highWaterMark: 2 * STREAM_CHUNK,
      read(): void {
        if (job.unacked === 0) return;
        send({ type: 'ack', id, bytes: job.unacked });
        job.unacked = 0;
      },
    }),
  };
  // the input may fail (a 'fail' message) before extractLayer has piped it (it
  // first checks the staging directory): the pipeline reads the stored error
  // then, and without a listener here the 'error' event would end the thread
  job.input.on('error', () => undefined);
  jobs.set(id, job);
  extractLayer(job.input, dir, { ...options, signal: controller.signal }).then(
    (stats) => {
      jobs.delete(id);
      send({ type: 'done', id, stats, phases: phaseClock.takeTotals() });
    },
    (err: unknown) => {
      jobs.delete(id);
      send({ type: 'failed', id, error: toWire(err), phases: phaseClock.takeTotals() });
    },
  );
}
