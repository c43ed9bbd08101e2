// Opening a file of the store to read it: never through a symlink
// (O_NOFOLLOW), never blocking (O_NONBLOCK: open(2) of a FIFO for reading
// waits for a writer, inside libuv's thread pool, where neither SIGINT nor
// process.exit can end it), and only a regular file (fstat). Anything else
// named like a blob, record or index is a store problem, E_STORE_CORRUPT.
// O_NONBLOCK changes nothing for reads of a regular file. (issue 9)

import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { KeelError, errnoCode } from '../errors.ts';

function typeName(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function notRegular(path: string | Buffer, what: string): KeelError {
  return new KeelError('E_STORE_CORRUPT', `${path.toString()} is ${what}, not a regular file keel could have written`, {
    detail: { path: path.toString() },
    hint: 'run keel check; remove what is at that path and pull the image again',
  });
}

/**
 * Opens `path` read-only if it is a regular file. Errors of open(2) other
 * than "it is a symlink" are thrown as they are (callers map ENOENT);
 * a symlink or any other kind of file is E_STORE_CORRUPT. A Buffer path
 * keeps names that are not UTF-8 (layer trees).
 */
export async function openRegularFile(path: string | Buffer): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (errnoCode(err) === 'ELOOP') throw notRegular(path, 'a symbolic link');
    throw err;
  }
  let st: Stats;
  try {
    st = await fh.stat();
  } catch (err) {
    await fh.close();
    throw err;
  }
  if (!st.isFile()) {
    await fh.close();
    throw notRegular(path, typeName(st));
  }
  return fh;
}

/** The whole content of a regular file (see openRegularFile). */
export async function readRegularFile(path: string): Promise<Buffer> {
  const fh = await openRegularFile(path);
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
