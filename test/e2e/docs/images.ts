// The images docs/operations.md's examples run, built with umoci and pushed
// by skopeo to the loopback registry (tools nobody here wrote): static
// busybox plus two small scripts.
//   web   — /usr/bin/serve: busybox httpd on 127.0.0.1:8080 serving /www
//           (/www/version, and /www/healthz unless the variant is unhealthy);
//   probe — /usr/bin/probe URL: fetches URL every 30 s and logs the result.
// Both entrypoints are a shell that exits 0 on SIGTERM (a bare busybox
// process as PID 1 ignores it and every stop would cost the stop timeout).
// Each version differs in /www/version, so each push is a new digest.
// Needs root, umoci, skopeo and busybox-static (test/helpers/busybox-image.ts).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pushBusyboxImage } from '../../helpers/busybox-image.ts';

export interface DocImage {
  /** `web` or `probe`: which script is the entrypoint. */
  readonly kind: 'web' | 'probe';
  /** Written to /www/version; makes the digest unique. */
  readonly version: string;
  /** /www/healthz exists (web): the manifest's health check passes. */
  readonly healthy: boolean;
}

const SERVE = `#!/bin/sh
# Serves /www on 127.0.0.1:\${PORT:-8080}; exits 0 on SIGTERM.
trap 'exit 0' TERM INT
httpd -f -p "127.0.0.1:\${PORT:-8080}" -h /www &
wait
`;

const PROBE = `#!/bin/sh
# Fetches URL (default http://127.0.0.1:8080/healthz) every 30 s; exits 0 on SIGTERM.
trap 'exit 0' TERM INT
url=\${1:-http://127.0.0.1:8080/healthz}
while :; do
  if wget -q -O /dev/null "$url"; then echo "$url: ok"; else echo "$url: failing"; fi
  sleep 30 &
  wait $!
done
`;

const APPLETS = ['sh', 'httpd', 'wget', 'sleep', 'echo', 'cat', 'test', 'true', 'false', 'date', 'ls'];

/** Builds the image and pushes it as `${registry}/${repo}:${tag}`; returns the reference. */
export async function pushDocImage(work: string, registry: string, repo: string, tag: string, image: DocImage): Promise<string> {
  return pushBusyboxImage(join(work, `image-${repo}-${image.version}`), `${registry}/${repo}:${tag}`, {
    applets: APPLETS,
    files: async (root) => {
      for (const dir of ['usr/bin', 'www', 'tmp']) await mkdir(join(root, dir), { recursive: true });
      await writeFile(join(root, 'usr/bin/serve'), SERVE, { mode: 0o755 });
      await writeFile(join(root, 'usr/bin/probe'), PROBE, { mode: 0o755 });
      await writeFile(join(root, 'www/index.html'), `<p>web ${image.version}</p>\n`);
      await writeFile(join(root, 'www/version'), `${image.version}\n`);
      if (image.healthy) await writeFile(join(root, 'www/healthz'), 'ok\n');
    },
    config: ['--config.env', 'PATH=/usr/bin:/bin', '--config.entrypoint', image.kind === 'web' ? '/usr/bin/serve' : '/usr/bin/probe'],
  });
}
