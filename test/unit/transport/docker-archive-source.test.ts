import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { digestOf, parseDigest } from '../../../src/oci/digest.ts';
import { parseImageConfig, parseManifestDocument } from '../../../src/oci/parse.ts';
import { parseReference, type LocalReference } from '../../../src/oci/reference.ts';
import type { ImageManifest } from '../../../src/oci/types.ts';
import { openDockerArchiveSource } from '../../../src/transport/docker-archive-source.ts';
import type { ImageSource } from '../../../src/transport/source.ts';
import { buildImage, buildTar, dockerSaveEntries, layoutEntries, makeLayer, sha256, type TarItem, code } from './fixtures.ts';

let base: string;
before(async () => {
  base = await mkdtemp('/var/tmp/keel-docker-archive-');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

const layers = [makeLayer({ 'etc/hostname': 'keel\n' }), makeLayer({ 'usr/bin/app': 'app' })];
const image = buildImage(layers);
const second = buildImage([makeLayer({ 'b': 'b' })]);

let n = 0;
async function archive(items: TarItem[]): Promise<string> {
  const file = join(base, `d${n++}.tar`);
  await writeFile(file, buildTar(items));
  return file;
}
const source = (file: string): ImageSource => openDockerArchiveSource(parseReference(`docker-archive:${file}`) as LocalReference);async function manifestOf(src: ImageSource): Promise<ImageManifest> {
  const m = await src.getManifest();
  assert.equal(m.digest, digestOf(m.bytes), 'the digest is the sha256 of the synthesised bytes');
  const doc = parseManifestDocument(m.bytes, m.mediaType);
  assert.equal(doc.kind, 'manifest');
  return doc as ImageManifest;
}

describe('docker-archive: source', () => {
  it('synthesises an OCI manifest for a legacy docker save archive and serves verified blobs', async () => {
    const file = await archive(dockerSaveEntries([{ tags: ['example/app:1'], image }]));
    const src = source(file);
    const doc = await manifestOf(src);
    assert.equal(doc.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(doc.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    assert.equal(doc.config.digest, sha256(image.configBytes));
    assert.equal(doc.layers.length, 2);
    for (const [i, layer] of doc.layers.entries()) {
      assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar');
      assert.equal(layer.digest, sha256(layers[i]!));
      assert.equal(layer.size, layers[i]!.length);
      assert.deepEqual(await buffer(await src.openBlob(layer)), layers[i]);
    }
    const config = await buffer(await src.openBlob(doc.config));
    assert.equal(parseImageConfig(config).rootfs.diff_ids.length, 2);
    assert.equal((await src.getManifest(parseDigest((await src.getManifest()).digest))).digest, (await src.getManifest()).digest);
    await assert.rejects(src.getManifest(parseDigest(sha256('other'))), code('E_IMAGE_NOT_FOUND'));
    await assert.rejects(src.openBlob({ mediaType: 'x', digest: parseDigest(sha256('other')), size: 1 }), code('E_IMAGE_NOT_FOUND'));
    await src.close();
  });

  it('follows the layer.tar symlinks skopeo and docker write', async () => {
    const items = dockerSaveEntries([{ tags: ['a:1'], image }]).flatMap((item): TarItem[] => {
      if (!item.name.endsWith('/layer.tar')) return [item];
      const stored = `${sha256(item.data ?? '').slice(7)}.tar`;
      return [{ name: stored, data: item.data }, { name: item.name, type: '2', linkname: `../${stored}` }];
    });
    const src = source(await archive(items));
    const doc = await manifestOf(src);
    for (const [i, layer] of doc.layers.entries()) assert.deepEqual(await buffer(await src.openBlob(layer)), layers[i]);
  });

  it('marks a gzip layer as tar+gzip and hashes the compressed file for its digest', async () => {
    const gz = gzipSync(layers[1]!);
    const src = source(await archive(dockerSaveEntries([{ tags: ['a:1'], image, layerFiles: [layers[0]!, gz] }])));
    const doc = await manifestOf(src);
    assert.equal(doc.layers[1]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(doc.layers[1]!.digest, sha256(gz));
    assert.deepEqual(await buffer(await src.openBlob(doc.layers[1]!)), gz);
  });

  it('reads the Docker 25+ layout (blobs/sha256/<hex> named in manifest.json)', async () => {
    const manifest = [{ Config: `blobs/sha256/${image.config.digest.slice(7)}`, RepoTags: ['a:1'], Layers: image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) }];
    const items = [
      ...layoutEntries([{ tag: 'a:1', desc: image.manifest }], [image.blobs]).map(([name, data]) => ({ name, data })),
      { name: 'manifest.json', data: JSON.stringify(manifest) },
    ];
    const src = source(await archive(items));
    const doc = await manifestOf(src);
    assert.deepEqual(doc.layers.map((l) => l.digest), image.layers.map((l) => l.digest));
    for (const [i, layer] of doc.layers.entries()) assert.deepEqual(await buffer(await src.openBlob(layer)), layers[i]);
  });

  it('an uncompressed layer that does not match its diff_id fails the stream with E_DIGEST_MISMATCH', async () => {
    const tampered = Buffer.from(layers[0]!);
    tampered[600] = tampered[600]! ^ 1;
    const src = source(await archive(dockerSaveEntries([{ tags: ['a:1'], image, layerFiles: [tampered, layers[1]!] }])));
    const doc = await manifestOf(src);
    await assert.rejects(buffer(await src.openBlob(doc.layers[0]!)), code('E_DIGEST_MISMATCH'));
  });

  it('refuses a config whose diff_ids do not match the layer count', async () => {
    const items = dockerSaveEntries([{ tags: ['a:1'], image, layerFiles: [layers[0]!] }]);
    await assert.rejects(source(await archive(items)).getManifest(), code('E_SOURCE_INVALID'));
  });

  it('with several images, lists their RepoTags (E_IMAGE_NOT_FOUND)', async () => {
    const file = await archive(dockerSaveEntries([{ tags: ['one:1'], image }, { tags: ['two:2'], image: second }]));
    await assert.rejects(source(file).getManifest(), (err: unknown) => code('E_IMAGE_NOT_FOUND')(err) && /one:1, two:2/.test((err as Error).message));
  });

  it('refuses manifest.json paths that leave the archive', async () => {
    for (const bad of ['../../etc/passwd', '/etc/passwd']) {
      const items = dockerSaveEntries([{ tags: ['a:1'], image }]).map((i) =>
        i.name === 'manifest.json' ? { name: i.name, data: JSON.stringify([{ Config: bad, RepoTags: [], Layers: [] }]) } : i,
      );
      await assert.rejects(source(await archive(items)).getManifest(), code('E_SOURCE_INVALID'));
    }
  });

  it('refuses a manifest.json naming a file the archive lacks, and an archive without manifest.json', async () => {
    const items = dockerSaveEntries([{ tags: ['a:1'], image }]).filter((i) => !i.name.endsWith('.json') || i.name === 'manifest.json');
    await assert.rejects(source(await archive(items)).getManifest(), code('E_SOURCE_INVALID'));
    const oci = layoutEntries([{ tag: 'a', desc: image.manifest }], [image.blobs]).map(([name, data]) => ({ name, data }));
    await assert.rejects(source(await archive(oci)).getManifest(), (err: unknown) => {
      code('E_SOURCE_INVALID')(err);
      assert.match((err as { hint?: string }).hint ?? '', /oci-archive:/);
      return true;
    });
  });

  it('refuses a truncated archive and a missing file', async () => {
    const full = buildTar(dockerSaveEntries([{ tags: ['a:1'], image }]));
    const file = join(base, 'truncated.tar');
    await writeFile(file, full.subarray(0, 3000));
    await assert.rejects(source(file).getManifest(), code('E_SOURCE_INVALID'));
    await assert.rejects(source(join(base, 'nope.tar')).getManifest(), code('E_IMAGE_NOT_FOUND'));
  });
});
