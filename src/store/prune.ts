// `prune`: garbage collection under the exclusive lock. Keeps what
// collectReachable finds from index.json refs (plus `keepLayers`); removes
// every other blob and extracted layer, layer directories without a record
// (interrupted extractions), records without a directory, stray names, and
// temp leftovers of dead processes. A layer disappears record first, then its
// directory is renamed into tmp/ and removed, so it is never seen half-deleted
// as present.

import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import type { Descriptor } from '../oci/types.ts';
import { fsyncDir } from './fs-sync.ts';
import { cleanLeftovers, type Layout } from './layout.ts';
import { collectReachable, type BlobReader } from './reachable.ts';
import { scanTree, treeBytes } from './scan.ts';

export interface PruneResult {
  /** Blob files removed. */
  readonly blobs: number;
  /** Extracted layer directories removed (including leftovers without record). */
  readonly layers: number;
  /** Bytes of regular files removed. */
  readonly bytes: number;
}

interface PruneTarget extends BlobReader {
  listRefs(): Promise<Array<{ name: string; descriptor: Descriptor }>>;
}

export async function pruneStore(
  store: PruneTarget, layout: Layout, keepLayers: Iterable<Digest> | undefined, keepImages: readonly Descriptor[] = [],
): Promise<PruneResult> {
  // Images a deployment slot pins are kept like tagged ones (a re-render or rollback reads them), if still present.
  const pinned: Array<{ name: string; descriptor: Descriptor }> = [];
  for (const d of keepImages) if (await store.hasBlob(d.digest)) pinned.push({ name: `pinned ${d.digest}`, descriptor: d });
  const reach = await collectReachable(store, [...(await store.listRefs()), ...pinned], true);
  const keep = new Set<string>(reach.layers);
  for (const d of keepLayers ?? []) keep.add(d);
  let blobs = 0;
  let layers = 0;
  let bytes = 0;
  const touched = new Set<string>();

  const remove = async (path: string): Promise<number> => {
    const size = await treeBytes(path);
    const trash = layout.tmpPath('pruned');
    try {
      await rename(path, trash);
      await rm(trash, { recursive: true, force: true });
    } catch (err) {
      throw fsError(`removing ${path}`, err);
    }
    touched.add(dirname(path));
    return size;
  };

  for (const b of await scanTree(layout.blobsRoot)) {
    if (b.digest !== undefined && !b.isDir && !b.isRecord && reach.blobs.has(b.digest)) continue;
    bytes += await remove(b.path);
    blobs++;
  }

  const items = await scanTree(layout.layersRoot);
  const recorded = new Set(items.filter((l) => l.isRecord && !l.isDir && l.digest).map((l) => l.digest as string));
  // Records first: a layer without its record no longer counts as present.
  for (const l of items) {
    if (!l.isRecord || l.isDir || l.digest === undefined || keep.has(l.digest)) continue;
    await rm(l.path, { force: true });
    touched.add(dirname(l.path));
  }
  for (const l of items) {
    if (l.isRecord && !l.isDir && l.digest !== undefined) continue;
    if (l.digest !== undefined && l.isDir && !l.isRecord && !l.isDamaged && keep.has(l.digest) && recorded.has(l.digest)) continue;
    // The damaged mark of a layer still needed stays until pull re-extracts it (render names the repair).
    if (l.digest !== undefined && l.isDamaged && !l.isDir && keep.has(l.digest) && !recorded.has(l.digest)) continue;
    bytes += await remove(l.path);
    if (l.isDir) layers++;
  }
  // Records whose directory is gone.
  const dirs = new Set(items.filter((l) => l.isDir && !l.isRecord && !l.isDamaged && l.digest).map((l) => l.digest as string));
  for (const l of items) {
    if (l.isRecord && !l.isDir && l.digest !== undefined && keep.has(l.digest) && !dirs.has(l.digest)) {
      await rm(l.path, { force: true });
      touched.add(dirname(l.path));
    }
  }
  for (const dir of touched) await fsyncDir(dir);
  await cleanLeftovers(layout);
  return { blobs, layers, bytes };
}
