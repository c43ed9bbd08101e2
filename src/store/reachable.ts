// What index.json's refs keep alive: ref -> manifest or index -> child
// manifests -> config + layer blobs; config -> diff_ids -> extracted layers.
// Used by prune (strict: any unreadable manifest or config aborts, so nothing
// is deleted on a partial view) and by check (every problem is reported).

import { KeelError, isKeelError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { INDEX_TYPES, MANIFEST_TYPES } from '../oci/media-types.ts';
import { parseImageConfig, parseManifestDocument } from '../oci/parse.ts';
import type { Descriptor } from '../oci/types.ts';
import type { StoreProblem } from './problem.ts';

import { MAX_MANIFEST_BYTES } from '../oci/limits.ts';
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export interface BlobReader {
  blobPath(digest: Digest): string;
  layerPath(diffId: Digest): string;
  hasBlob(digest: Digest): Promise<boolean>;
  hasLayer(diffId: Digest): Promise<boolean>;
  readBlob(digest: Digest, maxBytes: number): Promise<Buffer>;
}

export interface Reachable {
  readonly blobs: Set<string>;
  readonly layers: Set<string>;
  readonly problems: StoreProblem[];
}

export async function collectReachable(store: BlobReader, refs: Array<{ name: string; descriptor: Descriptor }>, strict: boolean): Promise<Reachable> {
  const out: Reachable = { blobs: new Set(), layers: new Set(), problems: [] };
  const seen = new Set<string>();
  const problem = (p: StoreProblem): void => {
    if (strict) {
      throw new KeelError('E_STORE_CORRUPT', `${p.message} (${p.path}); nothing was pruned`, {
        detail: { ...p },
        hint: 'run keel check, then keel rmi the broken image or pull it again',
      });
    }
    out.problems.push(p);
  };
  const read = async (d: Descriptor, max: number, what: string): Promise<Buffer | undefined> => {
    if (!(await store.hasBlob(d.digest))) {
      problem({ kind: 'blob-missing', path: store.blobPath(d.digest), message: `${what} ${d.digest} is missing` });
      return undefined;
    }
    try {
      return await store.readBlob(d.digest, max);
    } catch (err) {
      // A corrupt blob is reported by the blob scan; strict mode must still stop.
      if (!strict && isKeelError(err, 'E_STORE_CORRUPT')) return undefined;
      problem({ kind: 'blob-unreadable', path: store.blobPath(d.digest), message: `${what} ${d.digest} cannot be read: ${(err as Error).message}` });
      return undefined;
    }
  };
  const visit = async (d: Descriptor, what: string, depth: number): Promise<void> => {
    out.blobs.add(d.digest);
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (!INDEX_TYPES.includes(d.mediaType) && !MANIFEST_TYPES.includes(d.mediaType)) {
      if (!(await store.hasBlob(d.digest))) problem({ kind: 'blob-missing', path: store.blobPath(d.digest), message: `${what} ${d.digest} is missing` });
      return;
    }
    const bytes = await read(d, MAX_MANIFEST_BYTES, what);
    if (bytes === undefined) return;
    let doc;
    try {
      doc = parseManifestDocument(bytes, d.mediaType);
    } catch (err) {
      problem({ kind: 'manifest-invalid', path: store.blobPath(d.digest), message: `${what} ${d.digest} is invalid: ${(err as Error).message}` });
      return;
    }
    if (doc.kind === 'index') {
      if (depth >= 4) return problem({ kind: 'manifest-invalid', path: store.blobPath(d.digest), message: `${what} ${d.digest} nests indexes too deeply` });
      for (const child of doc.manifests) await visit(child, `manifest of ${what}`, depth + 1);
      return;
    }
    out.blobs.add(doc.config.digest);
    for (const layer of doc.layers) {
      out.blobs.add(layer.digest);
      if (!(await store.hasBlob(layer.digest))) {
        problem({ kind: 'blob-missing', path: store.blobPath(layer.digest), message: `layer blob ${layer.digest} of ${what} is missing` });
      }
    }
    const configBytes = await read(doc.config, MAX_CONFIG_BYTES, `config of ${what}`);
    if (configBytes === undefined) return;
    let config;
    try {
      config = parseImageConfig(configBytes);
    } catch (err) {
      problem({ kind: 'config-invalid', path: store.blobPath(doc.config.digest), message: `config of ${what} is invalid: ${(err as Error).message}` });
      return;
    }
    for (const diffId of config.rootfs.diff_ids) {
      out.layers.add(diffId);
      if (!strict && !(await store.hasLayer(diffId))) {
        problem({ kind: 'layer-missing', path: store.layerPath(diffId), message: `layer ${diffId} of ${what} is not extracted` });
      }
    }
  };
  for (const ref of refs) await visit(ref.descriptor, `image ${ref.name}`, 0);
  return out;
}
