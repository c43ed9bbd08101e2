// `keel images`, `keel rmi`: what the store holds under which names.

import type { Digest } from '../oci/digest.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { Store } from '../store/index.ts';
import { findImage, readStoredImage } from './stored-image.ts';

export interface ImageSummary {
  readonly name: string;
  readonly digest: Digest;
  readonly platform: string;
  readonly layers: number;
  /** Compressed bytes of the layers, as on the wire. */
  readonly size: number;
  readonly created?: string | undefined;
}

export async function listImages(store: Store): Promise<ImageSummary[]> {
  const refs = await store.withSharedLock(() => store.listRefs());
  const images: ImageSummary[] = [];
  for (const { name, descriptor } of refs) {
    const image = await readStoredImage(store, name, descriptor);
    images.push({
      name,
      digest: descriptor.digest,
      platform: formatPlatform(image.config),
      layers: image.manifest.layers.length,
      size: image.manifest.layers.reduce((sum, l) => sum + l.size, 0),
      created: image.config.created,
    });
  }
  return images.sort((a, b) => a.name.localeCompare(b.name));
}

/** Removes a name; the blobs and layers stay until `keel prune`. */
export async function removeImage(store: Store, input: string): Promise<{ name: string; digest: Digest }> {
  return store.withSharedLock(async () => {
    const { name, descriptor } = await findImage(store, input);
    await store.removeRef(name);
    return { name, digest: descriptor.digest };
  });
}
