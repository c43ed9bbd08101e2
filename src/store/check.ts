// `check`: verify every part of the store without changing it.
//   blobs:   each file re-hashed against its name (blob-corrupt), odd names (blob-stray)
//   layers:  each directory needs a valid record (layer-no-record, layer-record-invalid)
//            and its fingerprintTree must equal the record's treeDigest (layer-corrupt);
//            records without a directory (layer-record-orphan); other files (layer-stray);
//            with `quarantine` (keel check), a changed layer is set aside at once
//            (Store.quarantineLayer) and its mark is reported later as layer-damaged
//   refs:    index.json parses (index-corrupt); each ref's manifest, child manifests,
//            config and layer blobs are present and valid (blob-missing, manifest-invalid,
//            config-invalid); each config diff_id is extracted (layer-missing)
//
// Files are opened only when they are regular files (regular-file.ts): a FIFO,
// device or symlink named like a blob or record is reported (blob-stray,
// layer-record-invalid), never waited on or read through. `signal` (SIGINT,
// SIGTERM) is honoured between files and between chunks of a file.

import { isKeelError, type KeelError } from '../errors.ts';
import { digestAlgorithm, type Digest } from '../oci/digest.ts';
import { fingerprintTree } from './fingerprint.ts';
import type { Layout } from './layout.ts';
import { readLayerRecord } from './layer-record.ts';
import type { StoreProblem } from './problem.ts';
import { collectReachable, type BlobReader } from './reachable.ts';
import { DAMAGED_SUFFIX, hashFile, scanTree } from './scan.ts';

interface CheckTarget extends BlobReader {
  listRefs(): Promise<Array<{ name: string; descriptor: import('../oci/types.ts').Descriptor }>>;
  quarantineLayer(diffId: Digest, committed: string): Promise<boolean>;
  quarantineBlob(digest: Digest): Promise<boolean>;
}

export interface CheckOptions {
  /** Stops between files and chunks, rejecting with the abort reason. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Sets aside each layer found changed (Store.quarantineLayer) and removes
   * each blob that does not hash to its name (Store.quarantineBlob), so nothing
   * new is built from them and `keel pull` re-extracts or fetches them again.
   * Without it, check changes nothing.
   */
  readonly quarantine?: boolean | undefined;
}

async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      signal?.throwIfAborted();
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A file that is not a regular one where a blob or record belongs (openRegularFile's refusal). */
function notRegular(err: unknown): err is KeelError {
  return isKeelError(err, 'E_STORE_CORRUPT');
}

export async function checkStore(store: CheckTarget, layout: Layout, options: CheckOptions = {}): Promise<StoreProblem[]> {
  const { signal } = options;
  const problems: StoreProblem[] = [];

  const blobs = await scanTree(layout.blobsRoot);
  await eachLimited(blobs, 2, async (b) => {
    if (b.digest === undefined || b.isDir || b.isRecord) {
      problems.push({ kind: 'blob-stray', path: b.path, message: `${b.path} is not a blob keel could have written` });
      return;
    }
    let found: Digest;
    try {
      found = await hashFile(b.path, digestAlgorithm(b.digest), signal);
    } catch (err) {
      if (!notRegular(err)) throw err;
      problems.push({ kind: 'blob-stray', path: b.path, message: err.message });
      return;
    }
    if (found !== b.digest) {
      let message = `blob ${b.digest} hashes to ${found}`;
      if (options.quarantine && (await store.quarantineBlob(b.digest))) message += '; removed: keel pull of an image that uses it fetches it again';
      problems.push({ kind: 'blob-corrupt', path: b.path, message });
    }
  }, signal);

  const layers = await scanTree(layout.layersRoot);
  const dirs = new Set(layers.filter((l) => l.isDir && !l.isRecord && !l.isDamaged && l.digest).map((l) => l.digest as Digest));
  const records = new Set(layers.filter((l) => l.isRecord && !l.isDir && l.digest).map((l) => l.digest as Digest));
  const verify: Array<{ path: string; diffId: Digest; treeDigest: Digest; committed: string }> = [];
  for (const l of layers) {
    if (l.isDamaged && !l.isDir && l.digest !== undefined) {
      // a mark beside a committed layer is stale (a crash between the new record and the mark's removal)
      if (!(dirs.has(l.digest) && records.has(l.digest))) {
        problems.push({ kind: 'layer-damaged', path: l.path, message: `layer ${l.digest} was found changed and set aside; keel pull of an image that uses it re-extracts it` });
      }
    } else if (l.digest === undefined || (l.isRecord && l.isDir) || l.isDamaged) {
      problems.push({ kind: 'layer-stray', path: l.path, message: `${l.path} is not a layer or layer record keel could have written` });
    } else if (l.isRecord) {
      if (!dirs.has(l.digest)) problems.push({ kind: 'layer-record-orphan', path: l.path, message: `layer record ${l.digest} has no directory` });
    } else if (!l.isDir) {
      problems.push({ kind: 'layer-stray', path: l.path, message: `${l.path} is a file where a layer directory belongs` });
    } else {
      const r = await readLayerRecord(`${l.path}.json`);
      if (r.state === 'missing') {
        problems.push({ kind: 'layer-no-record', path: l.path, message: `layer ${l.digest} has no completion record (an interrupted extraction)` });
      } else if (r.state === 'invalid') {
        problems.push({ kind: 'layer-record-invalid', path: `${l.path}.json`, message: `layer record ${l.digest} is invalid: ${r.why}` });
      } else if (r.record.diffId !== l.digest) {
        problems.push({ kind: 'layer-record-invalid', path: `${l.path}.json`, message: `layer record ${l.digest} names diff_id ${r.record.diffId}` });
      } else {
        verify.push({ path: l.path, diffId: l.digest, treeDigest: r.record.treeDigest, committed: r.record.committed });
      }
    }
  }
  for (const v of verify) {
    signal?.throwIfAborted();
    let found: Digest;
    try {
      found = await fingerprintTree(v.path, signal);
    } catch (err) {
      if (!notRegular(err)) throw err; // a file swapped for a FIFO or symlink since the walk saw it
      let message = `layer ${v.diffId} has changed since extraction: ${err.message}`;
      if (options.quarantine && (await store.quarantineLayer(v.diffId, v.committed))) message += `; set aside: keel pull of an image that uses it re-extracts it`;
      problems.push({ kind: 'layer-corrupt', path: v.path, message });
      continue;
    }
    if (found !== v.treeDigest) {
      let message = `layer ${v.diffId} has changed since extraction (tree ${found}, recorded ${v.treeDigest})`;
      if (options.quarantine && (await store.quarantineLayer(v.diffId, v.committed))) {
        message += `; set aside (${v.path}${DAMAGED_SUFFIX}), so nothing new is built from it: keel pull of an image that uses it re-extracts it`;
      }
      problems.push({ kind: 'layer-corrupt', path: v.path, message });
    }
  }

  signal?.throwIfAborted();
  let refs;
  try {
    refs = await store.listRefs();
  } catch (err) {
    if (!isKeelError(err, 'E_STORE_CORRUPT')) throw err;
    problems.push({ kind: 'index-corrupt', path: layout.index, message: err.message });
    return problems;
  }
  const reach = await collectReachable(store, refs, false);
  problems.push(...reach.problems);
  return problems;
}
