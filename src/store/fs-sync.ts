// Durability helpers: fsync of files and directories, and an atomic file
// write (temp file in the same filesystem, fsync, rename, fsync of the
// directory), so a reader sees either the old content or the whole new one,
// and after a crash the rename is not lost.

import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsError } from '../errors.ts';
import { uniqueName } from '../layout/owner.ts';

export { fsyncDir } from '../util/durable.ts';
import { fsyncDir } from '../util/durable.ts';

/** fsync a file by path. */
export async function fsyncFile(path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
    await fh.sync();
  } catch (err) {
    throw fsError(`syncing ${path}`, err);
  } finally {
    await fh?.close();
  }
}

export interface WriteAtomicOptions {
  /** Where the temp file goes (same filesystem as `path`); default: beside `path`. */
  readonly tmpDir?: string | undefined;
  readonly mode?: number | undefined;
}

/**
 * Writes `data` to `path` so that `path` is only ever seen complete: temp file,
 * fsync, rename over `path`, fsync of the directory. The temp file is removed
 * on failure.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: WriteAtomicOptions = {}): Promise<void> {
  const tmp = join(options.tmpDir ?? dirname(path), options.tmpDir ? uniqueName('file') : `.${basename(path)}.${uniqueName('tmp')}`);
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw fsError(`writing ${path}`, err);
  }
  await fsyncDir(dirname(path));
}
