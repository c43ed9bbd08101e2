// Versions of a small "app" image for the lifecycle tests, built with umoci
// and pushed by skopeo (tools nobody here wrote): static busybox plus marker
// files. The manifests' command checks them, so one tag can be moved to an
// image that starts (/ok), one whose command fails at start (no /ok), or one
// that starts but fails its health check (no /healthy). Each version differs
// in /version, so each push is a new digest. Needs root, umoci, skopeo and
// busybox-static.

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface AppVersion {
  /** Written to /version; makes the digest unique. */
  readonly version: string;
  /** /ok exists: the manifests' command starts. */
  readonly ok: boolean;
  /** /healthy exists: the health check passes. */
  readonly healthy: boolean;
}

/** Builds the app image `version` and pushes it as `${registry}/${repo}:${tag}`; returns the reference. */
export async function pushApp(work: string, registry: string, repo: string, tag: string, v: AppVersion): Promise<string> {
  const layout = join(work, `app-layout-${repo}-${v.version}`);
  const bundle = join(work, `app-bundle-${repo}-${v.version}`);
  await rm(layout, { recursive: true, force: true });
  await rm(bundle, { recursive: true, force: true });
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', `${layout}:v`]);
  await run('umoci', ['unpack', '--image', `${layout}:v`, bundle]);
  const root = join(bundle, 'rootfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'sleep', 'echo', 'cat', 'test', 'date', 'true', 'false']) await symlink('busybox', join(root, 'bin', applet));
  await writeFile(join(root, 'version'), `${v.version}\n`);
  if (v.ok) await writeFile(join(root, 'ok'), '');
  if (v.healthy) await writeFile(join(root, 'healthy'), '');
  await run('umoci', ['repack', '--image', `${layout}:v`, bundle]);
  await run('umoci', ['config', '--image', `${layout}:v`, '--config.entrypoint', '/bin/sh']);
  const ref = `${registry}/${repo}:${tag}`;
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:v`, `docker://${ref}`], { maxBuffer: 1 << 24 });
  return ref;
}
