// Per-container deployment slots under <root>/containers/NAME/ (paths from
// layout/paths.ts, temp names from layout/staging.ts):
//
//   active -> a            symlink naming the deployed slot, replaced by rename(2)
//   a/ b/                  bundles: config.json, keel-bundle.json, and for a
//                          writable rootfs rootfs/ (overlay mount point), upper/, work/
//
// Invariants: `active` only ever names an existing slot whose record was
// written last (so it is complete); flipping is one rename, atomic across
// crashes; names are checked against the manifest's name pattern before they
// become paths.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import { ACTIVE_LINK, SLOTS, checkName, rootPaths, type Slot } from '../layout/paths.ts';
import { stagingPath } from '../layout/staging.ts';
import { fsyncDir } from './fs-util.ts';

export { ACTIVE_LINK, SLOTS, checkName, type Slot };

export function containersRoot(root: string): string {
  return rootPaths(root).containersRoot;
}

export function containerDir(root: string, name: string): string {
  return rootPaths(root).container(name);
}

export function slotDir(root: string, name: string, slot: Slot): string {
  return rootPaths(root).slot(name, slot);
}

export function otherSlot(slot: Slot): Slot {
  return slot === 'a' ? 'b' : 'a';
}

/** The active slot, or undefined when the container has never been deployed. */
export async function activeSlot(root: string, name: string): Promise<Slot | undefined> {
  let target: string;
  try {
    target = await fs.readlink(rootPaths(root).activeLink(name));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw fsError(`reading the active slot of ${name}`, err);
  }
  if (target !== 'a' && target !== 'b') {
    throw new KeelError('E_STORE_CORRUPT', `${rootPaths(root).activeLink(name)} points at ${JSON.stringify(target)}, not a slot`, {
      hint: `remove the container's bundles (keel remove ${name}) and apply again`,
    });
  }
  return target;
}

/** The active bundle directory of container `name`, or undefined. */
export async function activeBundle(root: string, name: string): Promise<string | undefined> {
  const slot = await activeSlot(root, name);
  return slot === undefined ? undefined : slotDir(root, name, slot);
}

/** Points `active` at `slot` with one rename (a temp symlink first); durable when it returns. */
export async function setActiveSlot(root: string, name: string, slot: Slot): Promise<void> {
  const dir = containerDir(root, name);
  const tmp = stagingPath(dir, 'active');
  try {
    await fs.symlink(slot, tmp);
    await fs.rename(tmp, rootPaths(root).activeLink(name));
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(`switching ${name} to slot ${slot}`, err);
  }
  await fsyncDir(dir);
}
