// `keel prune` and `keel check`: garbage collection and verification of the store.

import type { Store, StoreProblem } from '../store/index.ts';

export async function pruneStore(store: Store): Promise<{ blobs: number; layers: number; bytes: number }> {
  return store.prune();
}

export async function checkStore(store: Store): Promise<StoreProblem[]> {
  return store.withSharedLock(() => store.check());
}
