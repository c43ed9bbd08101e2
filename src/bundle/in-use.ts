// What the containers' slots use, for garbage collection: the image manifests
// and layer diff_ids named by every slot record (active or not: the inactive
// slot is the rollback target), and removal of a container's bundles and of
// shared trees no slot uses. Callers run pruneUnusedRootfs under the store's
// exclusive lock, so no render is building or choosing a tree meanwhile.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode, fsError } from '../errors.ts';
import { isDigest, type Digest } from '../oci/digest.ts';
import { readBundleRecord } from './bundle-record.ts';
import { releaseRootfs } from './overlay.ts';
import { reclaimStagings, stagingPath } from '../layout/staging.ts';
import { removeRetiredRootfs, removeSharedRootfs, sharedRootfsBase } from './shared-rootfs.ts';
import { SLOTS, containerDir, containersRoot } from './slots.ts';

export interface InUse {
  /** Container names with at least one rendered slot. */
  readonly containers: readonly string[];
  /** Image manifest digests named by any slot. */
  readonly manifests: ReadonlySet<Digest>;
  /** Layer diff_ids named by any slot: pass as store.prune({ keepLayers }). */
  readonly diffIds: ReadonlySet<Digest>;
  /** The pinned image manifests (with their media types): pass as store.prune({ keepImages }). */
  readonly images: ReadonlyArray<{ readonly digest: Digest; readonly mediaType: string; readonly size: number }>;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw fsError(`listing ${dir}`, err);
  }
}

export async function collectInUse(root: string): Promise<InUse> {
  const containers: string[] = [];
  const manifests = new Set<Digest>();
  const diffIds = new Set<Digest>();
  const images: Array<{ digest: Digest; mediaType: string; size: number }> = [];
  for (const name of await listDir(containersRoot(root))) {
    if (name.startsWith('.')) continue;
    let used = false;
    for (const slot of SLOTS) {
      const record = await readBundleRecord(path.join(containersRoot(root), name, slot));
      if (record === undefined) continue;
      used = true;
      manifests.add(record.image.digest);
      if (record.image.mediaType !== undefined && !images.some((i) => i.digest === record.image.digest)) {
        images.push({ digest: record.image.digest, mediaType: record.image.mediaType, size: 0 });
      }
      for (const d of record.image.diffIds) diffIds.add(d);
    }
    if (used) containers.push(name);
  }
  return { containers, manifests, diffIds, images };
}

/** Unmounts any overlay of the container's slots and deletes <root>/containers/NAME. Idempotent. */
export async function removeContainerBundles(root: string, name: string): Promise<void> {
  const dir = containerDir(root, name);
  for (const slot of SLOTS) await releaseRootfs(path.join(dir, slot));
  const trash = stagingPath(containersRoot(root), `removed-${name}`);
  try {
    await fs.rename(dir, trash);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw fsError(`removing the bundles of ${name}`, err);
  }
  await fs.rm(trash, { recursive: true, force: true });
}

/**
 * Removes the stagings and leftovers whose owner process is gone (a renderer
 * killed mid-build, a removal cut short) in rootfs/, containers/ and every
 * container's and slot's directory; returns how many.
 */
export async function reclaimBundleStagings(root: string): Promise<number> {
  let n = (await reclaimStagings(sharedRootfsBase(root))).length + (await reclaimStagings(containersRoot(root))).length;
  for (const name of await listDir(containersRoot(root))) {
    if (name.startsWith('.')) continue;
    n += (await reclaimStagings(path.join(containersRoot(root), name))).length;
    for (const slot of SLOTS) n += (await reclaimStagings(path.join(containersRoot(root), name, slot))).length;
  }
  return n;
}

/**
 * Removes shared trees that no slot names, and trees
 * retired in an earlier boot; returns the manifests removed.
 */
export async function pruneUnusedRootfs(root: string): Promise<Digest[]> {
  await removeRetiredRootfs(root);
  const { manifests } = await collectInUse(root);
  const removed: Digest[] = [];
  const base = sharedRootfsBase(root);
  for (const alg of await listDir(base)) {
    if (alg.startsWith('.')) continue;
    for (const hex of await listDir(path.join(base, alg))) {
      const digest = `${alg}:${hex}`;
      if (!isDigest(digest) || manifests.has(digest)) continue;
      await removeSharedRootfs(root, digest);
      removed.push(digest);
    }
  }
  return removed;
}
