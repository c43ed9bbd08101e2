// An ImageSource over an OCI image layout (oci-layout, index.json,
// blobs/<alg>/<hex>) wherever its files live: a directory (oci:) or a tar
// archive (oci-archive:). Picks the index.json entry the reference names and
// serves manifests and blobs by digest, verified.
//
// Invariants: a digest is parsed before it becomes a path; manifests are
// capped at 4 MiB and checked against their digest; blob streams are checked
// against size and digest while they flow.

import type { Readable } from 'node:stream';
import { KeelError, isKeelError } from '../errors.ts';
import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../oci/digest.ts';
import { INDEX_TYPES, MANIFEST_TYPES } from '../oci/media-types.ts';
import { parseManifestDocument } from '../oci/parse.ts';
import type { Descriptor } from '../oci/types.ts';
import type { LayoutFiles } from './layout-files.ts';
import { openRequired, readWhole } from './layout-files.ts';
import type { BlobOptions, FetchedManifest, ImageSource } from './source.ts';
import { MAX_MANIFEST_BYTES } from '../oci/limits.ts';
import { openVerifiedBlob, readVerified, sniffManifestMediaType } from './verified-content.ts';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The blob path for a digest, after validating it. */
export function blobPath(digest: string): string {
  const parsed = parseDigest(digest);
  return `blobs/${digestAlgorithm(parsed)}/${digestHex(parsed)}`;
}

export class OciLayoutImage implements ImageSource {
  readonly name: string;
  readonly #files: LayoutFiles;
  readonly #tag: string | undefined;
  #entry: Promise<Descriptor> | undefined;

  constructor(files: LayoutFiles, tag: string | undefined, name: string) {
    this.#files = files;
    this.#tag = tag;
    this.name = name;
  }

  /** The index.json entry the reference names (read once). */
  entry(): Promise<Descriptor> {
    this.#entry ??= this.#selectEntry();
    return this.#entry;
  }

  async getManifest(digest?: Digest): Promise<FetchedManifest> {
    const entry = await this.entry();
    if (digest === undefined || digest === entry.digest) {
      const bytes = await this.#readManifest(entry.digest, entry.size);
      return Object.freeze({ bytes, mediaType: entry.mediaType, digest: entry.digest });
    }
    const bytes = await this.#readManifest(parseDigest(digest), undefined);
    return Object.freeze({ bytes, mediaType: sniffManifestMediaType(bytes), digest });
  }

  async openBlob(descriptor: Descriptor, options?: BlobOptions): Promise<Readable> {
    await this.entry(); // the layout must be valid before any blob is served
    const path = blobPath(descriptor.digest);
    const file = await openRequired(this.#files, path, `blob ${descriptor.digest}`);
    return openVerifiedBlob(file, descriptor, `blob of ${this.name}`, options);
  }

  async close(): Promise<void> {
    await this.#files.close();
  }

  async #readManifest(digest: Digest, size: number | undefined): Promise<Buffer> {
    const file = await openRequired(this.#files, blobPath(digest), `manifest ${digest}`);
    return readVerified(file, { digest, size, what: `manifest of ${this.name}` });
  }

  async #selectEntry(): Promise<Descriptor> {
    const where = this.#files.where;
    const layoutBytes = await readWhole(await openRequired(this.#files, 'oci-layout', 'the oci-layout file'), 64 * 1024, 'oci-layout');
    let version: unknown;
    try {
      version = (JSON.parse(layoutBytes.toString('utf8')) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch (err) {
      throw invalid(where, 'oci-layout is not valid JSON', err);
    }
    if (typeof version !== 'string' || !/^1\.[0-9]+\.[0-9]+$/.test(version)) {
      throw invalid(where, `unsupported imageLayoutVersion ${JSON.stringify(version)} in oci-layout (keel reads 1.x)`);
    }
    const indexBytes = await readWhole(await openRequired(this.#files, 'index.json', 'the index.json file'), MAX_MANIFEST_BYTES, 'index.json');
    let index;
    try {
      index = parseManifestDocument(indexBytes);
    } catch (err) {
      if (isKeelError(err)) throw invalid(where, `index.json: ${err.message}`, err);
      throw err;
    }
    if (index.kind !== 'index') throw invalid(where, 'index.json is an image manifest, not an index');
    const names = index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter((n): n is string => n !== undefined);
    const available = names.length > 0 ? `available: ${names.join(', ')}` : 'no entry has an org.opencontainers.image.ref.name';
    let chosen: Descriptor | undefined;
    if (this.#tag === undefined) {
      if (index.manifests.length === 0) throw notFound(where, `${where} holds no images`);
      if (index.manifests.length > 1) {
        throw notFound(where, `${where} holds ${index.manifests.length} images; name one with ${where}:NAME (${available})`);
      }
      chosen = index.manifests[0];
    } else {
      const matches = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === this.#tag);
      if (matches.length === 0) throw notFound(where, `${where} has no image named ${JSON.stringify(this.#tag)} (${available})`);
      if (matches.length > 1) throw invalid(where, `index.json has ${matches.length} entries named ${JSON.stringify(this.#tag)}`);
      chosen = matches[0];
    }
    if (chosen === undefined) throw new KeelError('E_INTERNAL', 'no index entry chosen');
    if (!INDEX_TYPES.includes(chosen.mediaType) && !MANIFEST_TYPES.includes(chosen.mediaType)) {
      throw new KeelError('E_MANIFEST_UNSUPPORTED', `${this.name}: index.json entry has unsupported media type ${JSON.stringify(chosen.mediaType)}`);
    }
    return chosen;
  }
}

function invalid(where: string, problem: string, cause?: unknown): KeelError {
  return new KeelError('E_SOURCE_INVALID', `${where}: ${problem}`, {
    ...(cause === undefined ? {} : { cause }),
    detail: { source: where },
  });
}

function notFound(where: string, message: string): KeelError {
  return new KeelError('E_IMAGE_NOT_FOUND', message, { detail: { source: where } });
}
