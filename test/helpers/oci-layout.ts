// A small OCI image layout written by hand (gzipped tar layers, config,
// manifest, index.json with ref names), for tests that pull it with the real
// CLI (`keel pull oci:DIR:NAME`) without a registry. Layers are built with
// tar-stream, so a test can put in what umoci would refuse to build (device
// nodes, capabilities, a hostile WorkingDir).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { digestOf, type Digest } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/media-types.ts';

export interface TarEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device';
  readonly content?: string;
  readonly mode?: number;
  /** A symlink's or a hardlink's target. */
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** PAX records (SCHILY.xattr.*). */
  readonly pax?: Readonly<Record<string, string>>;
}

export interface LayoutImage {
  /** The ref name in index.json: pull it as `oci:DIR:NAME`. */
  readonly name: string;
  readonly layers: ReadonlyArray<readonly TarEntry[]>;
  /** The image config's `config` object (Cmd, Env, WorkingDir...). */
  readonly config?: Readonly<Record<string, unknown>> | undefined;
}

export interface WrittenImage {
  readonly name: string;
  readonly manifest: Digest;
  readonly config: Digest;
  /** Compressed layer blob digests, bottom first. */
  readonly layers: readonly Digest[];
  readonly diffIds: readonly Digest[];
}

async function tarOf(entries: readonly TarEntry[]): Promise<Buffer> {
  const p = tarStream.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(1_700_000_000_000),
      uid: 0,
      gid: 0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      ...(e.pax !== undefined ? { pax: { ...e.pax } } : {}),
    };
    if (type === 'file') p.entry(header, e.content ?? '');
    else p.entry(header);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function putBlob(dir: string, bytes: Buffer): Promise<Digest> {
  const digest = digestOf(bytes);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
  return digest;
}

/** Writes `images` as one OCI layout at `dir` (created). */
export async function writeOciLayout(dir: string, images: readonly LayoutImage[]): Promise<WrittenImage[]> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const written: WrittenImage[] = [];
  const manifests: unknown[] = [];
  for (const image of images) {
    const layers: Array<{ mediaType: string; digest: Digest; size: number }> = [];
    const diffIds: Digest[] = [];
    for (const entries of image.layers) {
      const tar = await tarOf(entries);
      const gz = gzipSync(tar);
      diffIds.push(digestOf(tar));
      layers.push({ mediaType: MediaType.OCI_LAYER_GZIP, digest: await putBlob(dir, gz), size: gz.length });
    }
    const configBytes = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: image.config ?? { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }),
    );
    const config = { mediaType: MediaType.OCI_CONFIG, digest: await putBlob(dir, configBytes), size: configBytes.length };
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers }));
    const manifest = await putBlob(dir, manifestBytes);
    manifests.push({
      mediaType: MediaType.OCI_MANIFEST,
      digest: manifest,
      size: manifestBytes.length,
      annotations: { 'org.opencontainers.image.ref.name': image.name },
    });
    written.push({ name: image.name, manifest, config: config.digest, layers: layers.map((l) => l.digest), diffIds });
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests }));
  return written;
}
