import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDigest } from '../../../src/oci/digest.ts';
import { parseManifestDocument } from '../../../src/oci/parse.ts';
import { parseReference, type LocalReference } from '../../../src/oci/reference.ts';
import type { Descriptor } from '../../../src/oci/types.ts';
import { openOciLayoutSource } from '../../../src/transport/oci-layout-source.ts';
import { buildImage, buildIndex, layoutEntries, makeLayer, sha256, writeTree, desc, code } from './fixtures.ts';

let base: string;
before(async () => {
  base = await mkdtemp('/var/tmp/keel-oci-layout-');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

const image = buildImage([makeLayer({ 'etc/hostname': 'keel\n' }), makeLayer({ 'usr/bin/app': '#!/bin/sh\necho hi\n' })]);
const other = buildImage([makeLayer({ 'other': 'o' })], 'arm64');

let n = 0;
async function layout(entries: Parameters<typeof layoutEntries>[0], blobs = [image.blobs, other.blobs]): Promise<string> {
  const dir = join(base, `l${n++}`);
  await writeTree(dir, layoutEntries(entries, blobs));
  return dir;
}

const source = (dir: string, tag?: string) => openOciLayoutSource(parseReference(tag === undefined ? `oci:${dir}` : `oci:${dir}:${tag}`) as LocalReference);

describe('oci: layout source', () => {
  it('returns the tagged manifest, verified, and streams every blob verified', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }, { tag: 'other', desc: other.manifest }]);
    const src = source(dir, 'v1');
    assert.equal(src.name, `oci:${dir}:v1`);
    const m = await src.getManifest();
    assert.equal(m.digest, image.manifest.digest);
    assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(m.bytes, image.manifestBytes);
    const doc = parseManifestDocument(m.bytes, m.mediaType);
    assert.equal(doc.kind, 'manifest');
    if (doc.kind !== 'manifest') return;
    assert.deepEqual(await buffer(await src.openBlob(doc.config)), image.configBytes);
    let progress = 0;
    for (const [i, layer] of doc.layers.entries()) {
      assert.deepEqual(await buffer(await src.openBlob(layer, { onProgress: (b) => (progress += b) })), image.layerBytes[i]);
    }
    assert.equal(progress, image.layers.reduce((s, l) => s + l.size, 0));
    await src.close();
  });

  it('takes the only entry when no tag is given', async () => {
    const dir = await layout([{ desc: image.manifest }]);
    assert.equal((await source(dir).getManifest()).digest, image.manifest.digest);
  });

  it('without a tag and several entries, names the available ones (E_IMAGE_NOT_FOUND)', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }, { tag: 'v2', desc: other.manifest }]);
    await assert.rejects(source(dir).getManifest(), (err: unknown) => code('E_IMAGE_NOT_FOUND')(err) && /v1, v2/.test((err as Error).message));
  });

  it('an unknown tag is E_IMAGE_NOT_FOUND naming the available ones', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }]);
    await assert.rejects(source(dir, 'v9').getManifest(), (err: unknown) => code('E_IMAGE_NOT_FOUND')(err) && /v1/.test((err as Error).message));
  });

  it('a missing directory is E_IMAGE_NOT_FOUND with the path', async () => {
    const missing = join(base, 'does-not-exist');
    await assert.rejects(source(missing).getManifest(), (err: unknown) => code('E_IMAGE_NOT_FOUND')(err) && (err as Error).message.includes(missing));
  });

  it('returns an index entry as is, and its children by digest', async () => {
    const idx = buildIndex([image, other], ['amd64', 'arm64']);
    const dir = await layout([{ tag: 'multi', desc: idx.desc }], [image.blobs, other.blobs, new Map([[`blobs/sha256/${idx.desc.digest.slice(7)}`, idx.bytes]])]);
    const src = source(dir, 'multi');
    const top = await src.getManifest();
    assert.equal(top.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(parseManifestDocument(top.bytes, top.mediaType).kind, 'index');
    const child = await src.getManifest(parseDigest(other.manifest.digest));
    assert.deepEqual(child.bytes, other.manifestBytes);
    assert.equal(child.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    await assert.rejects(src.getManifest(parseDigest(sha256('nothing'))), code('E_IMAGE_NOT_FOUND'));
  });

  it('refuses a layout with a wrong imageLayoutVersion or a garbage index.json (E_SOURCE_INVALID)', async () => {
    const dir1 = await layout([{ tag: 'v1', desc: image.manifest }]);
    await writeFile(join(dir1, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await assert.rejects(source(dir1, 'v1').getManifest(), code('E_SOURCE_INVALID'));
    const dir2 = await layout([{ tag: 'v1', desc: image.manifest }]);
    await writeFile(join(dir2, 'index.json'), '{"schemaVersion":2,"manifests":[{"digest":"sha256:../../etc"}]}');
    await assert.rejects(source(dir2, 'v1').getManifest(), code('E_SOURCE_INVALID'));
    const dir3 = await layout([{ tag: 'v1', desc: image.manifest }]);
    await unlink(join(dir3, 'oci-layout'));
    await assert.rejects(source(dir3, 'v1').getManifest(), code('E_IMAGE_NOT_FOUND'));
  });

  it('a manifest whose bytes were changed is E_DIGEST_MISMATCH', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }]);
    const path = join(dir, 'blobs/sha256', image.manifest.digest.slice(7));
    const bytes = Buffer.from(image.manifestBytes);
    bytes[bytes.length - 2] = 0x20; // same size, different content
    await writeFile(path, bytes);
    await assert.rejects(source(dir, 'v1').getManifest(), code('E_DIGEST_MISMATCH'));
  });

  it('a manifest over 4 MiB is E_BODY_TOO_LARGE before it is read', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const d = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(big), size: big.length };
    const dir = await layout([{ tag: 'big', desc: d }], [new Map([[`blobs/sha256/${d.digest.slice(7)}`, big]])]);
    await assert.rejects(source(dir, 'big').getManifest(), code('E_BODY_TOO_LARGE'));
  });

  it('a blob with the wrong bytes fails the stream with E_DIGEST_MISMATCH, a wrong size with E_SIZE_MISMATCH', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }]);
    const layer = desc(image.layers[0]!);
    const path = join(dir, 'blobs/sha256', layer.digest.slice(7));
    const tampered = Buffer.from(image.layerBytes[0]!);
    tampered[600] = tampered[600]! ^ 0xff;
    await writeFile(path, tampered);
    const src = source(dir, 'v1');
    await assert.rejects(buffer(await src.openBlob(layer)), code('E_DIGEST_MISMATCH'));
    await writeFile(path, Buffer.concat([image.layerBytes[0]!, Buffer.from('x')]));
    await assert.rejects(async () => buffer(await src.openBlob(layer)), code('E_SIZE_MISMATCH'));
  });

  it('a blob that is missing is E_IMAGE_NOT_FOUND, a malformed digest E_DIGEST_INVALID', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }]);
    const src = source(dir, 'v1');
    await assert.rejects(src.openBlob(desc({ ...image.layers[0]!, digest: sha256('absent') })), code('E_IMAGE_NOT_FOUND'));
    const hostile = { mediaType: 'x', digest: 'sha256:../../../etc/passwd', size: 1 } as unknown as Descriptor;
    await assert.rejects(src.openBlob(hostile), code('E_DIGEST_INVALID'));
  });

  it('refuses a blob symlinked out of the layout (E_SOURCE_INVALID) and never reads the target', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }]);
    const layer = desc(image.layers[0]!);
    // The host file holds exactly the expected bytes: only the path check can stop it.
    const outside = join(base, 'host-secret');
    await writeFile(outside, image.layerBytes[0]!);
    const path = join(dir, 'blobs/sha256', layer.digest.slice(7));
    await unlink(path);
    await symlink(outside, path);
    await assert.rejects(source(dir, 'v1').openBlob(layer), code('E_SOURCE_INVALID'));
    // The same through a symlinked blobs/sha256 directory.
    const dir2 = await layout([{ tag: 'v1', desc: image.manifest }]);
    const hostBlobs = join(base, 'host-blobs');
    await mkdir(hostBlobs, { recursive: true });
    await writeFile(join(hostBlobs, layer.digest.slice(7)), image.layerBytes[0]!);
    await rm(join(dir2, 'blobs/sha256'), { recursive: true });
    await symlink(hostBlobs, join(dir2, 'blobs/sha256'));
    await assert.rejects(source(dir2, 'v1').getManifest(), code('E_IMAGE_NOT_FOUND'));
    await assert.rejects(source(dir2, 'v1').openBlob(layer), code('E_SOURCE_INVALID'));
  });

  it('follows a symlink that stays inside the layout', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }]);
    const layer = desc(image.layers[0]!);
    const path = join(dir, 'blobs/sha256', layer.digest.slice(7));
    await mkdir(join(dir, 'store'));
    await writeFile(join(dir, 'store/layer'), image.layerBytes[0]!);
    await unlink(path);
    await symlink('../../store/layer', path);
    assert.deepEqual(await buffer(await source(dir, 'v1').openBlob(layer)), image.layerBytes[0]);
  });

  it('refuses a FIFO planted as a blob instead of hanging on it', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }]);
    const layer = desc(image.layers[0]!);
    const path = join(dir, 'blobs/sha256', layer.digest.slice(7));
    await unlink(path);
    execFileSync('mkfifo', [path]);
    await assert.rejects(source(dir, 'v1').openBlob(layer), code('E_SOURCE_INVALID'));
  });

  it('stops a blob stream when its signal aborts', async () => {
    const dir = await layout([{ tag: 'v1', desc: image.manifest }]);
    const controller = new AbortController();
    const stream = await source(dir, 'v1').openBlob(desc(image.layers[0]!), { signal: controller.signal });
    controller.abort();
    await assert.rejects(buffer(stream), (err: unknown) => (err as Error).name === 'AbortError');
    const stream2Promise = source(dir, 'v1').openBlob(desc(image.layers[0]!), { signal: AbortSignal.abort() });
    await assert.rejects(stream2Promise);
  });
});
