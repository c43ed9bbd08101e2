// Turning a local file into what ImageSource promises: manifests read whole
// under the 4 MiB cap and checked against their digest (and size when known),
// blobs streamed through VerifyStream with progress and cancellation.

import { addAbortSignal, type Readable } from 'node:stream';
import { KeelError } from '../errors.ts';
import { Digester, digestAlgorithm, type Digest } from '../oci/digest.ts';
import { MediaType } from '../oci/media-types.ts';
import type { Descriptor } from '../oci/types.ts';
import { checkDigester, VerifyStream } from '../oci/verify.ts';
import type { BlobOptions } from './source.ts';
import type { LayoutFile } from './layout-files.ts';
import { readWhole } from './layout-files.ts';

/** In-memory cap for manifests, indexes, configs and layout metadata (containers/image uses the same). */
import { MAX_MANIFEST_BYTES } from '../oci/limits.ts';

/** Reads a manifest or config whole and checks it against `digest` (and `size` when given). */
export async function readVerified(file: LayoutFile, expected: { digest: Digest; size?: number | undefined; what: string }): Promise<Buffer> {
  if (expected.size !== undefined && expected.size > MAX_MANIFEST_BYTES) {
    await file.discard();
    throw new KeelError('E_BODY_TOO_LARGE', `${expected.what} ${expected.digest} is ${expected.size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`, {
      detail: { size: expected.size, limit: MAX_MANIFEST_BYTES },
    });
  }
  const bytes = await readWhole(file, MAX_MANIFEST_BYTES, `${expected.what} ${expected.digest}`);
  const digester = new Digester(digestAlgorithm(expected.digest));
  digester.update(bytes);
  const err = checkDigester(digester, expected);
  if (err !== null) throw err;
  return bytes;
}

/**
 * Streams `file` through a VerifyStream for `descriptor`. A size that is
 * already known to be wrong fails at once instead of after reading it all.
 */
export async function openVerifiedBlob(file: LayoutFile, descriptor: Descriptor, what: string, options: BlobOptions = {}): Promise<Readable> {
  if (file.size !== descriptor.size) {
    await file.discard();
    throw new KeelError('E_SIZE_MISMATCH', `${what} ${descriptor.digest} is ${file.size} bytes, expected ${descriptor.size}`, {
      detail: { expected: descriptor.size, found: file.size, digest: descriptor.digest },
    });
  }
  if (options.signal?.aborted) {
    await file.discard();
    throw options.signal.reason instanceof Error ? options.signal.reason : new KeelError('E_INTERRUPTED', `reading ${what} was cancelled`);
  }
  const source = file.stream();
  const verify = new VerifyStream({ digest: descriptor.digest, size: descriptor.size, what });
  const onProgress = options.onProgress;
  if (onProgress !== undefined) source.on('data', (chunk: Buffer) => onProgress(chunk.byteLength));
  source.on('error', (err) => verify.destroy(err));
  verify.on('close', () => source.destroy());
  if (options.signal !== undefined) addAbortSignal(options.signal, verify);
  source.pipe(verify);
  return verify;
}

/**
 * The media type of a manifest read by digest alone: its own mediaType field,
 * else told apart by shape the way the OCI spec allows.
 */
export function sniffManifestMediaType(bytes: Buffer): string {
  try {
    const doc: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) {
      const d = doc as Record<string, unknown>;
      if (typeof d.mediaType === 'string' && d.mediaType !== '') return d.mediaType;
      if (Array.isArray(d.manifests)) return MediaType.OCI_INDEX;
    }
  } catch {
    // the pull engine's parser reports malformed JSON with the right code
  }
  return MediaType.OCI_MANIFEST;
}
