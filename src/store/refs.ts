// index.json: the OCI layout's index, where keel keeps its refs as entries
// annotated `org.opencontainers.image.ref.name`. Reads need no lock (the file
// is only ever replaced by rename); changes are read-modify-write under the
// store's `index` mutex and written with writeFileAtomic. Entries keel does
// not touch are written back exactly as they were (unknown fields kept).

import { KeelError, fsError } from '../errors.ts';
import { parseDescriptor } from '../oci/parse.ts';
import type { Descriptor } from '../oci/types.ts';
import { writeFileAtomic } from './fs-sync.ts';
import type { Layout } from './layout.ts';
import { readRegularFile } from './regular-file.ts';

export const REF_NAME = 'org.opencontainers.image.ref.name';

// OCI image-layout ref.name grammar: components of alphanumerics joined by
// [-._:@+] or "--", separated by "/".
const COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

export function validateRefName(name: string): string {
  if (name.length === 0 || name.length > 1024 || !REF.test(name)) {
    throw new KeelError('E_REFERENCE_INVALID', `invalid store ref name ${JSON.stringify(name.slice(0, 200))}`, {
      hint: 'ref names are like docker.io/library/etcd:3.5 (letters, digits, and . _ - : @ + / between them)',
    });
  }
  return name;
}

export interface IndexDocument {
  readonly raw: Record<string, unknown>;
  readonly entries: Array<Record<string, unknown>>;
}

function corrupt(path: string, why: string, cause?: unknown): KeelError {
  return new KeelError('E_STORE_CORRUPT', `the store index ${path} ${why}`, {
    cause,
    detail: { path },
    hint: 'restore index.json from a backup, or write {"schemaVersion":2,"manifests":[]} to it and pull the images again; blobs are kept until keel prune',
  });
}

export async function readIndex(layout: Layout): Promise<IndexDocument> {
  let text: string;
  try {
    text = (await readRegularFile(layout.index)).toString('utf8');
  } catch (err) {
    throw fsError(`reading ${layout.index}`, err);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw corrupt(layout.index, 'is not valid JSON', err);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw corrupt(layout.index, 'is not a JSON object');
  const doc = raw as Record<string, unknown>;
  if (doc.schemaVersion !== 2) throw corrupt(layout.index, 'has no schemaVersion 2');
  const manifests = doc.manifests ?? [];
  if (!Array.isArray(manifests) || !manifests.every((m) => typeof m === 'object' && m !== null && !Array.isArray(m))) {
    throw corrupt(layout.index, 'has a manifests field that is not an array of objects');
  }
  return { raw: doc, entries: manifests as Array<Record<string, unknown>> };
}

export function entryDescriptor(layout: Layout, entry: Record<string, unknown>, i: number): Descriptor {
  try {
    return parseDescriptor(entry, `index.json entry ${i}`);
  } catch (err) {
    throw corrupt(layout.index, `has an invalid entry ${i}: ${(err as Error).message}`, err);
  }
}

export function entryName(entry: Record<string, unknown>): string | undefined {
  const ann = entry.annotations;
  if (typeof ann !== 'object' || ann === null) return undefined;
  const name = (ann as Record<string, unknown>)[REF_NAME];
  return typeof name === 'string' ? name : undefined;
}

export async function writeIndex(layout: Layout, doc: IndexDocument, entries: Array<Record<string, unknown>>): Promise<void> {
  const out = { ...doc.raw, schemaVersion: 2, manifests: entries };
  await writeFileAtomic(layout.index, `${JSON.stringify(out, null, 2)}\n`, { tmpDir: layout.tmp });
}

/** The JSON of a descriptor as an index.json entry named `name`. */
export function descriptorEntry(descriptor: Descriptor, name: string): Record<string, unknown> {
  const entry: Record<string, unknown> = { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size };
  if (descriptor.urls !== undefined) entry.urls = [...descriptor.urls];
  entry.annotations = { ...descriptor.annotations, [REF_NAME]: name };
  if (descriptor.platform !== undefined) {
    const p = descriptor.platform;
    entry.platform = p.variant === undefined ? { architecture: p.architecture, os: p.os } : { architecture: p.architecture, os: p.os, variant: p.variant };
  }
  return entry;
}
