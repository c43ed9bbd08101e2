// Test images for the apply end-to-end tests, built with tools nobody here
// wrote (umoci, skopeo) and pushed to the loopback registry: etcd 3.4 from
// Debian's packages (scripts/images/build-etcd) and a one-layer static
// busybox (test/helpers/busybox-image.ts). Needs root, umoci, skopeo,
// busybox-static, and apt-get download.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pushBusyboxImage, pushLayout } from '../../helpers/busybox-image.ts';

const run = promisify(execFile);
const BUILD_ETCD = fileURLToPath(new URL('../../../scripts/images/build-etcd', import.meta.url));

/** Builds etcd:3.4 and busybox:1 under `work` and pushes them to `registry` (HOST:PORT). */
export async function pushTestImages(work: string, registry: string): Promise<{ etcd: string; busybox: string }> {
  const etcdLayout = join(work, 'etcd-layout');
  await run(BUILD_ETCD, [etcdLayout, '3.4'], { maxBuffer: 1 << 24, timeout: 300_000 });
  const etcd = `${registry}/etcd:3.4`;
  await pushLayout(etcdLayout, '3.4', etcd);
  const busybox = await pushBusyboxImage(join(work, 'busybox'), `${registry}/busybox:1`, {
    applets: ['sh', 'sleep', 'echo', 'cat', 'ls', 'true', 'false'],
  });
  return { etcd, busybox };
}
