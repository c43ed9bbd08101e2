// Versions of a small "app" image for the lifecycle tests, built with umoci
// and pushed by skopeo (tools nobody here wrote; test/helpers/busybox-image.ts):
// static busybox plus marker files. The manifests' command checks them, so
// one tag can be moved to an image that starts (/ok), one whose command fails
// at start (no /ok), or one that starts but fails its health check (no
// /healthy). Each version differs in /version, so each push is a new digest.
// Needs root, umoci, skopeo and busybox-static.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pushBusyboxImage } from '../../helpers/busybox-image.ts';

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
  return pushBusyboxImage(join(work, `app-${repo}-${v.version}`), `${registry}/${repo}:${tag}`, {
    applets: ['sh', 'sleep', 'echo', 'cat', 'test', 'date', 'true', 'false'],
    files: async (root) => {
      await writeFile(join(root, 'version'), `${v.version}\n`);
      if (v.ok) await writeFile(join(root, 'ok'), '');
      if (v.healthy) await writeFile(join(root, 'healthy'), '');
    },
  });
}
