import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { parseReference } from '../../../src/oci/reference.ts';
import { openSource, type RegistrySourceOptions } from '../../../src/transport/index.ts';
import { buildImage, layoutEntries, makeLayer, writeTree } from './fixtures.ts';

let dir: string;
const image = buildImage([makeLayer({ a: 'a' })]);
before(async () => {
  dir = await mkdtemp('/var/tmp/keel-transport-index-');
  await writeTree(join(dir, 'layout'), layoutEntries([{ tag: 'v1', desc: image.manifest }], [image.blobs]));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Opening a registry source does no I/O, so a stand-in config is enough here.
const options = { registry: { config: {} } as unknown as RegistrySourceOptions };

describe('openSource', () => {
  it('dispatches oci: to the layout directory source', async () => {
    const src = openSource(parseReference(`oci:${dir}/layout:v1`), options);
    assert.equal(src.name, `oci:${dir}/layout:v1`);
    assert.equal((await src.getManifest()).digest, image.manifest.digest);
  });

  it('dispatches oci-archive: and docker-archive: to the archive sources, which refuse a directory', async () => {
    for (const transport of ['oci-archive', 'docker-archive']) {
      const src = openSource(parseReference(`${transport}:${dir}/layout`), options);
      assert.equal(src.name, `${transport}:${dir}/layout`);
      await assert.rejects(src.getManifest(), (err: unknown) => isKeelError(err, 'E_SOURCE_INVALID') && /is a directory/.test(err.message));
    }
  });

  it('dispatches registry references to the registry source without touching the network', async () => {
    const src = openSource(parseReference('127.0.0.1:1/keel/test:v1'), options);
    assert.match(src.name, /127\.0\.0\.1:1\/keel\/test/);
    await src.close();
  });
});
