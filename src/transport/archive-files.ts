// LayoutFiles over an uncompressed tar archive, served in place: the headers
// are scanned once (tar-index.ts) and each file is then a ranged read of the
// archive. Nothing is extracted to disk.
//
// Invariant: a read opens the archive afresh and refuses it when it is no
// longer the file that was indexed (device, inode, size, mtime), so offsets
// from the index are never applied to other bytes.

import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import type { LayoutFile, LayoutFiles } from './layout-files.ts';
import { indexTar, lookupEntry, type TarIndex } from './tar-index.ts';
import { STREAM_CHUNK } from '../util/stream-chunk.ts';

export class ArchiveFiles implements LayoutFiles {
  readonly where: string;
  readonly file: string;
  #index: Promise<TarIndex> | undefined;

  constructor(file: string, where: string) {
    this.file = file;
    this.where = where;
  }

  /** The archive's index, built on first use. */
  index(): Promise<TarIndex> {
    this.#index ??= (async () => {
      const handle = await open(this.file, 'r').catch((err: unknown) => {
        const errno = errnoCode(err);
        if (errno === 'ENOENT' || errno === 'ENOTDIR') {
          const tagged = this.where.startsWith('docker-archive:') && this.file.includes(':');
          throw new KeelError('E_IMAGE_NOT_FOUND', `${this.where}: file ${this.file} does not exist`, {
            cause: err,
            detail: { path: this.file },
            ...(tagged ? { hint: 'docker-archive: takes a file name only, with no :TAG (keel reads archives of one image)' } : {}),
          });
        }
        throw fsError(`opening ${this.file}`, err);
      });
      try {
        return await indexTar(handle, this.file);
      } finally {
        await handle.close();
      }
    })();
    return this.#index;
  }

  async has(name: string): Promise<boolean> {
    return lookupEntry(await this.index(), name) !== undefined;
  }

  /** Up to `length` bytes from the start of an entry (to sniff compression). */
  async head(name: string, length: number): Promise<Buffer> {
    const entry = lookupEntry(await this.index(), name);
    if (entry === undefined) return Buffer.alloc(0);
    const handle = await open(this.file, 'r').catch((err: unknown) => {
      throw fsError(`opening ${this.file}`, err);
    });
    try {
      const buf = Buffer.alloc(Math.min(length, entry.size));
      const { bytesRead } = await handle.read(buf, 0, buf.length, entry.offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async open(name: string): Promise<LayoutFile | undefined> {
    const index = await this.index();
    const entry = lookupEntry(index, name);
    if (entry === undefined) return undefined;
    let handle;
    try {
      handle = await open(this.file, 'r');
    } catch (err) {
      throw fsError(`opening ${this.file}`, err);
    }
    const stat = await handle.stat();
    const was = index.identity;
    if (stat.dev !== was.dev || stat.ino !== was.ino || stat.size !== was.size || stat.mtimeMs !== was.mtimeMs) {
      await handle.close();
      throw new KeelError('E_SOURCE_INVALID', `${this.where}: ${this.file} changed while keel was reading it`, {
        detail: { path: this.file },
        hint: 'do not modify an archive while it is being pulled; run the command again',
      });
    }
    let streamed = false;
    return {
      size: entry.size,
      stream: () => {
        if (streamed) throw new KeelError('E_INTERNAL', `${name} streamed twice`);
        streamed = true;
        if (entry.size === 0) {
          void handle.close();
          return Readable.from([]);
        }
        return handle.createReadStream({
          start: entry.offset,
          end: entry.offset + entry.size - 1,
          autoClose: true,
          highWaterMark: STREAM_CHUNK,
        });
      },
      discard: async () => {
        if (!streamed) await handle.close();
      },
    };
  }

  async close(): Promise<void> {}
}
