// `keel images`, `keel rmi`: what the store holds under which names.

import { isKeelError, type KeelError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Store } from '../store/index.ts';
import { findImage, readStoredImage, type StoredImage } from './stored-image.ts';

export interface ImageSummary {
  readonly name: string;
  readonly digest: Digest;
  readonly platform: string;
  readonly layers: number;
  /** Compressed bytes of the layers, as on the wire. */
  readonly size: number;
  readonly created?: string | undefined;
  /**
   * Set when the image cannot be used as stored: what is missing or damaged
   * (its manifest, config, a layer blob or an extracted layer), and the code.
   */
  readonly problem?: { readonly code: string; readonly message: string; readonly hint?: string | undefined } | undefined;
}

/**
 * Every named image, each read on its own: one whose manifest or config is
 * missing or damaged, or whose layers are not all in the store, is listed with
 * its `problem` instead of failing the listing of the others.
 */
export async function listImages(store: Store): Promise<ImageSummary[]> {
  const refs = await store.withSharedLock(() => store.listRefs());
  const images: ImageSummary[] = [];
  for (const { name, descriptor } of refs) {
    let image: StoredImage;
    try {
      image = await readStoredImage(store, name, descriptor);
    } catch (err) {
      if (!isKeelError(err)) throw err;
      images.push({
        name,
        digest: descriptor.digest,
        platform: descriptor.platform ? formatPlatform(descriptor.platform) : '?',
        layers: 0,
        size: 0,
        problem: brokenBecause(err, name),
      });
      continue;
    }
    images.push({
      name,
      digest: descriptor.digest,
      platform: formatPlatform(image.config),
      layers: image.manifest.layers.length,
      size: image.manifest.layers.reduce((sum, l) => sum + l.size, 0),
      created: image.config.created,
      problem: await missingLayer(store, image),
    });
  }
  return images.sort((a, b) => a.name.localeCompare(b.name));
}

function brokenBecause(err: KeelError, name: string): NonNullable<ImageSummary['problem']> {
  // A manifest or config that is not in the store is a broken store, not an unknown image.
  const code = err.code === 'E_IMAGE_NOT_FOUND' ? 'E_STORE_CORRUPT' : err.code;
  return { code, message: err.message, hint: `run keel check; keel pull ${name} repairs it, or keel rmi ${name} drops it` };
}

/** The first layer blob or extracted layer of `image` that the store lacks, if any. */
async function missingLayer(store: Store, image: StoredImage): Promise<ImageSummary['problem']> {
  const hint = `keel pull ${image.name} restores it`;
  for (const [i, layer] of image.manifest.layers.entries()) {
    if (!(await store.hasBlob(layer.digest))) return { code: 'E_STORE_CORRUPT', message: `layer blob ${layer.digest} is not in the store`, hint };
    const diffId = image.config.rootfs.diff_ids[i];
    if (diffId !== undefined && !(await store.hasLayer(diffId))) {
      const why = (await store.layerDamaged(diffId)) ? 'was found changed since extraction and set aside (keel check)' : 'is not extracted in the store';
      return { code: 'E_STORE_CORRUPT', message: `layer ${diffId} ${why}`, hint };
    }
  }
  return undefined;
}

/** Removes a name; the blobs and layers stay until `keel prune`. */
export async function removeImage(store: Store, input: string): Promise<{ name: string; digest: Digest }> {
  return store.withSharedLock(async () => {
    const { name, descriptor } = await findImage(store, input);
    await store.removeRef(name);
    return { name, digest: descriptor.digest };
  });
}
