// Small durability helpers for bundle files: fsync of a directory, and
// write-if-different (a file is replaced by rename only when its bytes
// change, so re-rendering the same inputs touches nothing).

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode, fsError } from '../errors.ts';

export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    throw fsError(`syncing directory ${dir}`, err);
  } finally {
    await fh?.close();
  }
}

/** The file's bytes, or undefined if it does not exist. */
export async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw fsError(`reading ${file}`, err);
  }
}

/** Writes `data` to `file` atomically (temp + fsync + rename) unless it already holds exactly that; true if written. */
export async function writeIfChanged(file: string, data: string, mode = 0o600): Promise<boolean> {
  const current = await readIfExists(file);
  if (current !== undefined && current.equals(Buffer.from(data))) return false;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  try {
    const fh = await fs.open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(`writing ${file}`, err);
  }
  return true;
}

/** `sync -f DIR`: one syncfs(2) for DIR's filesystem (Node has no binding). Best effort. */
export async function syncFilesystem(dir: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve) => {
    execFile('sync', ['-f', dir], { timeout: 120_000 }, () => resolve());
  });
}
