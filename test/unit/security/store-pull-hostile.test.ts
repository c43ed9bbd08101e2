// Hostile images end to end through `pullImage` from an `oci:` layout (the
// same engine a registry pull uses), and the store's own defences: what keel
// refuses, that a refused layer leaves nothing behind, and the permissions of
// the store root that keep setuid binaries of extracted layers away from local
// users (docs/security.md, "The store").

import assert from 'node:assert/strict';
import { chmod, chown, lstat, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG } from '../../../src/config/index.ts';
import { pullImage } from '../../../src/ops/pull.ts';
import { unpackImage } from '../../../src/ops/unpack.ts';
import { Store } from '../../../src/store/index.ts';
import { packTar, rejectsWith, type PackEntry, useSandbox } from '../layer/helpers.ts';
import { layoutEntries, sha256, writeTree, type Desc } from '../transport/fixtures.ts';
import { putTinyImage } from '../store/fixtures.ts';

const sb = useSandbox();

const SOURCE = { registry: { config: DEFAULT_CONFIG } };
const T = { timeout: 30_000 };

interface Hostile {
  layers: Buffer[];
  /** Overrides the diff_ids the config lists (default: the layers' digests). */
  diffIds?: string[];
}

/** Writes an OCI layout with one image tagged `t` and returns the `oci:` reference. */
async function layout(image: Hostile): Promise<string> {
  const dir = await sb.newDir('layout');
  const diffIds = image.diffIds ?? image.layers.map((l) => sha256(l));
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.length };
  const layers = image.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(l), size: l.length }));
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }));
  const manifest: Desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifestBytes), size: manifestBytes.length };
  const blobs = new Map<string, Buffer>([
    [`blobs/sha256/${manifest.digest.slice(7)}`, manifestBytes],
    [`blobs/sha256/${config.digest.slice(7)}`, configBytes],
  ]);
  image.layers.forEach((l, i) => blobs.set(`blobs/sha256/${(layers[i] as Desc).digest.slice(7)}`, l));
  await writeTree(dir, layoutEntries([{ tag: 't', desc: manifest }], [blobs]));
  return `oci:${dir}:t`;
}

async function newStore(): Promise<{ store: Store; root: string }> {
  const root = path.join(await sb.newDir('store'), 'keel');
  return { store: await Store.open(root, { create: true }), root };
}

const tar = (entries: PackEntry[]): Promise<Buffer> => packTar(entries);

describe('pulling hostile images (oci: layout)', () => {
  test('a tar-slip layer is refused and leaves no layer, record or staging behind', T, async () => {
    const { store, root } = await newStore();
    const evil = await tar([{ name: '../../../outside/tripwire', data: 'pwned' }]);
    const ref = await layout({ layers: [await tar([{ name: 'ok', data: 'x' }]), evil] });
    await rejectsWith(pullImage(store, ref, { source: SOURCE }), 'E_LAYER_PATH');
    const hex = sha256(evil).slice(7);
    const layers = await readdir(path.join(root, 'layers/sha256'));
    assert.ok(!layers.includes(hex) && !layers.includes(`${hex}.json`), `hostile layer committed: ${layers.join(', ')}`);
    assert.equal((await readdir(path.join(root, 'tmp'))).length, 0, 'staging left in tmp/');
    assert.equal(await store.hasLayer(sha256(evil) as never), false);
  });

  test('a config whose diff_ids count does not match the layers is refused before any layer is fetched', T, async () => {
    const { store, root } = await newStore();
    const l = await tar([{ name: 'a', data: 'x' }]);
    const ref = await layout({ layers: [l, l], diffIds: [sha256(l)] });
    await rejectsWith(pullImage(store, ref, { source: SOURCE }), 'E_MANIFEST_INVALID');
    assert.deepEqual(await readdir(path.join(root, 'layers/sha256')), []);
  });

  test('a diff_id that does not match the layer content is refused; nothing is committed', T, async () => {
    const { store, root } = await newStore();
    const l = await tar([{ name: 'a', data: 'x' }]);
    const other = await tar([{ name: 'b', data: 'y' }]);
    const ref = await layout({ layers: [l], diffIds: [sha256(other)] });
    await rejectsWith(pullImage(store, ref, { source: SOURCE }), 'E_DIGEST_MISMATCH');
    assert.deepEqual(await readdir(path.join(root, 'layers/sha256')), []);
    assert.equal((await readdir(path.join(root, 'tmp'))).length, 0, 'staging left in tmp/');
  });

  test('a diff_id of another algorithm (sha512 name, sha256-length hex) is refused as invalid', T, async () => {
    const { store } = await newStore();
    const l = await tar([{ name: 'a', data: 'x' }]);
    const ref = await layout({ layers: [l], diffIds: [`sha512:${sha256(l).slice(7)}`] });
    await assert.rejects(pullImage(store, ref, { source: SOURCE }), (err: { code?: string }) => ['E_MANIFEST_INVALID', 'E_DIGEST_INVALID'].includes(err.code ?? ''));
  });

  test('a layout blob that is a symlink to a host file or /dev/zero is refused, never read', T, async () => {
    const { store } = await newStore();
    const l = await tar([{ name: 'a', data: 'x' }]);
    const ref = await layout({ layers: [l] });
    const dir = ref.slice('oci:'.length, -':t'.length);
    const blob = path.join(dir, 'blobs/sha256', sha256(l).slice(7));
    await rm(blob);
    await symlink('/dev/zero', blob);
    await rejectsWith(pullImage(store, ref, { source: SOURCE }), 'E_SOURCE_INVALID');
  });
});

describe('the store root keeps extracted layers (setuid binaries) from local users', () => {
  test('a store root keel creates is 0700 root-owned', T, async () => {
    const { root } = await newStore();
    const st = await lstat(root);
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.uid, process.geteuid?.());
  });

  test('a store root that is a symlink is refused', T, async () => {
    const real = await sb.newDir('real-store');
    const link = path.join(await sb.newDir('link-store'), 'keel');
    await symlink(real, link);
    await rejectsWith(Store.open(link, { create: true }), 'E_STORE_CORRUPT');
  });

  test(
    'a pre-existing store root with mode 0755 is tightened to 0700 on open',
    T,
    async () => {
      const { root } = await newStore();
      await chmod(root, 0o755);
      await Store.open(root, {});
      assert.equal((await lstat(root)).mode & 0o777, 0o700);
    },
  );

  test(
    'a store root owned by another user is refused (it could swap tmp/ for a symlink while keel extracts as root)',
    T,
    async () => {
      const root = path.join(await sb.newDir('foreign'), 'keel');
      await mkdir(root, { mode: 0o777 });
      await chown(root, 65534, 65534);
      await chmod(root, 0o777);
      await rejectsWith(Store.open(root, { create: true }), 'E_PERMISSION');
    },
  );

  test(
    'store subdirectories that pre-exist with wider modes are tightened (tmp/ holds half-extracted layers)',
    T,
    async () => {
      const { root } = await newStore();
      await chmod(path.join(root, 'tmp'), 0o1777);
      await writeFile(path.join(root, 'tmp', 'x'), '');
      await Store.open(root, {});
      assert.equal((await lstat(path.join(root, 'tmp'))).mode & 0o7777, 0o700);
    },
  );
});

describe('keel unpack writes only where another user cannot race it', () => {
  test('a bundle directory keel creates is 0700', T, async () => {
    const { store } = await newStore();
    await putTinyImage(store, 'docker.io/library/tiny:latest');
    const bundle = path.join(await sb.newDir('bundle'), 'b');
    await unpackImage(store, 'tiny', bundle);
    assert.equal((await lstat(bundle)).mode & 0o777, 0o700);
    assert.equal((await lstat(path.join(bundle, 'rootfs'))).mode & 0o777, 0o755);
  });

  test(
    'an existing empty bundle directory owned by another user is refused (they could swap rootfs/ for a symlink mid-stack)',
    T,
    async () => {
      const { store } = await newStore();
      await putTinyImage(store, 'docker.io/library/tiny:latest');
      const bundle = path.join(await sb.newDir('foreign-bundle'), 'b');
      await mkdir(bundle, { mode: 0o777 });
      await chown(bundle, 65534, 65534);
      await chmod(bundle, 0o777);
      await rejectsWith(unpackImage(store, 'tiny', bundle), 'E_PERMISSION');
    },
  );
});
