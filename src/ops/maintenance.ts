// `keel prune` and `keel check`: garbage collection and verification of the store.
// Prune keeps every layer a container's deployment slot still uses and drops
// shared rootfs trees no slot points at; it runs under the store's exclusive
// lock, so no pull, unpack or render sees a half-pruned store.

import { pruneUnusedRootfs, reclaimBundleStagings } from '../bundle/index.ts';
import type { Store, StoreProblem } from '../store/index.ts';
import { collectInUse } from '../bundle/index.ts';

export interface PruneResult {
  readonly blobs: number;
  readonly layers: number;
  readonly rootfs: number;
  /** Stagings of renderers and removals whose process is gone. */
  readonly stagings: number;
  readonly bytes: number;
}

export async function pruneStore(store: Store): Promise<PruneResult> {
  return store.withExclusiveLock(async () => {
    const stagings = await reclaimBundleStagings(store.root);
    const trees = await pruneUnusedRootfs(store.root);
    const inUse = await collectInUse(store.root);
    const result = await store.prune({ keepLayers: inUse.diffIds, keepImages: inUse.images });
    return { ...result, rootfs: trees.length, stagings };
  });
}

/**
 * Verifies the store under its shared lock, setting aside each extracted layer
 * found changed (so nothing new is built from it; `keel pull` re-extracts it);
 * stops (rejecting with the abort reason) when `signal` fires.
 */
export async function checkStore(store: Store, signal?: AbortSignal): Promise<StoreProblem[]> {
  return store.withSharedLock(() => store.check({ signal, quarantine: true }));
}
