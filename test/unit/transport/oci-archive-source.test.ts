import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parseManifestDocument } from '../../../src/oci/parse.ts';
import { parseReference, type LocalReference } from '../../../src/oci/reference.ts';
import { openOciArchiveSource } from '../../../src/transport/oci-archive-source.ts';
import { buildImage, buildTar, dockerSaveEntries, layoutEntries, makeLayer, type TarItem, desc, code } from './fixtures.ts';

let base: string;
before(async () => {
  base = await mkdtemp('/var/tmp/keel-oci-archive-');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

const image = buildImage([makeLayer({ 'etc/hostname': 'keel\n' }), makeLayer({ 'srv/data': 'd'.repeat(5000) })]);
const items = (): TarItem[] => layoutEntries([{ tag: 'v1', desc: image.manifest }], [image.blobs]).map(([name, data]) => ({ name, data }));

let n = 0;
async function archive(bytes: Buffer): Promise<string> {
  const file = join(base, `a${n++}.tar`);
  await writeFile(file, bytes);
  return file;
}
const source = (file: string, tag?: string) =>
  openOciArchiveSource(parseReference(tag === undefined ? `oci-archive:${file}` : `oci-archive:${file}:${tag}`) as LocalReference);
describe('oci-archive: source', () => {
  it('serves the tagged manifest and every blob from the tar in place, verified', async () => {
    const file = await archive(buildTar([{ name: './', type: '5' }, ...items().map((i) => ({ ...i, name: `./${i.name}` }))]));
    const src = source(file, 'v1');
    const m = await src.getManifest();
    assert.equal(m.digest, image.manifest.digest);
    assert.deepEqual(m.bytes, image.manifestBytes);
    const doc = parseManifestDocument(m.bytes, m.mediaType);
    if (doc.kind !== 'manifest') throw new Error('expected a manifest');
    assert.deepEqual(await buffer(await src.openBlob(doc.config)), image.configBytes);
    for (const [i, layer] of doc.layers.entries()) assert.deepEqual(await buffer(await src.openBlob(layer)), image.layerBytes[i]);
    await src.close();
  });

  it('takes the only image when no tag is given; an unknown tag is E_IMAGE_NOT_FOUND', async () => {
    const file = await archive(buildTar(items()));
    assert.equal((await source(file).getManifest()).digest, image.manifest.digest);
    await assert.rejects(source(file, 'nope').getManifest(), code('E_IMAGE_NOT_FOUND'));
  });

  it('a missing file is E_IMAGE_NOT_FOUND with the path', async () => {
    const missing = join(base, 'missing.tar');
    await assert.rejects(source(missing).getManifest(), (err: unknown) => code('E_IMAGE_NOT_FOUND')(err) && (err as Error).message.includes(missing));
  });

  it('refuses an archive with a ../ entry name (zip-slip) as E_SOURCE_INVALID', async () => {
    const file = await archive(buildTar([...items(), { name: '../../etc/cron.d/evil', data: '* * * * * root sh' }]));
    await assert.rejects(source(file, 'v1').getManifest(), code('E_SOURCE_INVALID'));
  });

  it('refuses a truncated archive as E_SOURCE_INVALID', async () => {
    const full = buildTar(items());
    await assert.rejects(source(await archive(full.subarray(0, full.length - 2048 - 100))).getManifest(), code('E_SOURCE_INVALID'));
  });

  it('refuses a gzipped archive with a hint to gunzip it', async () => {
    await assert.rejects(source(await archive(gzipSync(buildTar(items())))).getManifest(), (err: unknown) => {
      code('E_SOURCE_INVALID')(err);
      assert.match((err as { hint?: string }).hint ?? '', /gunzip/);
      return true;
    });
  });

  it('a blob whose bytes differ from its digest fails the stream with E_DIGEST_MISMATCH', async () => {
    const layerName = `blobs/sha256/${image.layers[0]!.digest.slice(7)}`;
    const tampered = Buffer.from(image.layerBytes[0]!);
    tampered[700] = tampered[700]! ^ 1;
    const file = await archive(buildTar(items().map((i) => (i.name === layerName ? { name: i.name, data: tampered } : i))));
    const src = source(file, 'v1');
    await src.getManifest();
    await assert.rejects(buffer(await src.openBlob(desc(image.layers[0]!))), code('E_DIGEST_MISMATCH'));
  });

  it('refuses a blob that is a symlink leading out of the archive', async () => {
    const layerName = `blobs/sha256/${image.layers[0]!.digest.slice(7)}`;
    const file = await archive(buildTar(items().map((i) => (i.name === layerName ? { name: i.name, type: '2', linkname: '../../../etc/passwd' } : i))));
    await assert.rejects(source(file, 'v1').openBlob(desc(image.layers[0]!)), code('E_SOURCE_INVALID'));
  });

  it('notices an archive rewritten after it was indexed', async () => {
    const file = await archive(buildTar(items()));
    const src = source(file, 'v1');
    await src.getManifest();
    await appendFile(file, Buffer.alloc(512));
    await assert.rejects(src.openBlob(desc(image.layers[0]!)), code('E_SOURCE_INVALID'));
  });

  it('tells a docker save archive apart and points at docker-archive:', async () => {
    const file = await archive(buildTar(dockerSaveEntries([{ tags: ['x:1'], image }])));
    await assert.rejects(source(file).getManifest(), (err: unknown) => {
      code('E_SOURCE_INVALID')(err);
      assert.match((err as { hint?: string }).hint ?? '', /docker-archive:/);
      return true;
    });
  });
});
