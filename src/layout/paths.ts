// Every path under keel's --root, in one place: the store (an OCI image
// layout plus keel's extracted layers), the per-image shared root filesystems
// and the containers' deployment slots. Other modules ask here for a path and
// never join names of their own onto the root.
//
//   oci-layout, index.json                   OCI image layout (store/)
//   keel-store.json                          keel's format version of everything below (store/)
//   blobs/<alg>/<hex>                        content-addressed blobs (store/)
//   layers/<alg>/<hex>/, <hex>.json          extracted layer trees and their records (store/)
//   layers/<alg>/<hex>.damaged               a layer check set aside (store/)
//   tmp/, locks/                             the store's staging and locks (store/)
//   rootfs/<alg>/<hex>/rootfs/, keel-rootfs.json   one image's shared tree and its record (bundle/)
//   containers/NAME/a/, b/, active -> a      a container's deployment slots (bundle/)
//
// Invariants: every path derived from a digest goes through parseDigest, every
// container name through the manifest's name pattern, before it becomes a path.
// Names that start with "." inside rootfs/ and containers/ are stagings or
// leftovers (staging.ts), never content.

import path from 'node:path';
import { KeelError } from '../errors.ts';
import { NAME } from '../manifest/constants.ts';
import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../oci/digest.ts';

export type Slot = 'a' | 'b';
export const SLOTS: readonly Slot[] = ['a', 'b'];
export const ACTIVE_LINK = 'active';
export const ROOTFS_RECORD = 'keel-rootfs.json';

export function checkName(name: string): void {
  if (!NAME.test(name)) {
    throw new KeelError('E_USAGE', `${JSON.stringify(name)} is not a container name`, { hint: 'names are lowercase letters, digits and -, starting with a letter' });
  }
}

function digestPath(base: string, digest: Digest): string {
  const d = parseDigest(digest);
  return path.join(base, digestAlgorithm(d), digestHex(d));
}

/** The paths of one --root. */
export class RootPaths {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  // ---- the store ----------------------------------------------------------
  get ociLayout(): string {
    return path.join(this.root, 'oci-layout');
  }
  get index(): string {
    return path.join(this.root, 'index.json');
  }
  /** keel's own format marker of the store (store/layout.ts STORE_FORMAT). */
  get storeFormat(): string {
    return path.join(this.root, 'keel-store.json');
  }
  get tmp(): string {
    return path.join(this.root, 'tmp');
  }
  get locks(): string {
    return path.join(this.root, 'locks');
  }
  get blobsRoot(): string {
    return path.join(this.root, 'blobs');
  }
  get layersRoot(): string {
    return path.join(this.root, 'layers');
  }
  blob(digest: Digest): string {
    return digestPath(this.blobsRoot, digest);
  }
  layer(diffId: Digest): string {
    return digestPath(this.layersRoot, diffId);
  }
  layerRecord(diffId: Digest): string {
    return `${this.layer(diffId)}.json`;
  }
  /** The mark of a layer `check` found changed and set aside (the old record, renamed). */
  layerDamaged(diffId: Digest): string {
    return `${this.layer(diffId)}.damaged`;
  }

  // ---- shared root filesystems ------------------------------------------
  get rootfsRoot(): string {
    return path.join(this.root, 'rootfs');
  }
  /** The directory holding one image's tree and record. */
  rootfsHome(manifest: Digest): string {
    return digestPath(this.rootfsRoot, manifest);
  }
  rootfsTree(manifest: Digest): string {
    return path.join(this.rootfsHome(manifest), 'rootfs');
  }
  rootfsRecord(manifest: Digest): string {
    return path.join(this.rootfsHome(manifest), ROOTFS_RECORD);
  }

  // ---- containers ---------------------------------------------------------
  get containersRoot(): string {
    return path.join(this.root, 'containers');
  }
  container(name: string): string {
    checkName(name);
    return path.join(this.containersRoot, name);
  }
  slot(name: string, slot: Slot): string {
    return path.join(this.container(name), slot);
  }
  activeLink(name: string): string {
    return path.join(this.container(name), ACTIVE_LINK);
  }
}

export function rootPaths(root: string): RootPaths {
  return new RootPaths(root);
}
