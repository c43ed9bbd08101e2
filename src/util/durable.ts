// Making writes durable: fsync of a directory (so entries created, renamed or
// removed in it survive a crash), and one syncfs(2) for a whole tree's
// filesystem, far cheaper than an fsync per file. Node has no syncfs binding,
// so coreutils' `sync -f` does it.

import { execFile } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
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
 * `sync -f DIR`, shared: callers that ask while a sync of the same filesystem
 * is running wait for the next one (the running one may have started before
 * their writes), and every caller that asks meanwhile joins that next one. So
 * layers that finish together cost one syncfs, not one each. Best effort:
 * when sync(1) is missing or fails, the caller's own verification (digests,
 * tree fingerprints) still finds damage later.
 */
export async function syncFilesystem(dir: string): Promise<void> {
  let key: string;
  try {
    key = String((await stat(dir)).dev);
  } catch {
    key = dir;
  }
  let group = syncGroups.get(key);
  if (group === undefined) {
    group = { running: undefined, queued: undefined };
    syncGroups.set(key, group);
  }
  const g = group;
  if (g.queued !== undefined) return g.queued;
  if (g.running !== undefined) {
    g.queued = g.running.then(() => {
      g.queued = undefined;
      return startSync(g, dir);
    });
    return g.queued;
  }
  return startSync(g, dir);
}

interface SyncGroup {
  running: Promise<void> | undefined;
  queued: Promise<void> | undefined;
}

const syncGroups = new Map<string, SyncGroup>();

function startSync(g: SyncGroup, dir: string): Promise<void> {
  const run: Promise<void> = new Promise<void>((resolve) => {
    execFile('sync', ['-f', dir], { timeout: 120_000 }, () => resolve());
  }).finally(() => {
    if (g.running === run) g.running = undefined;
  });
  g.running = run;
  return run;
}
