// Streams a blob into the store: into a temp file under tmp/, hashing while
// writing, failing the moment the stream runs past the expected size; then
// fsync, verify, rename into blobs/<alg>/<hex>, fsync the directory. A source
// that verifies itself (an ImageSource stream) is not hashed twice: it errors
// instead of ending on a mismatch, and only a clean end is committed. On any
// failure the temp file is removed and the source destroyed, so the store
// never holds a blob whose bytes do not match its name.

import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { KeelError, fsError } from '../errors.ts';
import { Digester, digestAlgorithm, type Digest } from '../oci/digest.ts';
import { checkDigester } from '../oci/verify.ts';
import { phaseClock } from '../util/phase-clock.ts';
import { fsyncDir } from './fs-sync.ts';
import type { Layout } from './layout.ts';

export interface ExpectedBlob {
  readonly digest: Digest;
  readonly size?: number | undefined;
}

export async function streamBlobIntoStore(layout: Layout, expected: ExpectedBlob, source: Readable, sourceVerifies = false): Promise<void> {
  const target = layout.blob(expected.digest);
  const tmp = layout.tmpPath('blob');
  const digester = new Digester(digestAlgorithm(expected.digest));
  const what = `blob ${expected.digest}`;
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (err) {
    const e = fsError(`creating a temp file for ${what}`, err);
    source.destroy(e);
    throw e;
  }
  let ok = false;
  try {
    // Errors of the source (network, upstream verification) keep their identity;
    // only our own writes are wrapped as store I/O errors.
    // A failure of ours destroys the source WITH that error before the loop is
    // left: leaving a for-await destroys it without one, which a tee passes to
    // its other branch as an AbortError, and a full disk would be reported as
    // an interrupted extraction (issue 9).
    const failWith = (e: KeelError): never => {
      source.destroy(e);
      throw e;
    };
    for await (const chunk of source as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (expected.size !== undefined && digester.bytes + buf.byteLength > expected.size) {
        failWith(
          new KeelError('E_SIZE_MISMATCH', `${what} is more than ${expected.size} bytes, expected ${expected.size}`, {
            detail: { expected: expected.size, digest: expected.digest },
          }),
        );
      }
      if (sourceVerifies) digester.count(buf);
      else digester.update(buf);
      try {
        let off = 0;
        while (off < buf.byteLength) {
          const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off);
          off += bytesWritten;
        }
      } catch (err) {
        failWith(fsError(`writing ${what}`, err));
      }
    }
    const mismatch = sourceVerifies ? sizeCheck(digester.bytes, expected, what) : checkDigester(digester, { ...expected, what });
    if (mismatch) throw mismatch;
    try {
      await phaseClock.measure('sync', () => fh!.sync());
      await fh.close();
      fh = undefined;
      await rename(tmp, target);
    } catch (err) {
      throw fsError(`storing ${what}`, err);
    }
    ok = true;
  } finally {
    if (fh !== undefined) await fh.close().catch(() => {});
    if (!ok) {
      source.destroy();
      await rm(tmp, { force: true }).catch(() => {});
    }
  }
  await fsyncDir(dirname(target));
}

function sizeCheck(bytes: number, expected: ExpectedBlob, what: string): KeelError | null {
  if (expected.size === undefined || bytes === expected.size) return null;
  return new KeelError('E_SIZE_MISMATCH', `${what} is ${bytes} bytes, expected ${expected.size}`, {
    detail: { expected: expected.size, found: bytes, digest: expected.digest },
  });
}
