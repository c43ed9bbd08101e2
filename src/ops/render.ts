// `keel apply`'s rendering step for one container: find the pulled image in
// the store (pulling is the caller's job), check its layers are extracted, and
// render the container's bundle (bundle/renderBundle: shared hard-link rootfs,
// config.json into the inactive slot, atomic flip). Runs under the store's
// shared lock so `keel prune` cannot remove layers while a tree links to them.

import { KeelError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { storeName } from '../oci/reference.ts';
import { collectInUse, renderBundle, type RenderOptions, type RenderResult } from '../bundle/index.ts';
import type { ContainerSpec } from '../manifest/index.ts';
import type { Store } from '../store/index.ts';
import { readStoredImage, stackableLayers } from './stored-image.ts';

export type { RenderResult } from '../bundle/index.ts';
export { activeBundle, removeContainerBundles, prepareRootfs, releaseRootfs, pruneUnusedRootfs } from '../bundle/index.ts';

export interface RenderContainerOptions extends RenderOptions {
  /** Render this manifest digest (a deployment's pin) instead of what the store's ref names now. */
  readonly digest?: Digest | undefined;
  readonly mediaType?: string | undefined;
}

export async function renderContainer(store: Store, spec: ContainerSpec, options: RenderContainerOptions = {}): Promise<RenderResult> {
  return store.withSharedLock(async () => {
    const name = storeName(spec.reference);
    const ref = await store.getRef(name);
    const descriptor = options.digest === undefined || ref?.digest === options.digest
      ? ref
      : { mediaType: options.mediaType ?? '', digest: options.digest, size: 0 };
    if (descriptor === undefined) {
      throw new KeelError('E_IMAGE_NOT_FOUND', `image ${name} of container ${spec.name} is not in the store at ${store.root}`, {
        detail: { name, container: spec.name },
        hint: `pull it first: keel --root ${store.root} pull ${spec.image}`,
      });
    }
    const image = await readStoredImage(store, name, descriptor);
    const layers = await stackableLayers(store, image);
    return renderBundle(store.root, spec, { name, digest: descriptor.digest, mediaType: image.manifest.mediaType, config: image.config, layers }, options);
  });
}

/** The layer diff_ids that containers' slots use: pass them to store.prune({ keepLayers }). */
export async function layersInUse(store: Store): Promise<Set<Digest>> {
  return new Set((await collectInUse(store.root)).diffIds);
}
