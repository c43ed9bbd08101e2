// The seam between the image formats (OCI layout, docker save) and where
// their files live (a directory, or entries of a tar archive): open a file by
// its relative name, learn its size, read it whole under a cap or stream it.
//
// Invariant: names handed to `open` are built by keel from validated parts
// (fixed names, parsed digests, normalised archive paths); implementations
// still refuse anything that would resolve outside their root.

import type { Readable } from 'node:stream';
import { KeelError } from '../errors.ts';

export interface LayoutFile {
  readonly size: number;
  /** The file's bytes; call at most once. The stream owns the file handle and closes it. */
  stream(): Readable;
  /** Releases the handle when `stream` will not be called. */
  discard(): Promise<void>;
}

export interface LayoutFiles {
  /** `oci:/srv/images`, `docker-archive:/srv/etcd.tar`: for messages. */
  readonly where: string;
  /** The named regular file, or undefined when it does not exist. */
  open(name: string): Promise<LayoutFile | undefined>;
  close(): Promise<void>;
}

/** Opens `name` or throws E_IMAGE_NOT_FOUND naming what was looked for. */
export async function openRequired(files: LayoutFiles, name: string, what: string): Promise<LayoutFile> {
  const file = await files.open(name);
  if (file === undefined) {
    throw new KeelError('E_IMAGE_NOT_FOUND', `${what} (${name}) is missing from ${files.where}`, { detail: { source: files.where, name } });
  }
  return file;
}

/** Reads a whole file into memory; over `cap` bytes is E_BODY_TOO_LARGE (checked before reading). */
export async function readWhole(file: LayoutFile, cap: number, what: string): Promise<Buffer> {
  if (file.size > cap) {
    await file.discard();
    throw new KeelError('E_BODY_TOO_LARGE', `${what} is ${file.size} bytes, over the ${cap}-byte limit`, {
      detail: { size: file.size, limit: cap },
    });
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of file.stream()) {
    const buf = chunk as Buffer;
    total += buf.byteLength;
    if (total > cap) {
      throw new KeelError('E_BODY_TOO_LARGE', `${what} grew past the ${cap}-byte limit while being read`, { detail: { limit: cap } });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}
