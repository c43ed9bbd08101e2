// Hand-built OCI layouts, OCI archives and docker save archives for the
// transport tests: a tiny tar writer (ustar, pax, GNU long names, links) that
// can also write the hostile archives real tools refuse to produce.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isKeelError, type ErrorCode } from '../../../src/errors.ts';
import { parseDigest } from '../../../src/oci/digest.ts';
import type { Descriptor } from '../../../src/oci/types.ts';

export interface TarItem {
  readonly name: string;
  readonly data?: Buffer | string | undefined;
  /** '0' file (default), '1' hardlink, '2' symlink, '5' directory. */
  readonly type?: string | undefined;
  readonly linkname?: string | undefined;
  /** How to store a name over 100 bytes. */
  readonly longName?: 'pax' | 'gnu' | 'prefix' | undefined;
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function header(name: string, size: number, type: string, linkname = '', prefix = '', magic = 'ustar\u000000'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('00000000000\0', 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(linkname, 157, 100, 'utf8');
  h.write(magic, 257, 'latin1');
  h.write(prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

export function buildTar(items: readonly TarItem[], options: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const item of items) {
    const data = Buffer.from(item.data ?? '');
    const type = item.type ?? '0';
    let name = item.name;
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      if (item.longName === 'gnu') {
        const long = Buffer.from(`${name}\0`);
        parts.push(header('././@LongLink', long.length, 'L', '', '', 'ustar  \0'), padded(long));
        name = name.slice(0, 100);
      } else if (item.longName === 'prefix') {
        const cut = name.lastIndexOf('/', 154);
        prefix = name.slice(0, cut);
        name = name.slice(cut + 1);
      } else {
        const pax = Buffer.from(paxRecord('path', name));
        parts.push(header('PaxHeader', pax.length, 'x'), padded(pax));
        name = name.slice(0, 100);
      }
    }
    parts.push(header(name, type === '0' ? data.length : 0, type, item.linkname ?? '', prefix));
    if (type === '0') parts.push(padded(data));
  }
  if (options.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A small uncompressed layer tar with the given files. */
export function makeLayer(files: Readonly<Record<string, string>>): Buffer {
  return buildTar(Object.entries(files).map(([name, data]) => ({ name, data })));
}

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

export interface BuiltImage {
  readonly manifest: Desc;
  readonly manifestBytes: Buffer;
  readonly config: Desc;
  readonly configBytes: Buffer;
  readonly layers: readonly Desc[];
  readonly layerBytes: readonly Buffer[];
  /** blob path -> bytes */
  readonly blobs: ReadonlyMap<string, Buffer>;
}

const blobName = (digest: string): string => `blobs/sha256/${digest.slice('sha256:'.length)}`;

export function buildImage(layerBytes: readonly Buffer[], arch = 'amd64'): BuiltImage {
  const diffIds = layerBytes.map((l) => sha256(l));
  const configBytes = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.length };
  const layers = layerBytes.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(l), size: l.length }));
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }));
  const manifest = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifestBytes), size: manifestBytes.length };
  const blobs = new Map<string, Buffer>([[blobName(manifest.digest), manifestBytes], [blobName(config.digest), configBytes]]);
  layerBytes.forEach((l, i) => blobs.set(blobName(layers[i]!.digest), l));
  return { manifest, manifestBytes, config, configBytes, layers, layerBytes, blobs };
}

/** An index over some images (its blob added to `extra`). */
export function buildIndex(images: readonly BuiltImage[], archs: readonly string[]): { desc: Desc; bytes: Buffer } {
  const manifests = images.map((im, i) => ({ ...im.manifest, platform: { os: 'linux', architecture: archs[i]! } }));
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  return { desc: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256(bytes), size: bytes.length }, bytes };
}

/** The files of an OCI layout: oci-layout, index.json (one entry per tag), blobs. */
export function layoutEntries(
  entries: readonly { tag?: string | undefined; desc: Desc }[],
  blobs: readonly ReadonlyMap<string, Buffer>[],
): [string, Buffer][] {
  const index = {
    schemaVersion: 2,
    manifests: entries.map((e) => (e.tag === undefined ? e.desc : { ...e.desc, annotations: { 'org.opencontainers.image.ref.name': e.tag } })),
  };
  const out: [string, Buffer][] = [
    ['oci-layout', Buffer.from('{"imageLayoutVersion": "1.0.0"}')],
    ['index.json', Buffer.from(JSON.stringify(index))],
  ];
  const seen = new Set<string>();
  for (const map of blobs) {
    for (const [name, bytes] of map) {
      if (!seen.has(name)) out.push([name, bytes]);
      seen.add(name);
    }
  }
  return out;
}

export async function writeTree(dir: string, files: readonly [string, Buffer][]): Promise<void> {
  for (const [name, bytes] of files) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
}

/** `docker save`-style entries (legacy layout: <id>/layer.tar, <hex>.json). */
export function dockerSaveEntries(images: readonly { tags: string[]; image: BuiltImage; layerFiles?: readonly Buffer[] }[]): TarItem[] {
  const items: TarItem[] = [];
  const manifest = images.map(({ tags, image, layerFiles }) => {
    const configName = `${image.config.digest.slice(7)}.json`;
    items.push({ name: configName, data: image.configBytes });
    const layers = (layerFiles ?? image.layerBytes).map((bytes, i) => {
      const id = sha256(`${image.config.digest}/${i}`).slice(7);
      items.push({ name: `${id}/`, type: '5' }, { name: `${id}/VERSION`, data: '1.0' }, { name: `${id}/layer.tar`, data: bytes });
      return `${id}/layer.tar`;
    });
    return { Config: configName, RepoTags: tags, Layers: layers };
  });
  items.push({ name: 'manifest.json', data: JSON.stringify(manifest) });
  return items;
}

/** A Descriptor from a fixture's Desc. */
export const desc = (d: Desc): Descriptor => ({ mediaType: d.mediaType, digest: parseDigest(d.digest), size: d.size });

/** An assert.rejects/throws validator: a KeelError with code `c`. */
export const code = (c: ErrorCode) => (err: unknown): true => {
  assert.ok(isKeelError(err), `expected KeelError ${c}, got ${String(err)}`);
  assert.equal(err.code, c, err.message);
  return true;
};
