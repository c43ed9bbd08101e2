// Making writes durable: fsync of a directory (so entries created, renamed or
// removed in it survive a crash), and one syncfs(2) for a whole tree's
// filesystem, far cheaper than an fsync per file. Node has no syncfs binding,
// so coreutils' `sync -f` does it.

import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { fsError } from '../errors.ts';

export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    throw fsError(`syncing directory ${dir}`, err);
  } finally {
    await fh?.close();
  }
}

/**
 * `sync -f DIR`. Best effort: when sync(1) is missing or fails, the caller's
 * own verification (digests, tree fingerprints) still finds damage later.
 */
export async function syncFilesystem(dir: string): Promise<void> {
  await new Promise<void>((resolve) => {
    execFile('sync', ['-f', dir], { timeout: 120_000 }, () => resolve());
  });
}
