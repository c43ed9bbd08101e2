// An independent OCI implementation (skopeo) reads the store as an image layout.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Store } from '../../../src/store/index.ts';
import { openTempStore, putTinyImage } from './fixtures.ts';

const run = promisify(execFile);

describe('store as an OCI layout', () => {
  let store: Store;
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ store, dir, cleanup } = await openTempStore());
  });
  after(() => cleanup());

  it('skopeo copies an image out of the store by ref name', async () => {
    const img = await putTinyImage(store, 'tiny-1.0');
    const dest = join(dir, 'copy');
    await run('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${store.root}:tiny-1.0`, `oci:${dest}:tiny-1.0`], { timeout: 60_000 });
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, img.manifest.digest, 'the manifest is copied byte for byte');
    for (const d of [img.manifest, img.config, img.layer]) {
      assert.deepEqual(await readFile(join(dest, 'blobs', 'sha256', d.digest.slice(7))), await readFile(store.blobPath(d.digest)));
    }
    const { stdout } = await run('skopeo', ['inspect', '--config', `oci:${store.root}:tiny-1.0`], { timeout: 60_000 });
    assert.deepEqual(JSON.parse(stdout).rootfs.diff_ids, [img.diffId]);
  });
});
