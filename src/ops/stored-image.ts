// Reads an image back out of the store by the name it was pulled under:
// ref -> manifest -> config, each blob verified and parsed.

import { KeelError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { parseImageConfig, parseManifestDocument } from '../oci/parse.ts';
import { parseReference, storeName } from '../oci/reference.ts';
import type { Descriptor, ImageConfig, ImageManifest } from '../oci/types.ts';
import type { StackLayer } from '../layer/index.ts';
import type { Store } from '../store/index.ts';

export { MAX_MANIFEST_BYTES } from '../oci/limits.ts';
import { MAX_MANIFEST_BYTES } from '../oci/limits.ts';

export interface StoredImage {
  readonly name: string;
  readonly descriptor: Descriptor;
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
}

/** The canonical store name of what the user typed (`etcd` -> `docker.io/library/etcd:latest`). */
export function imageName(input: string): string {
  return storeName(parseReference(input));
}

export async function findImage(store: Store, input: string): Promise<{ name: string; descriptor: Descriptor }> {
  const refs = await store.listRefs();
  // A bare digest (or a unique prefix of at least 12 hex digits) names an image too.
  const hex = input.replace(/^sha256:/, '');
  if (/^[a-f0-9]{12,64}$/.test(hex)) {
    const matches = refs.filter((r) => r.descriptor.digest.startsWith(`sha256:${hex}`));
    const digests = new Set(matches.map((m) => m.descriptor.digest));
    if (digests.size === 1 && matches[0]) return matches[0];
  }
  const name = imageName(input);
  const found = refs.find((r) => r.name === name);
  if (!found) {
    throw new KeelError('E_IMAGE_NOT_FOUND', `image ${name} is not in the store at ${store.root}`, {
      hint: `pull it first: keel --root ${store.root} pull ${input}`,
      detail: { name },
    });
  }
  return found;
}

export async function readStoredImage(store: Store, name: string, descriptor: Descriptor): Promise<StoredImage> {
  const doc = parseManifestDocument(await store.readBlob(descriptor.digest, MAX_MANIFEST_BYTES), descriptor.mediaType);
  if (doc.kind !== 'manifest') {
    throw new KeelError('E_STORE_CORRUPT', `ref ${name} points at an index, keel stores platform manifests`, { hint: `pull ${name} again` });
  }
  const config = parseImageConfig(await store.readBlob(doc.config.digest, MAX_MANIFEST_BYTES));
  if (config.rootfs.diff_ids.length !== doc.layers.length) {
    throw new KeelError('E_MANIFEST_INVALID', `image ${name}: config lists ${config.rootfs.diff_ids.length} diff_ids for ${doc.layers.length} layers`);
  }
  return { name, descriptor, manifest: doc, config };
}

export function diffIds(image: StoredImage): readonly Digest[] {
  return image.config.rootfs.diff_ids;
}

/**
 * The image's extracted layers, bottom first, as stackLayers wants them.
 * A layer that is not (completely) extracted, or that keel check set aside as
 * damaged, is E_STORE_CORRUPT: pull repairs it.
 */
export async function stackableLayers(store: Store, image: StoredImage): Promise<StackLayer[]> {
  const layers: StackLayer[] = [];
  for (const diffId of image.config.rootfs.diff_ids) {
    const record = (await store.hasLayer(diffId)) ? await store.layerRecord(diffId) : undefined;
    if (!record) {
      if (await store.layerDamaged(diffId)) {
        throw new KeelError('E_STORE_CORRUPT', `layer ${diffId} of ${image.name} was found changed since extraction (keel check) and set aside`, {
          detail: { diffId, image: image.name },
          hint: `run keel pull ${image.name} to extract it again from its verified blob`,
        });
      }
      throw new KeelError('E_STORE_CORRUPT', `layer ${diffId} of ${image.name} is not extracted in the store`, {
        hint: `run keel pull ${image.name} to restore it`,
      });
    }
    layers.push({ dir: store.layerPath(diffId), implicitDirs: record.implicitDirs, externalLinks: record.externalLinks, xattrPaths: record.xattrPaths, extraction: record.committed });
  }
  return layers;
}
