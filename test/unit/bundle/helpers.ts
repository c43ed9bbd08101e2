// Shared fixtures of the bundle unit tests: a spec from YAML text, a fixed image config, temp dirs.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { parseManifestText, type ContainerSpec } from '../../../src/manifest/index.ts';
import type { Digest } from '../../../src/oci/digest.ts';
import type { ImageConfig } from '../../../src/oci/types.ts';

export function specOf(yaml: string, set: Record<string, string> = {}): ContainerSpec {
  const r = parseManifestText(yaml, 'test.yaml', { set, builtins: { HOSTNAME: 'node1' } });
  assert.deepEqual(r.problems, [], JSON.stringify(r.problems));
  assert.equal(r.specs.length, 1);
  return r.specs[0] as ContainerSpec;
}

export const DIFF_A = 'sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' as Digest;
export const DIFF_B = 'sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' as Digest;
export const MANIFEST = 'sha256:1111111111111111111111111111111111111111111111111111111111111111' as Digest;

export const IMAGE: ImageConfig = {
  architecture: 'amd64',
  os: 'linux',
  config: {
    User: 'daemon',
    Env: ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8', 'MODE=image'],
    Entrypoint: ['/bin/server'],
    Cmd: ['--serve'],
    WorkingDir: 'srv/../data',
    Volumes: { '/data': {} },
  },
  rootfs: { type: 'layers', diff_ids: [DIFF_A, DIFF_B] },
};

export async function tempDir(prefix: string): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(`/var/tmp/${prefix}`);
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
