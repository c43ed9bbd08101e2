// Shared helpers for the store tests: temp stores under /var/tmp, a tiny
// image built by hand (gzipped tar layer, config, manifest), a dead pid.

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { digestOf, type Digest } from '../../../src/oci/digest.ts';
import { MediaType } from '../../../src/oci/media-types.ts';
import type { Descriptor } from '../../../src/oci/types.ts';
import { Store } from '../../../src/store/index.ts';

export const NODE = new URL('../../../node_modules/.bin/node', import.meta.url).pathname;
export const STORE_INDEX = new URL('../../../src/store/index.ts', import.meta.url).pathname;

export async function tempDir(prefix = 'keel-store-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join('/var/tmp', prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function openTempStore(options: { lockTimeoutMs?: number } = {}): Promise<{ store: Store; dir: string; cleanup: () => Promise<void> }> {
  const t = await tempDir();
  const store = await Store.open(join(t.dir, 'root'), { create: true, lockTimeoutMs: options.lockTimeoutMs });
  return { store, dir: t.dir, cleanup: t.cleanup };
}

/** A pid that existed a moment ago and is now gone (reaped). */
export function deadPid(): number {
  const r = spawnSync('/bin/true');
  if (r.pid === undefined) throw new Error('could not spawn /bin/true');
  return r.pid;
}

export async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const [name, content] of Object.entries(files)) {
    p.entry({ name, mode: 0o644, mtime: new Date(1_700_000_000_000) }, content);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface TinyImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layer: Descriptor;
  readonly diffId: Digest;
  readonly files: Record<string, string>;
}

function descriptor(mediaType: string, bytes: Uint8Array): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
}

/** Puts a one-layer image into the store (blobs only; `extract` also commits the layer dir) and names it. */
export async function putTinyImage(store: Store, name: string, text = 'hello', extract = true): Promise<TinyImage> {
  const files = { 'hello.txt': `${text}\n`, 'etc/os-release': `ID=${text}\n` };
  const tar = await tarOf(files);
  const gz = gzipSync(tar);
  const diffId = digestOf(tar);
  const layer = descriptor(MediaType.OCI_LAYER_GZIP, gz);
  const configBytes = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }),
  );
  const config = descriptor(MediaType.OCI_CONFIG, configBytes);
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers: [layer] }));
  const manifest = descriptor(MediaType.OCI_MANIFEST, manifestBytes);
  await store.putBlob(gz, layer);
  await store.putBlob(configBytes, config);
  await store.putBlob(manifestBytes, manifest);
  if (extract) {
    const staging = await store.stageLayer();
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(staging.dir, path, '..'), { recursive: true });
      await writeFile(join(staging.dir, path), content);
    }
    await staging.commit(diffId, { digest: layer.digest, mediaType: layer.mediaType, entries: Object.keys(files).length, size: tar.length });
  }
  await store.setRef(name, manifest);
  return { manifest, config, layer, diffId, files };
}
