// `keel unpack IMAGE DIR`: an OCI runtime bundle from a stored image —
// DIR/rootfs with every layer stacked (file data copied from the store's
// extracted layers, whiteouts applied) and DIR/config.json from the image
// config. Nothing is left behind on failure: what keel created is removed.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import type { Platform } from '../oci/types.ts';
import { renderImageRuntimeConfig, serializeRuntimeConfig } from '../bundle/runtime-config.ts';
import { resolveUser } from '../bundle/user.ts';
import { stackLayers } from '../layer/index.ts';
import type { Store } from '../store/index.ts';
import { findImage, readStoredImage, stackableLayers } from './stored-image.ts';

export interface UnpackOptions {
  readonly platform?: Platform | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface UnpackResult {
  readonly name: string;
  readonly digest: Digest;
  readonly bundle: string;
  readonly entries: number;
  readonly bytes: number;
  /** What stacking could not carry into the rootfs (extended attributes), one line per kind. */
  readonly warnings: readonly string[];
}

export async function unpackImage(store: Store, input: string, bundleDir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const bundle = path.resolve(bundleDir);
  return store.withSharedLock(async () => {
    const { name, descriptor } = await findImage(store, input);
    const image = await readStoredImage(store, name, descriptor);
    const layers = await stackableLayers(store, image);
    const created = await prepareBundleDir(bundle);
    try {
      const rootfs = path.join(bundle, 'rootfs');
      const stats = await stackLayers(layers, rootfs, { mode: 'copy', signal: options.signal });
      const user = await resolveUser(rootfs, image.config.config.User);
      const spec = renderImageRuntimeConfig(image.config, user, {
        annotations: { 'org.opencontainers.image.ref.name': name, 'io.keel.image.digest': descriptor.digest },
      });
      await fs.writeFile(path.join(bundle, 'config.json'), serializeRuntimeConfig(spec), { mode: 0o600, flag: 'wx' });
      return { name, digest: descriptor.digest, bundle, entries: stats.entries, bytes: stats.bytes, warnings: stats.warnings };
    } catch (err) {
      await fs.rm(created ? bundle : path.join(bundle, 'rootfs'), { recursive: true, force: true }).catch(() => undefined);
      if (!created) await fs.rm(path.join(bundle, 'config.json'), { force: true }).catch(() => undefined);
      throw err instanceof KeelError ? err : fsError(`unpacking ${name} into ${bundle}`, err);
    }
  });
}

/** Creates the bundle directory (0700, as umoci does) or accepts an empty one; true if created. */
async function prepareBundleDir(bundle: string): Promise<boolean> {
  try {
    await fs.mkdir(bundle, { mode: 0o700 });
    return true;
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw fsError(`creating bundle directory ${bundle}`, err);
  }
  const stat = await fs.lstat(bundle);
  if (!stat.isDirectory() || (await fs.readdir(bundle)).length > 0) {
    throw new KeelError('E_BUNDLE_EXISTS', `${bundle} exists and is not an empty directory`, { hint: 'choose a new directory, or remove the old bundle first' });
  }
  // keel writes the rootfs as root: a directory another user owns or may write
  // into could have rootfs/ swapped for a symlink while layers are stacked.
  const euid = process.geteuid?.();
  if ((euid !== undefined && stat.uid !== euid) || (stat.mode & 0o022) !== 0) {
    throw new KeelError('E_PERMISSION', `${bundle} is owned by uid ${stat.uid} or writable by other users; keel will not write a rootfs there`, {
      hint: 'let keel create the bundle directory (name one that does not exist yet)',
    });
  }
  return false;
}
