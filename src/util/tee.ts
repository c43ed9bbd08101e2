// Splits one readable into two PassThrough branches with backpressure
// (the source pauses while any branch is full). An error on the source, or on
// any branch, destroys every branch with that error, so no consumer can
// mistake a failed stream for a finished one.

import { PassThrough, type Readable } from 'node:stream';
import { STREAM_CHUNK } from './stream-chunk.ts';

export function tee(source: Readable): [PassThrough, PassThrough] {
  const branches: [PassThrough, PassThrough] = [new PassThrough({ highWaterMark: STREAM_CHUNK }), new PassThrough({ highWaterMark: STREAM_CHUNK })];
  const fail = (err: Error): void => {
    source.unpipe();
    if (!source.destroyed) source.destroy(err);
    for (const b of branches) if (!b.destroyed) b.destroy(err);
  };
  source.once('error', fail);
  for (const branch of branches) {
    branch.once('error', fail);
    source.pipe(branch);
  }
  return branches;
}
