// Small file helpers for bundle files (durability itself is util/durable.ts):
// write-if-different (a file is replaced by rename only when its bytes
// change, so re-rendering the same inputs touches nothing).

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode, fsError } from '../errors.ts';
import { stagingPath } from '../layout/staging.ts';

export { fsyncDir, syncFilesystem } from '../util/durable.ts';

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
  const tmp = stagingPath(path.dirname(file), path.basename(file));
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
