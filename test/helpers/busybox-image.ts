// Test images of static busybox for the end-to-end tests, built with tools
// nobody here wrote — umoci builds a one-layer OCI image, skopeo pushes it to
// the loopback registry — so keel is checked against independent
// implementations. Needs root, umoci, skopeo and busybox-static.

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Copies the host's static /bin/busybox into `rootfs`/bin, with a link per applet. */
export async function installBusybox(rootfs: string, applets: readonly string[]): Promise<void> {
  const bin = join(rootfs, 'bin');
  await mkdir(bin, { recursive: true });
  await copyFile('/bin/busybox', join(bin, 'busybox'));
  await chmod(join(bin, 'busybox'), 0o755);
  for (const applet of applets) await symlink('busybox', join(bin, applet));
}

/** skopeo copy of `layout`:`tag` (an OCI layout) to `ref` (HOST:PORT/REPO:TAG) on the plain-HTTP registry. */
export async function pushLayout(layout: string, tag: string, ref: string): Promise<void> {
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${ref}`], { maxBuffer: 1 << 24 });
}

export interface BusyboxImage {
  /** The busybox applets linked in /bin. */
  readonly applets: readonly string[];
  /** Adds the image's own files to its root filesystem. */
  readonly files?: ((rootfs: string) => Promise<void>) | undefined;
  /** `umoci config` arguments (default: the entrypoint /bin/sh). */
  readonly config?: readonly string[] | undefined;
}

/**
 * Builds the image in `dir` (emptied first; the OCI layout stays in
 * `dir`/layout) and pushes it as `ref`; resolves with `ref`.
 */
export async function pushBusyboxImage(dir: string, ref: string, image: BusyboxImage): Promise<string> {
  const layout = join(dir, 'layout');
  const bundle = join(dir, 'bundle');
  const tag = `${layout}:v`;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', tag]);
  await run('umoci', ['unpack', '--image', tag, bundle]);
  const rootfs = join(bundle, 'rootfs');
  await installBusybox(rootfs, image.applets);
  await image.files?.(rootfs);
  await run('umoci', ['repack', '--image', tag, bundle]);
  await run('umoci', ['config', '--image', tag, ...(image.config ?? ['--config.entrypoint', '/bin/sh'])]);
  await pushLayout(layout, 'v', ref);
  await rm(bundle, { recursive: true, force: true });
  return ref;
}
