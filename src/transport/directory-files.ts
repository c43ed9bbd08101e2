// LayoutFiles over a directory (an `oci:` layout). Every open resolves the
// real path and refuses one that leaves the directory — a blob that is a
// symlink to /etc/shadow is an attack, not a blob — then opens that resolved
// path with O_NOFOLLOW and checks it is a regular file, so a FIFO or device
// planted in a layout cannot hang or feed keel.

import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { sep } from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import type { LayoutFile, LayoutFiles } from './layout-files.ts';
import { STREAM_CHUNK } from '../util/stream-chunk.ts';

export class DirectoryFiles implements LayoutFiles {
  readonly where: string;
  readonly dir: string;
  #root: Promise<string> | undefined;

  constructor(dir: string, where: string) {
    this.dir = dir;
    this.where = where;
  }

  /** The directory's real path; E_IMAGE_NOT_FOUND when it does not exist. */
  root(): Promise<string> {
    this.#root ??= realpath(this.dir).catch((err: unknown) => {
      const errno = errnoCode(err);
      if (errno === 'ENOENT' || errno === 'ENOTDIR') {
        throw new KeelError('E_IMAGE_NOT_FOUND', `${this.where}: directory ${this.dir} does not exist`, {
          cause: err,
          detail: { path: this.dir },
        });
      }
      throw fsError(`resolving ${this.dir}`, err);
    });
    return this.#root;
  }

  async open(name: string): Promise<LayoutFile | undefined> {
    const root = await this.root();
    if (name.split('/').some((p) => p === '' || p === '.' || p === '..') || name.includes('\0')) {
      throw new KeelError('E_INTERNAL', `refusing to open unnormalised layout path ${JSON.stringify(name)}`);
    }
    const candidate = `${root === sep ? '' : root}${sep}${name}`;
    let real: string;
    try {
      real = await realpath(candidate);
    } catch (err) {
      const errno = errnoCode(err);
      if (errno === 'ENOENT' || errno === 'ENOTDIR') return undefined;
      if (errno === 'ELOOP') throw this.#outside(name, 'is a symlink loop', err);
      throw fsError(`resolving ${candidate}`, err);
    }
    const inside = root === sep ? real.startsWith(sep) : real.startsWith(root + sep);
    if (!inside) throw this.#outside(name, `resolves to ${real}, outside the layout directory ${root}`);
    let handle;
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const errno = errnoCode(err);
      if (errno === 'ENOENT') return undefined;
      if (errno === 'ELOOP') throw this.#outside(name, 'was replaced by a symlink while being opened', err);
      throw fsError(`opening ${real}`, err);
    }
    const stat = await handle.stat().catch(async (err: unknown) => {
      await handle.close();
      throw fsError(`reading ${real}`, err);
    });
    if (!stat.isFile()) {
      await handle.close();
      throw new KeelError('E_SOURCE_INVALID', `${this.where}: ${name} is not a regular file`, { detail: { path: real } });
    }
    let streamed = false;
    return {
      size: stat.size,
      stream: () => {
        if (streamed) throw new KeelError('E_INTERNAL', `${name} streamed twice`);
        streamed = true;
        return handle.createReadStream({ autoClose: true, highWaterMark: STREAM_CHUNK });
      },
      discard: async () => {
        if (!streamed) await handle.close();
      },
    };
  }

  async close(): Promise<void> {}

  #outside(name: string, problem: string, cause?: unknown): KeelError {
    return new KeelError('E_SOURCE_INVALID', `${this.where}: ${name} ${problem}; refusing to read it`, {
      ...(cause === undefined ? {} : { cause }),
      detail: { source: this.where, name },
      hint: 'an OCI layout must hold its blobs as files inside its own directory',
    });
  }
}
