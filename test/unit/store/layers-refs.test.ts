// Extracted layers (staging, commit, records, fingerprints), refs in
// index.json, and opening/creating a store.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, link, mkdir, readFile, readdir, rm, stat, symlink, writeFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { digestOf } from '../../../src/oci/digest.ts';
import { MediaType } from '../../../src/oci/media-types.ts';
import { REF_NAME, Store, fingerprintTree } from '../../../src/store/index.ts';
import { openTempStore, tempDir } from './fixtures.ts';

describe('store layers', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ store, cleanup } = await openTempStore());
  });
  after(() => cleanup());

  const rec = { digest: digestOf('blob'), mediaType: MediaType.OCI_LAYER_GZIP, entries: 1, size: 3 };

  it('commits a staged layer: directory, then record with treeDigest', async () => {
    const diffId = digestOf('layer-1');
    const s = await store.stageLayer();
    assert.ok(s.dir.startsWith(join(store.root, 'tmp')));
    await writeFile(join(s.dir, 'a'), 'abc');
    assert.equal(await store.hasLayer(diffId), false);
    await s.commit(diffId, rec);
    assert.equal(await store.hasLayer(diffId), true);
    assert.equal(await readFile(join(store.layerPath(diffId), 'a'), 'utf8'), 'abc');
    const record = JSON.parse(await readFile(`${store.layerPath(diffId)}.json`, 'utf8'));
    assert.equal(record.diffId, diffId);
    assert.equal(record.treeDigest, await fingerprintTree(store.layerPath(diffId)));
    assert.deepEqual(await readdir(join(store.root, 'tmp')), []);
  });

  it('a second commit of the same layer succeeds and discards its staging', async () => {
    const diffId = digestOf('layer-1');
    const s = await store.stageLayer();
    await writeFile(join(s.dir, 'a'), 'different');
    await s.commit(diffId, rec);
    assert.equal(await readFile(join(store.layerPath(diffId), 'a'), 'utf8'), 'abc');
    assert.deepEqual(await readdir(join(store.root, 'tmp')), []);
  });

  it('a record this keel cannot read (a newer format) does not make the layer present', async () => {
    const diffId = digestOf('layer-newer');
    const s = await store.stageLayer();
    await writeFile(join(s.dir, 'a'), 'abc');
    await s.commit(diffId, rec);
    const path = `${store.layerPath(diffId)}.json`;
    const record = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...record, format: 99 }));
    assert.equal(await store.hasLayer(diffId), false, 'pull extracts it again instead of taking it as cached');
  });

  it('a directory without record is not a layer, and a commit replaces it', async () => {
    const diffId = digestOf('layer-2');
    await mkdir(join(store.layerPath(diffId), 'half'), { recursive: true });
    assert.equal(await store.hasLayer(diffId), false);
    const s = await store.stageLayer();
    await writeFile(join(s.dir, 'full'), 'x');
    await s.commit(diffId, rec);
    assert.deepEqual(await readdir(store.layerPath(diffId)), ['full']);
  });

  it('abort removes the staging directory', async () => {
    const s = await store.stageLayer();
    await writeFile(join(s.dir, 'x'), 'x');
    await s.abort();
    await assert.rejects(stat(s.dir));
  });

  it('fingerprintTree sees content, mode, mtime and symlink changes, and never follows symlinks', async () => {
    const t = await tempDir();
    try {
      await mkdir(join(t.dir, 'd/sub'), { recursive: true });
      await writeFile(join(t.dir, 'd/sub/f'), 'one');
      await symlink('/etc/passwd', join(t.dir, 'd/link'));
      const fp = () => fingerprintTree(join(t.dir, 'd'));
      const base = await fp();
      assert.equal(await fp(), base, 'stable');
      const st = await stat(join(t.dir, 'd/sub/f'));
      await writeFile(join(t.dir, 'd/sub/f'), 'two');
      await utimes(join(t.dir, 'd/sub/f'), st.atime, st.mtime);
      const content = await fp();
      assert.notEqual(content, base);
      await chmod(join(t.dir, 'd/sub/f'), 0o600);
      const mode = await fp();
      assert.notEqual(mode, content);
      await rm(join(t.dir, 'd/link'));
      await symlink('/etc/shadow', join(t.dir, 'd/link'));
      assert.notEqual(await fp(), mode, 'symlink target is covered');
      await rm(join(t.dir, 'd/link'));
      await symlink('sub', join(t.dir, 'd/link'));
      const viaDirLink = await fp();
      await writeFile(join(t.dir, 'd/sub/g'), 'new');
      // g is seen once, through d/sub; the symlink d/link -> sub is not walked
      assert.notEqual(await fp(), viaDirLink);
      assert.match(base, /^sha256:[0-9a-f]{64}$/);
    } finally {
      await t.cleanup();
    }
  });

  it('fingerprintTree takes content digests computed while writing instead of reading, by inode, and only at the same size', async () => {
    const t = await tempDir();
    try {
      await mkdir(join(t.dir, 'd'));
      await writeFile(join(t.dir, 'd/f'), 'one');
      await link(join(t.dir, 'd/f'), join(t.dir, 'd/hard'));
      const plain = await fingerprintTree(join(t.dir, 'd'));
      const st = await stat(join(t.dir, 'd/f'), { bigint: true });
      const sha = createHash('sha256').update('one').digest('hex');
      assert.equal(await fingerprintTree(join(t.dir, 'd'), undefined, new Map([[st.ino, { sha256: sha, size: 3n }]])), plain, 'a true digest gives the same fingerprint');
      const lie = 'f'.repeat(64);
      assert.notEqual(await fingerprintTree(join(t.dir, 'd'), undefined, new Map([[st.ino, { sha256: lie, size: 3n }]])), plain, 'the given digest is used, not the file');
      assert.equal(await fingerprintTree(join(t.dir, 'd'), undefined, new Map([[st.ino, { sha256: lie, size: 4n }]])), plain, 'a size that differs is not trusted');
    } finally {
      await t.cleanup();
    }
  });
});

describe('store refs', () => {
  let store: Store;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ store, cleanup } = await openTempStore());
  });
  after(() => cleanup());

  async function manifest(text: string) {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, text }));
    const d = { mediaType: MediaType.OCI_MANIFEST, digest: digestOf(bytes), size: bytes.length };
    await store.putBlob(bytes, d);
    return d;
  }

  it('sets, replaces, lists, gets and removes refs', async () => {
    const m1 = await manifest('1');
    const m2 = await manifest('2');
    await store.setRef('docker.io/library/etcd:3.5', m1);
    await store.setRef('other', m1);
    await store.setRef('docker.io/library/etcd:3.5', m2);
    const refs = await store.listRefs();
    assert.deepEqual(
      refs.map((r) => [r.name, r.descriptor.digest]),
      [
        ['other', m1.digest],
        ['docker.io/library/etcd:3.5', m2.digest],
      ],
    );
    assert.equal((await store.getRef('docker.io/library/etcd:3.5'))?.digest, m2.digest);
    assert.equal(await store.getRef('absent'), undefined);
    const index = JSON.parse(await readFile(join(store.root, 'index.json'), 'utf8'));
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.manifests[1].annotations[REF_NAME], 'docker.io/library/etcd:3.5');
    assert.equal(await store.removeRef('other'), true);
    assert.equal(await store.removeRef('other'), false);
    assert.equal((await store.listRefs()).length, 1);
  });

  it('refuses invalid names and descriptors whose blob is absent', async () => {
    const m = await manifest('3');
    await assert.rejects(store.setRef('../evil', m), (err) => isKeelError(err, 'E_REFERENCE_INVALID'));
    await assert.rejects(store.setRef('x', { ...m, digest: digestOf('nope') }), (err) => isKeelError(err, 'E_IMAGE_NOT_FOUND'));
  });

  it('keeps concurrent setRef calls from losing entries', async () => {
    const m = await manifest('4');
    await Promise.all(Array.from({ length: 8 }, (_, i) => store.setRef(`c${i}`, m)));
    const names = (await store.listRefs()).map((r) => r.name);
    for (let i = 0; i < 8; i++) assert.ok(names.includes(`c${i}`));
  });

  it('reports a damaged index.json as E_STORE_CORRUPT with a hint', async () => {
    const path = join(store.root, 'index.json');
    const saved = await readFile(path);
    await writeFile(path, '{"schemaVersion": 2, "manif');
    try {
      await assert.rejects(store.listRefs(), (err) => isKeelError(err, 'E_STORE_CORRUPT') && typeof err.hint === 'string');
    } finally {
      await writeFile(path, saved);
    }
  });
});

describe('Store.open', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  after(() => cleanup());

  it('creates the layout with mode 0700', async () => {
    const root = join(dir, 'new');
    await Store.open(root, { create: true });
    assert.equal((await stat(root)).mode & 0o777, 0o700);
    assert.deepEqual(JSON.parse(await readFile(join(root, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    assert.deepEqual(JSON.parse(await readFile(join(root, 'index.json'), 'utf8')), { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] });
    for (const sub of ['blobs/sha256', 'layers/sha256', 'tmp', 'locks']) assert.ok((await stat(join(root, sub))).isDirectory(), sub);
    await Store.open(root); // reopens without create
  });

  it('keel-store.json names the store format: written at creation, added to an older store by a writing open, not by a reading one', async () => {
    const root = join(dir, 'versioned');
    await Store.open(root, { create: true });
    assert.deepEqual(JSON.parse(await readFile(join(root, 'keel-store.json'), 'utf8')), { format: 1 });
    await rm(join(root, 'keel-store.json')); // a store written before the file existed
    await Store.open(root, { readOnly: true });
    await assert.rejects(stat(join(root, 'keel-store.json')), 'a reading open changes nothing');
    await Store.open(root);
    assert.deepEqual(JSON.parse(await readFile(join(root, 'keel-store.json'), 'utf8')), { format: 1 });
    // Cut short by a power cut before its data reached the disk: read as absent, written afresh.
    await writeFile(join(root, 'keel-store.json'), '');
    await Store.open(root, { readOnly: true });
    await Store.open(root);
    assert.deepEqual(JSON.parse(await readFile(join(root, 'keel-store.json'), 'utf8')), { format: 1 });
  });

  it('a store of a newer format is refused with E_STORE_VERSION, read or write, and left untouched', async () => {
    const root = join(dir, 'newer');
    await Store.open(root, { create: true });
    await writeFile(join(root, 'keel-store.json'), '{"format": 2}\n');
    await writeFile(join(root, 'tmp', '1-1-deadbeef.9.blob'), 'a leftover of a dead process');
    await chmod(root, 0o750); // the newer keel's business: not "repaired" by this one
    for (const options of [{}, { readOnly: true }, { create: true }]) {
      await assert.rejects(Store.open(root, options), (err) => isKeelError(err, 'E_STORE_VERSION') && /format 2, written by a newer keel/.test(err.message));
    }
    assert.deepEqual(await readdir(join(root, 'tmp')), ['1-1-deadbeef.9.blob'], 'nothing cleaned');
    assert.equal((await stat(root)).mode & 0o7777, 0o750, 'mode unchanged');
    await writeFile(join(root, 'keel-store.json'), 'not json');
    await assert.rejects(Store.open(root), (err) => isKeelError(err, 'E_STORE_CORRUPT'));
  });

  it('refuses a missing root without create, a file, and a foreign directory', async () => {
    await assert.rejects(Store.open(join(dir, 'missing')), (err) => isKeelError(err, 'E_STORE_NOT_FOUND'));
    await writeFile(join(dir, 'file'), 'x');
    await assert.rejects(Store.open(join(dir, 'file'), { create: true }), (err) => isKeelError(err, 'E_STORE_CORRUPT'));
    await mkdir(join(dir, 'foreign'), { mode: 0o755 });
    await writeFile(join(dir, 'foreign', 'notes.txt'), 'x');
    await assert.rejects(Store.open(join(dir, 'foreign'), { create: true }), (err) => isKeelError(err, 'E_STORE_CORRUPT'));
    assert.equal((await stat(join(dir, 'foreign'))).mode & 0o7777, 0o755, 'a directory that is not a store is left as it was');
    assert.deepEqual(await readdir(join(dir, 'foreign')), ['notes.txt'], 'a foreign directory is left untouched');
  });

  it('opened readOnly, a store is left exactly as it is, and a missing one is not created', async () => {
    const root = join(dir, 'ro');
    await Store.open(root, { create: true });
    await chmod(root, 0o755);
    await writeFile(join(root, 'tmp', '1-1-deadbeef.9.blob'), 'a leftover of a dead process');
    await Store.open(root, { readOnly: true });
    assert.equal((await stat(root)).mode & 0o777, 0o755);
    assert.deepEqual(await readdir(join(root, 'tmp')), ['1-1-deadbeef.9.blob']);
    await assert.rejects(Store.open(join(dir, 'ro-missing'), { readOnly: true }), (err) => isKeelError(err, 'E_STORE_NOT_FOUND'));
    await assert.rejects(stat(join(dir, 'ro-missing')));
  });

  it('two concurrent creators end with one valid store', async () => {
    const root = join(dir, 'race');
    const [a, b] = await Promise.all([Store.open(root, { create: true }), Store.open(root, { create: true })]);
    assert.deepEqual(await a.listRefs(), []);
    assert.deepEqual(await b.listRefs(), []);
  });
});
