// The one staging and ownership protocol for everything keel builds in place
// under --root outside the store's tmp/ (shared trees, slot flips, removed
// containers, records written by rename): a staging is a hidden entry of the
// directory it will be renamed into, named `.<owner token>.<n>.<kind>`
// (owner.ts: pid, process start time, boot id), so whoever comes next can
// tell from the name alone whether its owner still runs. A reused pid or a
// previous boot does not pass for the owner. `reclaimStagings` removes the
// stagings of owners that are gone; builders call it before they stage,
// `keel prune` for every such directory.
//
// `reclaimDead` is the one remover of what dead owners left, here and in the
// store (tmp/ and locks/shared/ hold bare `<owner token>.<n>.<kind>` names):
// it removes an entry only when its owner is provably gone, never one whose
// owner runs or cannot be told from the name.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode, fsError } from '../errors.ts';
import { isDeadOwnedName, ownerOfName, uniqueName } from './owner.ts';

/** A fresh staging path inside `dir` for `kind` (a word: staging, trash, active, removed-NAME). */
export function stagingPath(dir: string, kind: string): string {
  return path.join(dir, `.${uniqueName(kind)}`);
}

/** Legacy names (before owner tokens): `.staging-<pid>-…`, `.active-<pid>-…`, `.removed-NAME-<pid>`. */
const LEGACY = /^\.(?:staging-([0-9]+)-|active-([0-9]+)-|removed-[a-z][a-z0-9-]*-([0-9]+)$)/;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/** Whether `name` (an entry of a staging directory) is a staging whose owner is gone. */
export function isDeadStaging(name: string): boolean {
  if (!name.startsWith('.')) return false;
  const owned = name.slice(1);
  if (ownerOfName(owned) !== undefined) return isDeadOwnedName(owned);
  const legacy = LEGACY.exec(name);
  if (legacy === null) return false;
  const pid = Number(legacy[1] ?? legacy[2] ?? legacy[3]);
  return pid !== process.pid && !pidAlive(pid);
}

export interface ReclaimOptions {
  /**
   * Which names are leftovers of a dead owner; it must say false for an owner
   * that runs or cannot be told from the name. Default: isDeadOwnedName (the
   * name starts with the owner token).
   */
  readonly isDead?: ((name: string) => boolean) | undefined;
  /** Skip an entry that cannot be removed instead of failing (a later call retries it). */
  readonly bestEffort?: boolean | undefined;
}

/**
 * Removes the entries of `dir` whose owner is provably dead; returns their
 * names. A missing `dir` holds nothing. A dead owner never comes back, so a
 * removal can race only with another remover (rm with force).
 */
export async function reclaimDead(dir: string, options: ReclaimOptions = {}): Promise<string[]> {
  const isDead = options.isDead ?? isDeadOwnedName;
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw fsError(`listing ${dir}`, err);
  }
  const removed: string[] = [];
  for (const n of names.filter(isDead)) {
    try {
      await fs.rm(path.join(dir, n), { recursive: true, force: true });
      removed.push(n);
    } catch (err) {
      if (options.bestEffort !== true) throw fsError(`removing the leftover ${path.join(dir, n)}`, err);
    }
  }
  return removed;
}

/** Removes the stagings in `dir` whose owners are gone (and legacy ones of dead pids); returns their names. */
export function reclaimStagings(dir: string): Promise<string[]> {
  return reclaimDead(dir, { isDead: isDeadStaging });
}
