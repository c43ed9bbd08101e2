// A Transform that passes bytes through while checking them against a
// descriptor's size and digest. It fails the moment a stream runs past the
// expected size, and at the end if the size or digest is wrong, so a consumer
// that commits only after 'finish'/'end' never commits unverified bytes.

import { Transform, type TransformCallback } from 'node:stream';
import { KeelError } from '../errors.ts';
import { phaseClock } from '../util/phase-clock.ts';
import { Digester, digestAlgorithm, type Digest } from './digest.ts';

export interface Expected {
  readonly digest: Digest;
  /** Exact size in bytes; undefined when unknown (a diff_id has no size). */
  readonly size?: number | undefined;
  /** Named in error messages: "layer sha256:…", "blob of docker.io/library/etcd". */
  readonly what?: string;
}

export class VerifyStream extends Transform {
  readonly expected: Expected;
  readonly #digester: Digester;

  constructor(expected: Expected) {
    super();
    this.expected = expected;
    this.#digester = new Digester(digestAlgorithm(expected.digest));
  }

  get bytes(): number {
    return this.#digester.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const size = this.expected.size;
    if (size !== undefined && this.#digester.bytes + chunk.byteLength > size) {
      callback(sizeMismatch(this.expected, `more than ${size}`));
      return;
    }
    const mark = phaseClock.now();
    this.#digester.update(chunk);
    phaseClock.add('verify', mark);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(checkDigester(this.#digester, this.expected));
  }
}

/** Returns the error to raise when `digester` does not match, or null. */
export function checkDigester(digester: Digester, expected: Expected): KeelError | null {
  if (expected.size !== undefined && digester.bytes !== expected.size) {
    return sizeMismatch(expected, String(digester.bytes));
  }
  const found = digester.digest();
  if (found !== expected.digest) {
    return new KeelError('E_DIGEST_MISMATCH', `${expected.what ?? 'content'} has digest ${found}, expected ${expected.digest}`, {
      detail: { expected: expected.digest, found },
    });
  }
  return null;
}

function sizeMismatch(expected: Expected, found: string): KeelError {
  return new KeelError(
    'E_SIZE_MISMATCH',
    `${expected.what ?? 'content'} ${expected.digest} is ${found} bytes, expected ${expected.size}`,
    { detail: { expected: expected.size, found, digest: expected.digest } },
  );
}
