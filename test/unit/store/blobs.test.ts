// Blob writes: atomic, verified, deduplicated.

import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { digestOf, type Digest } from '../../../src/oci/digest.ts';
import { Store, writeFileAtomic } from '../../../src/store/index.ts';
import { openTempStore, tempDir } from './fixtures.ts';

/** A source that counts how many chunks were pulled from it. */
function countingSource(data: Buffer, chunk = 16 * 1024): { stream: Readable; reads: () => number } {
  let offset = 0;
  let reads = 0;
  const stream = new Readable({
    read() {
      reads++;
      if (offset >= data.length) return void this.push(null);
      setImmediate(() => {
        this.push(data.subarray(offset, offset + chunk));
        offset += chunk;
      });
    },
  });
  return { stream, reads: () => reads };
}

describe('store blobs', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ store, cleanup } = await openTempStore());
  });
  after(() => cleanup());

  it('writes a blob and reads it back verified', async () => {
    const data = Buffer.from('some blob content');
    const digest = digestOf(data);
    await store.writeBlob({ digest, size: data.length }, Readable.from([data]));
    assert.equal(await store.hasBlob(digest), true);
    assert.deepEqual(await store.readBlob(digest, 1024), data);
    assert.equal(store.blobPath(digest), join(store.root, 'blobs', 'sha256', digest.slice(7)));
    const chunks: Buffer[] = [];
    for await (const c of store.openBlob(digest)) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), data);
  });

  it('refuses a digest mismatch and leaves no blob and no temp file', async () => {
    const data = Buffer.from('the real bytes');
    const wrong = digestOf('other bytes');
    await assert.rejects(store.writeBlob({ digest: wrong }, Readable.from([data])), (err) => isKeelError(err, 'E_DIGEST_MISMATCH'));
    assert.equal(await store.hasBlob(wrong), false);
    assert.deepEqual(await readdir(join(store.root, 'tmp')), []);
  });

  it('refuses a size overrun as soon as it happens', async () => {
    const big = Buffer.alloc(64 * 1024 * 1024, 1);
    const src = countingSource(big, 64 * 1024);
    await assert.rejects(store.writeBlob({ digest: digestOf(big), size: 100_000 }, src.stream), (err) => isKeelError(err, 'E_SIZE_MISMATCH'));
    assert.ok(src.reads() < 10, `read ${src.reads()} chunks before refusing`);
    assert.equal(src.stream.destroyed, true);
    assert.deepEqual(await readdir(join(store.root, 'tmp')), []);
  });

  it('shares one write between concurrent writers of the same digest', async () => {
    const data = Buffer.alloc(512 * 1024, 7);
    const digest = digestOf(data);
    const a = countingSource(data);
    const b = countingSource(data);
    await Promise.all([store.writeBlob({ digest, size: data.length }, a.stream), store.writeBlob({ digest, size: data.length }, b.stream)]);
    assert.ok(a.reads() > 1);
    assert.equal(b.reads(), 0, 'the second source must not be read');
    assert.equal(b.stream.destroyed, true);
    assert.deepEqual(await store.readBlob(digest, data.length), data);
  });

  it('when the first of two concurrent writers fails, the second writes from its own source', async () => {
    const data = Buffer.alloc(300 * 1024, 5);
    const digest = digestOf(data);
    const failing = new Readable({
      read() {
        setImmediate(() => this.destroy(new Error('connection reset by the test')));
      },
    });
    const good = countingSource(data);
    const [first, second] = await Promise.allSettled([store.writeBlob({ digest }, failing), store.writeBlob({ digest }, good.stream)]);
    assert.equal(first.status, 'rejected');
    assert.match(String((first as PromiseRejectedResult).reason), /connection reset by the test/, 'a source error keeps its identity');
    assert.equal(second.status, 'fulfilled');
    assert.ok(good.reads() > 0);
    assert.deepEqual(await store.readBlob(digest, data.length), data);
  });

  it('destroys the source unread when the blob exists', async () => {
    const data = Buffer.from('exists already');
    const digest = digestOf(data);
    await store.putBlob(data, { digest, size: data.length });
    const src = countingSource(data);
    await store.writeBlob({ digest }, src.stream);
    assert.equal(src.reads(), 0);
    assert.equal(src.stream.destroyed, true);
  });

  it('putBlob verifies before writing', async () => {
    await assert.rejects(store.putBlob(Buffer.from('x'), { digest: digestOf('y') }), (err) => isKeelError(err, 'E_DIGEST_MISMATCH'));
    await assert.rejects(store.putBlob(Buffer.from('x'), { digest: digestOf('x'), size: 2 }), (err) => isKeelError(err, 'E_SIZE_MISMATCH'));
    assert.equal(await store.hasBlob(digestOf('y')), false);
  });

  it('readBlob: cap, missing and damaged blobs', async () => {
    const data = Buffer.alloc(2000, 3);
    const digest = digestOf(data);
    await store.putBlob(data, { digest });
    await assert.rejects(store.readBlob(digest, 1999), (err) => isKeelError(err, 'E_BODY_TOO_LARGE'));
    await assert.rejects(store.readBlob(digestOf('absent'), 10), (err) => isKeelError(err, 'E_IMAGE_NOT_FOUND'));
    await assert.rejects(
      (async () => {
        for await (const _ of store.openBlob(digestOf('absent'))) void _;
      })(),
      (err) => isKeelError(err, 'E_IMAGE_NOT_FOUND'),
    );
    const flipped = Buffer.from(data);
    flipped[5] = 4;
    await writeFile(store.blobPath(digest), flipped);
    await assert.rejects(store.readBlob(digest, 4096), (err) => isKeelError(err, 'E_STORE_CORRUPT'));
  });

  it('rejects malformed digests before touching a path', async () => {
    assert.throws(() => store.blobPath('sha256:../../etc/passwd' as Digest), (err) => isKeelError(err, 'E_DIGEST_INVALID'));
  });
});

describe('writeFileAtomic', () => {
  it('makes a file visible only complete', async () => {
    const t = await tempDir();
    try {
      const path = join(t.dir, 'f');
      const old = Buffer.alloc(4 * 1024 * 1024, 'a');
      const next = Buffer.alloc(4 * 1024 * 1024, 'b');
      await writeFileAtomic(path, old);
      let stop = false;
      let reads = 0;
      const reader = (async () => {
        while (!stop) {
          const got = await readFile(path);
          reads++;
          assert.ok(got.equals(old) || got.equals(next), `a reader saw ${got.length} bytes of mixed content`);
        }
      })();
      for (let i = 0; i < 10; i++) await writeFileAtomic(path, i % 2 ? old : next);
      stop = true;
      await reader;
      assert.ok(reads > 0);
      assert.deepEqual((await readdir(t.dir)).sort(), ['f'], 'no temp file left beside it');
      assert.equal((await stat(path)).size, old.length);
    } finally {
      await t.cleanup();
    }
  });
});
