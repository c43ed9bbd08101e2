// check finds damage; prune keeps what refs reach and removes the rest.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { digestOf, type Digest } from '../../../src/oci/digest.ts';
import { MediaType } from '../../../src/oci/media-types.ts';
import { Store, type StoreProblem } from '../../../src/store/index.ts';
import { openTempStore, putTinyImage } from './fixtures.ts';

const kinds = (ps: StoreProblem[]): string[] => ps.map((p) => p.kind).sort();

describe('store check', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ store, cleanup } = await openTempStore());
  });
  afterEach(() => cleanup());

  it('finds nothing wrong in a healthy store', async () => {
    await putTinyImage(store, 'img:1');
    assert.deepEqual(await store.check(), []);
  });

  it('finds a flipped byte in a blob', async () => {
    const img = await putTinyImage(store, 'img:1');
    const path = store.blobPath(img.layer.digest);
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    await writeFile(path, bytes);
    const problems = await store.check();
    assert.deepEqual(kinds(problems), ['blob-corrupt']);
    assert.equal(problems[0]?.path, path);
  });

  it('finds a modified file in a layer directory', async () => {
    const img = await putTinyImage(store, 'img:1');
    await writeFile(join(store.layerPath(img.diffId), 'hello.txt'), 'tampered\n');
    const problems = await store.check();
    assert.deepEqual(kinds(problems), ['layer-corrupt']);
    assert.equal(problems[0]?.path, store.layerPath(img.diffId));
  });

  it('with quarantine, sets a changed layer aside (record -> .damaged, tree gone); a new commit repairs it and drops the mark', async () => {
    const img = await putTinyImage(store, 'img:1');
    const committed = (await store.layerRecord(img.diffId))?.committed as string;
    await writeFile(join(store.layerPath(img.diffId), 'hello.txt'), 'tampered\n');
    assert.deepEqual(kinds(await store.check()), ['layer-corrupt'], 'without quarantine nothing changes');
    assert.equal(await store.hasLayer(img.diffId), true);
    const problems = await store.check({ quarantine: true });
    assert.deepEqual(kinds(problems), ['layer-corrupt', 'layer-missing'], 'set aside at once, so the image now lacks it');
    assert.match(problems.find((p) => p.kind === 'layer-corrupt')?.message ?? '', /set aside/);
    assert.equal(await store.hasLayer(img.diffId), false);
    assert.equal(await store.layerDamaged(img.diffId), true);
    assert.deepEqual(kinds(await store.check()), ['layer-damaged', 'layer-missing']);
    // a stale verification does not set aside a layer committed since
    assert.equal(await store.quarantineLayer(img.diffId, committed), false);

    const staging = await store.stageLayer();
    for (const [path, content] of Object.entries(img.files)) {
      await mkdir(join(staging.dir, path, '..'), { recursive: true });
      await writeFile(join(staging.dir, path), content);
    }
    await staging.commit(img.diffId, { digest: img.layer.digest, mediaType: img.layer.mediaType, entries: 2, size: 0 });
    assert.equal(await store.hasLayer(img.diffId), true);
    assert.equal(await store.layerDamaged(img.diffId), false);
    assert.deepEqual(await readdir(join(store.root, 'layers', 'sha256')).then((n) => n.filter((x) => x.endsWith('.damaged'))), []);
    assert.deepEqual(await store.check(), []);
  });

  it('finds a missing blob', async () => {
    const img = await putTinyImage(store, 'img:1');
    await rm(store.blobPath(img.config.digest));
    const problems = await store.check();
    assert.deepEqual(kinds(problems), ['blob-missing']);
    assert.equal(problems[0]?.path, store.blobPath(img.config.digest));
  });

  it('finds a layer directory without record, and a referenced layer that is not extracted', async () => {
    const img = await putTinyImage(store, 'img:1', 'hello', false);
    await mkdir(join(store.layerPath(img.diffId), 'etc'), { recursive: true });
    assert.deepEqual(kinds(await store.check()), ['layer-missing', 'layer-no-record']);
  });

  it('reports a FIFO and a link to /dev/zero named like blobs without opening them (regression: check hung forever)', async () => {
    await putTinyImage(store, 'img:1');
    const fifo = join(store.root, 'blobs', 'sha256', 'e'.repeat(64));
    const link = join(store.root, 'blobs', 'sha256', 'f'.repeat(64));
    execFileSync('mkfifo', [fifo]);
    await symlink('/dev/zero', link);
    const problems = await store.check();
    assert.deepEqual(problems.map((p) => [p.kind, p.path]).sort(), [['blob-stray', fifo], ['blob-stray', link]]);
    await assert.rejects(store.readBlob(`sha256:${'e'.repeat(64)}` as Digest, 1024), (err) => isKeelError(err, 'E_STORE_CORRUPT'));
    assert.equal(await store.hasBlob(`sha256:${'f'.repeat(64)}` as Digest), false, 'a symlink is not a stored blob');
  });

  it('stops with the abort reason once the signal fires', async () => {
    await putTinyImage(store, 'img:1');
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    await assert.rejects(store.check({ signal: controller.signal }), (err) => err === reason);
  });

  it('finds a damaged index.json', async () => {
    await writeFile(join(store.root, 'index.json'), 'not json');
    assert.deepEqual(kinds(await store.check()), ['index-corrupt']);
  });
});

describe('store prune', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ store, cleanup } = await openTempStore());
  });
  afterEach(() => cleanup());
  after(() => {});

  it('removes unreferenced blobs and layers and keeps referenced ones', async () => {
    const keep = await putTinyImage(store, 'keep:1', 'kept');
    const drop = await putTinyImage(store, 'drop:1', 'dropped');
    const loose = Buffer.from('loose blob');
    await store.putBlob(loose, { digest: digestOf(loose) });
    const leftover = digestOf('half-extracted');
    await mkdir(join(store.layerPath(leftover), 'usr'), { recursive: true });
    assert.equal(await store.removeRef('drop:1'), true);

    const result = await store.prune();
    assert.equal(result.blobs, 4, 'manifest, config and layer of drop:1, plus the loose blob');
    assert.equal(result.layers, 2, 'the dropped layer and the leftover');
    assert.ok(result.bytes > 0);
    for (const d of [keep.manifest, keep.config, keep.layer]) assert.equal(await store.hasBlob(d.digest), true);
    assert.equal(await store.hasLayer(keep.diffId), true);
    for (const d of [drop.manifest, drop.config, drop.layer]) assert.equal(await store.hasBlob(d.digest), false);
    assert.equal(await store.hasLayer(drop.diffId), false);
    assert.deepEqual((await readdir(join(store.root, 'layers', 'sha256'))).sort(), [keep.diffId.slice(7), `${keep.diffId.slice(7)}.json`].sort());
    assert.deepEqual(await readdir(join(store.root, 'tmp')), []);
    assert.deepEqual(await store.check(), []);
  });

  it('keeps layers named in keepLayers', async () => {
    const img = await putTinyImage(store, 'x:1');
    await store.removeRef('x:1');
    const result = await store.prune({ keepLayers: [img.diffId] });
    assert.equal(result.layers, 0);
    assert.equal(await store.hasLayer(img.diffId), true);
    assert.equal(await store.hasBlob(img.manifest.digest), false);
  });

  it('keeps what an image index reaches', async () => {
    const img = await putTinyImage(store, 'child:1');
    const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [{ ...img.manifest, platform: { os: 'linux', architecture: 'amd64' } }] }));
    const index = { mediaType: MediaType.OCI_INDEX, digest: digestOf(indexBytes), size: indexBytes.length };
    await store.putBlob(indexBytes, index);
    await store.setRef('multi:1', index);
    await store.removeRef('child:1');
    const result = await store.prune();
    assert.deepEqual(result, { blobs: 0, layers: 0, bytes: 0 });
    assert.equal(await store.hasLayer(img.diffId), true);
  });

  it('deletes nothing when a referenced manifest is missing', async () => {
    const img = await putTinyImage(store, 'broken:1');
    const loose = Buffer.from('loose');
    await store.putBlob(loose, { digest: digestOf(loose) });
    await rm(store.blobPath(img.config.digest));
    await assert.rejects(store.prune(), (err) => isKeelError(err, 'E_STORE_CORRUPT'));
    assert.equal(await store.hasBlob(digestOf(loose)), true);
    assert.equal(await store.hasLayer(img.diffId), true);
  });
});
