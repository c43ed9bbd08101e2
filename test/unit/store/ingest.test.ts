// Store.ingestLayer: the decision table (what is present -> what is done), the
// contract (resolved = blob and layer stored; rejected = nothing new stored,
// no staging left), and one ingestion per layer at a time in a process.

import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, beforeEach, describe, it } from 'node:test';
import { KeelError, isKeelError } from '../../../src/errors.ts';
import { digestOf, type Digest } from '../../../src/oci/digest.ts';
import { MediaType } from '../../../src/oci/media-types.ts';
import type { Descriptor } from '../../../src/oci/types.ts';
import { VerifyStream } from '../../../src/oci/verify.ts';
import { fingerprintTree, type Store } from '../../../src/store/index.ts';
import { ingestLayer, type IngestResult, type LayerIngest } from '../../../src/store/ingest.ts';
import { stopExtractThreads } from '../../../src/layer/extract-pool.ts';
import { openTempStore, tarOf } from './fixtures.ts';

interface Layer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly gz: Buffer;
}

async function makeLayer(files: Record<string, string>): Promise<Layer> {
  const tar = await tarOf(files);
  const gz = gzipSync(tar);
  return { descriptor: { mediaType: MediaType.OCI_LAYER_GZIP, digest: digestOf(gz), size: gz.length }, diffId: digestOf(tar), gz };
}

/** A source that counts its opens and verifies what it serves, as an ImageSource does. */
function sourceOf(layer: Layer, bytes: Buffer = layer.gz): { fetch: () => Promise<Readable>; opens: () => number } {
  let opens = 0;
  return {
    fetch: async () => {
      opens += 1;
      const chunks = [bytes.subarray(0, bytes.length >> 1), bytes.subarray(bytes.length >> 1)];
      return Readable.from(chunks).pipe(new VerifyStream({ digest: layer.descriptor.digest, size: layer.descriptor.size, what: 'test layer' }));
    },
    opens: () => opens,
  };
}

// every case runs with the extraction on the calling thread and on an extraction thread
for (const offThread of [false, true]) describe(`Store.ingestLayer (extracting ${offThread ? 'on an extraction thread' : 'on the calling thread'})`, () => {
  let store: Store;
  const ingest = (request: Omit<LayerIngest, 'offThread'>): Promise<IngestResult> => store.ingestLayer({ ...request, offThread });
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    await cleanup?.();
    ({ store, dir, cleanup } = await openTempStore());
  });
  after(async () => {
    await cleanup?.();
    await stopExtractThreads();
  });

  const tmpLeft = async (): Promise<string[]> => (await readdir(join(dir, 'root', 'tmp'))).filter((n) => n.startsWith('layer'));

  it('neither present: one download fills the blob and the layer, and reports the extraction', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n', 'b/c.txt': 'C\n' });
    const src = sourceOf(layer);
    const result = await ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: src.fetch });
    assert.equal(src.opens(), 1);
    assert.equal(result.fetched, true);
    assert.equal(result.extracted?.entries, 2);
    assert.equal(await store.hasBlob(layer.descriptor.digest), true);
    assert.equal(await store.hasLayer(layer.diffId), true);
    assert.equal(await readFile(join(store.layerPath(layer.diffId), 'b/c.txt'), 'utf8'), 'C\n');
    const record = await store.layerRecord(layer.diffId);
    assert.equal(record?.digest, layer.descriptor.digest);
    assert.deepEqual(record?.xattrPaths, [], 'the record says the layer has no extended attributes (a copy need not look)');
    assert.equal(record?.treeDigest, await fingerprintTree(store.layerPath(layer.diffId)), 'the fingerprint from digests computed while writing equals one read from disk');
  });

  it('both present: nothing is fetched or extracted', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    await ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: sourceOf(layer).fetch });
    const again = sourceOf(layer);
    const result = await ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: again.fetch });
    assert.deepEqual([again.opens(), result.fetched, result.extracted], [0, false, undefined]);
  });

  it('blob present, layer missing: re-extracted from the stored blob without fetching', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    await store.putBlob(layer.gz, layer.descriptor);
    const src = sourceOf(layer);
    const result = await ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: src.fetch });
    assert.equal(src.opens(), 0);
    assert.equal(result.fetched, false);
    assert.equal(result.extracted?.entries, 1);
    assert.equal(await store.hasLayer(layer.diffId), true);
  });

  it('layer present, blob missing: only the blob is fetched', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    await ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: sourceOf(layer).fetch });
    await rm(store.blobPath(layer.descriptor.digest));
    const record = await store.layerRecord(layer.diffId);
    const src = sourceOf(layer);
    const result = await ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: src.fetch });
    assert.deepEqual([src.opens(), result.fetched, result.extracted], [1, true, undefined]);
    assert.equal(await store.hasBlob(layer.descriptor.digest), true);
    assert.equal((await store.layerRecord(layer.diffId))?.committed, record?.committed, 'the layer was not extracted again');
  });

  it('a damaged stored blob is removed and fetched again, then extracted', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    await store.putBlob(layer.gz, layer.descriptor);
    const damaged = Buffer.from(layer.gz);
    const at = damaged.length - 5;
    damaged.writeUInt8(damaged.readUInt8(at) ^ 0xff, at);
    await writeFile(store.blobPath(layer.descriptor.digest), damaged);
    const src = sourceOf(layer);
    const result = await ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: src.fetch });
    assert.deepEqual([src.opens(), result.fetched, result.extracted?.entries], [1, true, 1]);
    assert.deepEqual(await readFile(store.blobPath(layer.descriptor.digest)), layer.gz);
    assert.equal(await store.hasLayer(layer.diffId), true);
    assert.deepEqual(await tmpLeft(), []);
  });

  it('a sound stored blob that fails to extract is kept, and the error is the layer\'s', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    const other = await makeLayer({ 'a.txt': 'B\n' });
    await store.putBlob(layer.gz, layer.descriptor);
    const src = sourceOf(layer);
    await assert.rejects(ingest({ descriptor: layer.descriptor, diffId: other.diffId, fetch: src.fetch }), (err) => isKeelError(err, 'E_DIGEST_MISMATCH'));
    assert.equal(src.opens(), 0);
    assert.equal(await store.hasBlob(layer.descriptor.digest), true);
    assert.equal(await store.hasLayer(other.diffId), false);
    assert.deepEqual(await tmpLeft(), []);
  });

  it('a source that fails mid-way stores neither the blob nor the layer', async () => {
    const layer = await makeLayer({ 'a.txt': 'A'.repeat(200_000) });
    const fetch = async (): Promise<Readable> =>
      Readable.from(
        (async function* () {
          yield layer.gz.subarray(0, 100);
          throw new Error('connection reset');
        })(),
      );
    await assert.rejects(ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch }), /connection reset/);
    assert.equal(await store.hasBlob(layer.descriptor.digest), false);
    assert.equal(await store.hasLayer(layer.diffId), false);
    assert.deepEqual(await tmpLeft(), []);
  });

  it('a tar that does not hash to the diff_id is refused and leaves nothing', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    const other = await makeLayer({ 'a.txt': 'B\n' });
    await assert.rejects(ingest({ descriptor: layer.descriptor, diffId: other.diffId, fetch: sourceOf(layer).fetch }), (err) =>
      isKeelError(err, 'E_DIGEST_MISMATCH'),
    );
    assert.equal(await store.hasLayer(other.diffId), false);
    assert.deepEqual(await tmpLeft(), []);
  });

  it('concurrent ingestions of one layer in a process download it once', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    const src = sourceOf(layer);
    const results = await Promise.all([1, 2, 3].map(() => ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: src.fetch })));
    assert.equal(src.opens(), 1);
    assert.equal(results.filter((r) => r.extracted !== undefined).length, 1);
  });

  it('one blob named twice with different diff_ids at once: each caller gets its own answer (the joined one is not told "stored")', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    const other = await makeLayer({ 'a.txt': 'B\n' });
    const [right, wrong] = await Promise.allSettled([
      ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: sourceOf(layer).fetch }),
      ingest({ descriptor: layer.descriptor, diffId: other.diffId, fetch: sourceOf(layer).fetch }),
    ]);
    assert.equal(right.status, 'fulfilled');
    assert.equal(wrong.status, 'rejected');
    assert.ok(isKeelError((wrong as PromiseRejectedResult).reason, 'E_DIGEST_MISMATCH'));
    assert.equal(await store.hasLayer(other.diffId), false);
  });

  it('a stored blob that cannot be read settles: an I/O error is reported, a blob removed meanwhile is fetched again', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    const staging = await store.stageLayer();
    const failing = (code: string): Readable =>
      new Readable({
        read() {
          this.destroy(Object.assign(new Error(`${code}: read`), { code }));
        },
      });
    let present = true;
    let fetched = 0;
    const target = {
      hasBlob: async () => present,
      hasLayer: async () => false,
      openBlob: () => failing('EIO'),
      quarantineBlob: async () => false,
      writeBlob: async () => {},
      stageLayer: async () => staging,
    };
    const request = { descriptor: layer.descriptor, diffId: layer.diffId, offThread, fetch: async () => { fetched += 1; return sourceOf(layer).fetch(); } };
    await assert.rejects(ingestLayer(target, request), (err) => isKeelError(err, 'E_STORE_IO'));
    assert.equal(fetched, 0, 'an I/O error is not damage: nothing is fetched');
    target.openBlob = () => {
      present = false; // removed by a check between hasBlob and open: Store.openBlob says E_IMAGE_NOT_FOUND
      return new Readable({
        read() {
          this.destroy(new KeelError('E_IMAGE_NOT_FOUND', 'blob is not in the store'));
        },
      });
    };
    const again = await store.stageLayer();
    target.stageLayer = async () => again;
    await ingestLayer(target, request).catch(() => undefined);
    assert.equal(fetched, 1, 'a blob gone since is fetched again');
  });

  it('after a failed ingestion a concurrent caller ingests from its own source', async () => {
    const layer = await makeLayer({ 'a.txt': 'A\n' });
    const failing = async (): Promise<Readable> => {
      throw new Error('registry down');
    };
    const good = sourceOf(layer);
    const [first, second] = await Promise.allSettled([
      ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: failing }),
      ingest({ descriptor: layer.descriptor, diffId: layer.diffId, fetch: good.fetch }),
    ]);
    assert.equal(first.status, 'rejected');
    assert.equal(second.status, 'fulfilled');
    assert.equal(await store.hasLayer(layer.diffId), true);
  });
});
