// Hostile images served by a real registry: each is refused with a stable
// code or confined to the rootfs, a TRIPWIRE on the host stays untouched, the
// failed image is never listed, and the store passes `keel check` afterwards.

import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { runKeel, tempDir, type TempDir } from '../../helpers/run.ts';
import { packTar, rawHeader, blockData, END, type PackEntry } from '../../unit/layer/helpers.ts';

const execFile = promisify(execFileCb);
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let registry: Registry;
let work: TempDir;
let tripwire: string;
const TRIPWIRE_TEXT = 'HOST PATH MUST NOT CHANGE\n';

async function assertTripwire(): Promise<void> {
  assert.deepEqual((await readdir(tripwire)).sort(), ['canary']);
  assert.equal(await readFile(path.join(tripwire, 'canary'), 'utf8'), TRIPWIRE_TEXT, 'HOST PATH WAS CHANGED');
}

/** Writes an OCI layout with one image of the given (uncompressed) layer tars and pushes it. */
async function pushImage(tag: string, tars: Buffer[], options: { diffIds?: string[] } = {}): Promise<string> {
  const layout = await mkdtemp(path.join(work.path, `layout-${tag}-`));
  const blobs = path.join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    const d = sha(b);
    await writeFile(path.join(blobs, d.slice(7)), b);
    return d;
  };
  const layers = [];
  for (const tar of tars) {
    const gz = zlib.gzipSync(tar);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(gz), size: gz.length });
  }
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: options.diffIds ?? tars.map((t) => sha(t)) },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
    layers,
  }));
  const md = await put(manifest);
  await writeFile(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(path.join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  await execFile('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${registry.host}/hostile:${tag}`]);
  return `${registry.host}/hostile:${tag}`;
}

async function pullRefused(ref: string, code: string, exit = 65): Promise<string> {
  const store = path.join(work.path, `store-${code}-${Math.random().toString(36).slice(2)}`);
  const r = await runKeel(['--root', store, 'pull', ref]);
  assert.equal(r.code, exit, r.stderr);
  assert.match(r.stderr, new RegExp(code));
  await assertTripwire();
  const images = await runKeel(['--root', store, 'images', '--json']);
  assert.deepEqual(JSON.parse(images.stdout), [], 'a refused image is never listed');
  const checked = await runKeel(['--root', store, 'check']);
  assert.equal(checked.code, 0, checked.stdout);
  return store;
}

const file = (name: string, data = 'x'): PackEntry => ({ name, data });

before(async () => {
  registry = await startRegistry();
  work = await tempDir('keel-hostile-');
  tripwire = await mkdtemp('/var/tmp/keel-tripwire-');
  await writeFile(path.join(tripwire, 'canary'), TRIPWIRE_TEXT);
});

after(async () => {
  await registry?.stop();
  await work?.cleanup();
  await rm(tripwire, { recursive: true, force: true });
});

describe('hostile layers from a registry', () => {
  test('path traversal ../../ out of the rootfs is refused (E_LAYER_PATH)', async () => {
    const up = '../'.repeat(12);
    const ref = await pushImage('traversal', [await packTar([file(`${up}${tripwire.slice(1)}/pwned`)])]);
    await pullRefused(ref, 'E_LAYER_PATH');
  });

  test('symlink in layer 1, write through it in layer 2: pulled and unpacked, the write confined to the rootfs', async () => {
    // docs/layers.md: each layer is extracted as its own tree, and stacking
    // resolves the upper layer's path through the lower layer's symlink as if
    // the rootfs were / — so the image is valid and the write lands inside.
    const ref = await pushImage('symlink-escape', [
      await packTar([{ name: 'escape', type: 'symlink', linkname: tripwire }]),
      await packTar([file('escape/pwned', 'owned')]),
    ]);
    const store = path.join(work.path, 'store-symlink');
    const r = await runKeel(['--root', store, 'pull', ref]);
    await assertTripwire();
    assert.equal(r.code, 0, r.stderr);
    const bundle = path.join(work.path, 'bundle-symlink');
    const u = await runKeel(['--root', store, 'unpack', ref, bundle]);
    await assertTripwire();
    assert.equal(u.code, 0, u.stderr);
    // Confined: the write landed inside the rootfs, at the link's target seen from the rootfs.
    assert.equal(await readFile(path.join(bundle, 'rootfs', tripwire, 'pwned'), 'utf8'), 'owned');
    const checked = await runKeel(['--root', store, 'check']);
    assert.equal(checked.code, 0, checked.stdout);
  });

  test('hardlink to a host file outside the rootfs is refused (E_LAYER_LINK)', async () => {
    const ref = await pushImage('hardlink-out', [await packTar([{ name: 'shadow', type: 'link', linkname: `${'../'.repeat(12)}${tripwire.slice(1)}/canary` }])]);
    await pullRefused(ref, 'E_LAYER_LINK'); // docs/layers.md: a hardlink whose target climbs above the root
  });

  test('a directory entry with a size (the tar-stream hang) is refused, not hung (E_LAYER_MALFORMED)', async () => {
    const tar = Buffer.concat([rawHeader({ name: 'dir/', typeflag: '5', size: 512 }), blockData('x'.repeat(512)), END]);
    const ref = await pushImage('dir-with-size', [tar]);
    await pullRefused(ref, 'E_LAYER_MALFORMED');
  });

  test('a decompression bomb is refused (E_LAYER_LIMIT)', async () => {
    const zeros = Buffer.alloc(256 << 20);
    const tar = Buffer.concat([rawHeader({ name: 'bomb', typeflag: '0', size: zeros.length }), zeros, END]);
    const ref = await pushImage('bomb', [tar]);
    await pullRefused(ref, 'E_LAYER_LIMIT');
  });

  test('a diff_id that does not match the layer is refused (E_DIGEST_MISMATCH)', async () => {
    const tar = await packTar([file('etc/motd', 'hello')]);
    const ref = await pushImage('bad-diffid', [tar], { diffIds: [sha('something else')] });
    await pullRefused(ref, 'E_DIGEST_MISMATCH', 76);
  });
});
