// A blob body that survives being cut short: when the connection drops or
// goes idle mid-body, it asks again with `Range: bytes=N-` and carries on,
// at most MAX_RESUMES times. A server that ignores Range (200 instead of 206)
// is coped with by skipping the N bytes already delivered. Everything flows
// through a VerifyStream, so the caller sees either the exact bytes of the
// descriptor followed by a clean end, or an error — never unverified success.

import { pipeline, Readable } from 'node:stream';
import { KeelError } from '../errors.ts';
import { VerifyStream, type Expected } from '../oci/verify.ts';
import { connectionError, redact, RetryableError, type HttpResponse } from './http.ts';
import { interrupted } from './retry.ts';
import { STREAM_CHUNK } from '../util/stream-chunk.ts';

export type Reopen = (offset: number) => Promise<HttpResponse>;

export interface ResumeOptions {
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((bytes: number) => void) | undefined;
  readonly maxResumes: number;
}

/** The start offset of a `Content-Range: bytes START-END/TOTAL` header. */
export function contentRangeStart(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  const m = v === undefined ? null : /^\s*bytes\s+([0-9]+)-[0-9]+\/(?:[0-9]+|\*)\s*$/i.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * Network chunks (16-64 KiB) are passed on in batches of about this size:
 * every stage after this one (verification, the blob store, inflating, the
 * ratio meter, the tar parser) has a cost per chunk, and on a ~100 MB layer
 * the per-chunk overhead of ~3,000 chunks cost more than the one copy a batch
 * needs (profiles of issue 9: zlib's processChunk alone 160 ms).
 */
const BATCH_BYTES = STREAM_CHUNK;

export function verifiedBlobStream(first: HttpResponse, reopen: Reopen, expected: Expected & { size: number }, options: ResumeOptions): Readable {
  const what = expected.what ?? `blob ${expected.digest}`;
  let batch: Buffer[] = [];
  let batched = 0;
  const take = (): Buffer => {
    const out = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, batched);
    batch = [];
    batched = 0;
    return out;
  };
  async function* chunks(): AsyncGenerator<Buffer> {
    let res = first;
    let offset = 0;
    let skip = 0;
    let resumes = 0;
    try {
      for (;;) {
        try {
          for await (const c of res.body) {
            let chunk = c as Buffer;
            if (skip > 0) {
              if (chunk.byteLength <= skip) {
                skip -= chunk.byteLength;
                continue;
              }
              chunk = chunk.subarray(skip);
              skip = 0;
            }
            offset += chunk.byteLength;
            options.onProgress?.(chunk.byteLength);
            batch.push(chunk);
            batched += chunk.byteLength;
            if (batched >= BATCH_BYTES) yield take();
          }
          if (batched > 0) yield take();
          return;
        } catch (err) {
          if (err instanceof KeelError) throw err;
          if (options.signal?.aborted) throw interrupted(options.signal.reason);
          if (offset >= expected.size) {
            const e = connectionError(err, res.url, what, options.signal);
            throw e instanceof RetryableError ? e.final : e;
          }
          if (resumes >= options.maxResumes) {
            throw new KeelError('E_REGISTRY_UNAVAILABLE', `${what}: the body was cut short ${resumes + 1} times (last at byte ${offset} of ${expected.size})`, {
              cause: err,
              detail: { url: redact(res.url), offset },
              hint: 'the registry or the network keeps dropping the connection; try again later',
            });
          }
          resumes++;
          res.body.destroy();
          res = await reopen(offset);
          if (res.status === 206) {
            const start = contentRangeStart(res.headers['content-range']);
            if (start !== offset) {
              throw new KeelError('E_REGISTRY_PROTOCOL', `${what}: asked to resume at byte ${offset}, the server sent a range starting at ${String(start)}`, {
                detail: { url: redact(res.url) },
              });
            }
            skip = 0;
          } else {
            skip = offset; // the server ignored Range and sent the whole blob again
          }
        }
      }
    } finally {
      res.body.destroy();
    }
  }
  const verify = new VerifyStream(expected);
  pipeline(Readable.from(chunks(), { objectMode: false }), verify, () => {
    // errors surface on `verify`, which pipeline destroys with them
  });
  return verify;
}
