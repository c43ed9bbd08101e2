// The offline sources against images written by tools keel did not write:
// umoci builds an OCI layout, skopeo turns it into an oci-archive and a
// docker-archive, GNU tar packs the layout as ustar/GNU and as pax. Each is
// read back through keel's sources: the manifest parses, every blob stream
// verifies, and layers and config agree with the original image.
// Needs: umoci, skopeo, tar (Debian packages umoci, skopeo, tar).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import tarStream from 'tar-stream';
import { digestOf } from '../../../src/oci/digest.ts';
import { parseImageConfig, parseManifestDocument } from '../../../src/oci/parse.ts';
import { parseReference } from '../../../src/oci/reference.ts';
import type { ImageManifest } from '../../../src/oci/types.ts';
import { openSource, type ImageSource, type RegistrySourceOptions } from '../../../src/transport/index.ts';

let dir: string;
let layout: string;
const options = { registry: { config: {} } as unknown as RegistrySourceOptions };
const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

before(async () => {
  dir = await mkdtemp('/var/tmp/keel-offline-it-');
  layout = join(dir, 'L');
  const bundle = join(dir, 'B');
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:t`]);
  run('umoci', ['config', '--image', `${layout}:t`, '--config.entrypoint', '/bin/hello']);
  run('umoci', ['unpack', '--image', `${layout}:t`, bundle]);
  await writeFile(join(bundle, 'rootfs/hello'), 'hi\n');
  run('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:t`, bundle]);
  // a second layer, so order matters
  await writeFile(join(bundle, 'rootfs/second'), 'two\n');
  run('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:t`, bundle]);
  run('skopeo', ['copy', '-q', `oci:${layout}:t`, `oci-archive:${join(dir, 'x.tar')}:t`]);
  run('skopeo', ['copy', '-q', `oci:${layout}:t`, `docker-archive:${join(dir, 'y.tar')}:keel/t:latest`]);
  run('tar', ['-C', layout, '-cf', join(dir, 'gnu.tar'), '.']);
  run('tar', ['-C', layout, '--format=posix', '-cf', join(dir, 'pax.tar'), '.']);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function tarNames(bytes: Buffer): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        out.set(header.name.replace(/^\.\//, ''), Buffer.concat(chunks).toString());
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(bytes);
  await done;
  return out;
}

/** Reads the image through `src`, verifying every blob; returns what a pull would see. */
async function readImage(src: ImageSource) {
  const m = await src.getManifest();
  assert.equal(m.digest, digestOf(m.bytes));
  const doc = parseManifestDocument(m.bytes, m.mediaType);
  assert.equal(doc.kind, 'manifest');
  const manifest = doc as ImageManifest;
  const configBytes = await drain(await src.openBlob(manifest.config));
  const config = parseImageConfig(configBytes);
  const layers: Buffer[] = [];
  for (const layer of manifest.layers) layers.push(await drain(await src.openBlob(layer)));
  await src.close();
  return { digest: m.digest, manifest, config, configDigest: digestOf(configBytes), layers };
}

async function original() {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  return { manifestDigest: index.manifests[0]!.digest };
}

describe('offline sources read images written by umoci and skopeo', () => {
  it('oci:DIR:tag reads the umoci layout', async () => {
    const img = await readImage(openSource(parseReference(`oci:${layout}:t`), options));
    assert.equal(img.digest, (await original()).manifestDigest);
    assert.equal(img.manifest.layers.length, 2);
    assert.equal(img.config.rootfs.diff_ids.length, 2);
    assert.deepEqual(img.config.config.Entrypoint, ['/bin/hello']);
    assert.equal(img.manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  });

  for (const [what, file] of [['skopeo oci-archive', 'x.tar'], ['GNU tar', 'gnu.tar'], ['pax tar', 'pax.tar']] as const) {
    it(`oci-archive:FILE:tag reads the layout packed by ${what}, in place`, async () => {
      const fromDir = await readImage(openSource(parseReference(`oci:${layout}:t`), options));
      const img = await readImage(openSource(parseReference(`oci-archive:${join(dir, file)}:t`), options));
      assert.equal(img.digest, fromDir.digest);
      assert.equal(img.configDigest, fromDir.configDigest);
      assert.deepEqual(img.layers, fromDir.layers);
    });
  }

  it('docker-archive:FILE reads skopeo docker-archive output (synthesised OCI manifest)', async () => {
    const fromDir = await readImage(openSource(parseReference(`oci:${layout}:t`), options));
    const img = await readImage(openSource(parseReference(`docker-archive:${join(dir, 'y.tar')}`), options));
    assert.equal(img.manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(img.manifest.layers.length, 2);
    assert.deepEqual(img.config.rootfs.diff_ids, fromDir.config.rootfs.diff_ids);
    assert.deepEqual(img.config.config.Entrypoint, ['/bin/hello']);
    // docker-archive layers are stored uncompressed: each one's digest is its diff_id
    assert.deepEqual(img.manifest.layers.map((l) => l.digest), [...img.config.rootfs.diff_ids]);
    assert.ok(img.manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar'));
    const first = await tarNames(img.layers[0]!);
    const second = await tarNames(img.layers[1]!);
    assert.equal(first.get('hello'), 'hi\n');
    assert.equal(second.get('second'), 'two\n');
  });
});
