// Decompression of a layer stream with STREAM_CHUNK zlib chunks (far faster than the
// 16 KiB default), and a meter that refuses a decompression bomb: once more
// than RATIO_MIN_BYTES came out, uncompressed/compressed may not exceed
// maxRatio. The compressed count is zlib's `bytesWritten`, the input the engine
// has actually consumed, so the ratio is exact to one chunk.

import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { KeelError } from '../errors.ts';
import type { Compression } from '../oci/media-types.ts';
import { RATIO_MIN_BYTES } from './limits.ts';
import { STREAM_CHUNK } from '../util/stream-chunk.ts';

const CHUNK = STREAM_CHUNK;

export interface Decompressor {
  readonly stream: Transform;
  /** Compressed bytes consumed so far. */
  consumed(): number;
}

export function createDecompressor(compression: Compression): Decompressor {
  switch (compression) {
    case 'gzip': {
      const stream = zlib.createGunzip({ chunkSize: CHUNK });
      return { stream, consumed: () => stream.bytesWritten };
    }
    case 'zstd': {
      const stream = zlib.createZstdDecompress({ chunkSize: CHUNK });
      return { stream, consumed: () => stream.bytesWritten };
    }
    case 'none': {
      // uncompressed input: the ratio is 1 by construction, the meter need not look
      return { stream: new PassThrough({ highWaterMark: CHUNK }), consumed: () => Number.POSITIVE_INFINITY };
    }
    default:
      throw new KeelError('E_LAYER_UNSUPPORTED', `unsupported layer compression ${JSON.stringify(compression)}`);
  }
}

export class RatioMeter extends Transform {
  readonly #consumed: () => number;
  readonly #maxRatio: number;
  #bytes = 0;

  constructor(consumed: () => number, maxRatio: number) {
    super({ highWaterMark: CHUNK });
    this.#consumed = consumed;
    this.#maxRatio = maxRatio;
  }

  get bytes(): number {
    return this.#bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.byteLength;
    if (this.#bytes > RATIO_MIN_BYTES) {
      const compressed = Math.max(1, this.#consumed());
      const ratio = this.#bytes / compressed;
      if (ratio > this.#maxRatio) {
        callback(
          new KeelError('E_LAYER_LIMIT', `layer decompresses ${Math.round(ratio)}:1 (${this.#bytes} bytes from ${compressed}), over the limit of ${this.#maxRatio}:1`, {
            detail: { limit: 'maxRatio', ratio, max: this.#maxRatio },
            hint: 'this looks like a decompression bomb; raise maxRatio only for an image you trust',
          }),
        );
        return;
      }
    }
    callback(null, chunk);
  }
}
