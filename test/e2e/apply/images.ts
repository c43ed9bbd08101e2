// Test images for the apply end-to-end tests, built with tools nobody here
// wrote (umoci, skopeo) and pushed to the loopback registry: etcd 3.4 from
// Debian's packages (scripts/images/build-etcd) and a one-layer static
// busybox. Needs root, umoci, skopeo, busybox-static, and apt-get download.

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BUILD_ETCD = fileURLToPath(new URL('../../../scripts/images/build-etcd', import.meta.url));

async function push(layout: string, tag: string, dest: string): Promise<void> {
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${dest}`], { maxBuffer: 1 << 24 });
}

/** Builds etcd:3.4 and busybox:1 under `work` and pushes them to `registry` (HOST:PORT). */
export async function pushTestImages(work: string, registry: string): Promise<{ etcd: string; busybox: string }> {
  const etcdLayout = join(work, 'etcd-layout');
  await run(BUILD_ETCD, [etcdLayout, '3.4'], { maxBuffer: 1 << 24, timeout: 300_000 });
  await push(etcdLayout, '3.4', `${registry}/etcd:3.4`);

  const bbLayout = join(work, 'busybox-layout');
  const bundle = join(work, 'busybox-bundle');
  await run('umoci', ['init', '--layout', bbLayout]);
  await run('umoci', ['new', '--image', `${bbLayout}:1`]);
  await run('umoci', ['unpack', '--image', `${bbLayout}:1`, bundle]);
  const bin = join(bundle, 'rootfs/bin');
  await mkdir(bin, { recursive: true });
  await copyFile('/bin/busybox', join(bin, 'busybox'));
  await chmod(join(bin, 'busybox'), 0o755);
  for (const applet of ['sh', 'sleep', 'echo', 'cat', 'ls', 'true', 'false']) await symlink('busybox', join(bin, applet));
  await run('umoci', ['repack', '--image', `${bbLayout}:1`, bundle]);
  await run('umoci', ['config', '--image', `${bbLayout}:1`, '--config.entrypoint', '/bin/sh']);
  await push(bbLayout, '1', `${registry}/busybox:1`);
  return { etcd: `${registry}/etcd:3.4`, busybox: `${registry}/busybox:1` };
}
