// `docker-archive:FILE` — `docker save` output (and skopeo's docker-archive:),
// read in place. The archive has no manifest of the registry kind, so one is
// synthesised in memory: an OCI image manifest whose config is the archive's
// config file and whose layers are the archive's layer files, in order.
//
// Digests, as containers/image computes them: the config's is the sha256 of
// its bytes; an uncompressed layer's is its diff_id (the two are the same by
// definition); a layer stored as blobs/sha256/<hex> (Docker 25+) is named by
// its digest; any other layer (compressed, legacy name) is hashed once while
// the source opens. Every blob stream is verified, so a digest taken from a
// name or a diff_id is checked the moment the blob is read.

import type { Readable } from 'node:stream';
import { KeelError, isKeelError } from '../errors.ts';
import { Digester, digestOf, type Digest } from '../oci/digest.ts';
import { MediaType } from '../oci/media-types.ts';
import { parseImageConfig } from '../oci/parse.ts';
import { formatReference, type LocalReference } from '../oci/reference.ts';
import type { Descriptor } from '../oci/types.ts';
import { ArchiveFiles } from './archive-files.ts';
import { openRequired, readWhole } from './layout-files.ts';
import type { BlobOptions, FetchedManifest, ImageSource } from './source.ts';
import { normalizeEntryName } from './tar-index.ts';
import { MAX_MANIFEST_BYTES } from '../oci/limits.ts';
import { openVerifiedBlob } from './verified-content.ts';

interface ArchiveImage {
  readonly manifest: FetchedManifest;
  /** digest -> archive path of the blob. */
  readonly blobs: ReadonlyMap<string, string>;
}

interface SaveEntry {
  readonly config: string;
  readonly repoTags: readonly string[];
  readonly layers: readonly string[];
}

export function openDockerArchiveSource(ref: LocalReference): ImageSource {
  return new DockerArchiveSource(ref);
}

class DockerArchiveSource implements ImageSource {
  readonly name: string;
  readonly #ref: LocalReference;
  readonly #files: ArchiveFiles;
  #image: Promise<ArchiveImage> | undefined;

  constructor(ref: LocalReference) {
    this.#ref = ref;
    this.name = formatReference(ref);
    this.#files = new ArchiveFiles(ref.path, `docker-archive:${ref.path}`);
  }

  async getManifest(digest?: Digest): Promise<FetchedManifest> {
    const image = await this.#load();
    if (digest !== undefined && digest !== image.manifest.digest) {
      throw new KeelError('E_IMAGE_NOT_FOUND', `${this.name} has no manifest ${digest} (its synthesised manifest is ${image.manifest.digest})`, {
        detail: { digest },
      });
    }
    return image.manifest;
  }

  async openBlob(descriptor: Descriptor, options?: BlobOptions): Promise<Readable> {
    const image = await this.#load();
    const path = image.blobs.get(descriptor.digest);
    if (path === undefined) {
      throw new KeelError('E_IMAGE_NOT_FOUND', `${this.name} has no blob ${descriptor.digest}`, { detail: { digest: descriptor.digest } });
    }
    const file = await openRequired(this.#files, path, `blob ${descriptor.digest}`);
    return openVerifiedBlob(file, descriptor, `blob of ${this.name}`, options);
  }

  async close(): Promise<void> {
    await this.#files.close();
  }

  #load(): Promise<ArchiveImage> {
    this.#image ??= this.#synthesise();
    return this.#image;
  }

  async #synthesise(): Promise<ArchiveImage> {
    const files = this.#files;
    const where = files.where;
    const manifestFile = await files.open('manifest.json');
    if (manifestFile === undefined) {
      const oci = await files.has('oci-layout');
      throw new KeelError('E_SOURCE_INVALID', `${where}: no manifest.json; this is not docker save output`, {
        detail: { path: files.file },
        ...(oci ? { hint: `this is an OCI archive: use oci-archive:${files.file}` } : {}),
      });
    }
    const entries = parseSaveManifest(await readWhole(manifestFile, MAX_MANIFEST_BYTES, 'manifest.json'), where);
    const entry = this.#choose(entries, where);

    const configPath = archivePath(entry.config, where, 'Config');
    const configBytes = await readWhole(await requiredIn(files, configPath, 'the image config'), MAX_MANIFEST_BYTES, `${where} config`);
    let diffIds: readonly Digest[];
    try {
      diffIds = parseImageConfig(configBytes).rootfs.diff_ids;
    } catch (err) {
      if (isKeelError(err)) throw invalid(where, `config ${configPath}: ${err.message}`, err);
      throw err;
    }
    if (diffIds.length !== entry.layers.length) {
      throw invalid(where, `the config lists ${diffIds.length} diff_ids but manifest.json lists ${entry.layers.length} layers`);
    }
    const config: Descriptor = { mediaType: MediaType.OCI_CONFIG, digest: digestOf(configBytes), size: configBytes.byteLength };
    const blobs = new Map<string, string>([[config.digest, configPath]]);

    const layers: Descriptor[] = [];
    for (const [i, raw] of entry.layers.entries()) {
      const path = archivePath(raw, where, `Layers[${i}]`);
      const file = await requiredIn(files, path, `layer ${i}`);
      const size = file.size;
      await file.discard();
      const head = await files.head(path, 6);
      const compression = sniffCompression(head);
      const mediaType = compression === 'gzip' ? MediaType.OCI_LAYER_GZIP : compression === 'zstd' ? MediaType.OCI_LAYER_ZSTD : MediaType.OCI_LAYER_TAR;
      const named = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(path)?.[1];
      let digest: Digest;
      if (named !== undefined) digest = `sha256:${named}` as Digest;
      else if (compression === 'none') digest = diffIds[i] as Digest;
      else digest = await hashFile(files, path);
      layers.push({ mediaType, digest, size });
      // Two files claiming one digest: keep the first; the stream verifies whichever is served.
      if (!blobs.has(digest)) blobs.set(digest, path);
    }

    const document = {
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const bytes = Buffer.from(JSON.stringify(document), 'utf8');
    const manifest: FetchedManifest = Object.freeze({ bytes, mediaType: MediaType.OCI_MANIFEST, digest: digestOf(bytes) });
    return Object.freeze({ manifest, blobs });
  }

  #choose(entries: readonly SaveEntry[], where: string): SaveEntry {
    const tag = this.#ref.tag;
    if (entries.length === 0) throw invalid(where, 'manifest.json lists no images');
    const tags = entries.flatMap((e) => e.repoTags);
    if (tag !== undefined) {
      const match = entries.find((e) => e.repoTags.includes(tag));
      if (match === undefined) {
        throw new KeelError('E_IMAGE_NOT_FOUND', `${where} has no image tagged ${JSON.stringify(tag)} (available: ${tags.join(', ') || 'none'})`, {
          detail: { source: where, repoTags: tags },
        });
      }
      return match;
    }
    if (entries.length > 1) {
      throw new KeelError('E_IMAGE_NOT_FOUND', `${where} holds ${entries.length} images (${tags.join(', ') || 'untagged'}); keel reads archives of one image`, {
        detail: { source: where, repoTags: tags },
        hint: 'save one image per archive (docker save IMAGE -o FILE), or copy the one you want with skopeo copy docker-archive:FILE:TAG oci:DIR:TAG and use oci:DIR:TAG',
      });
    }
    return entries[0] as SaveEntry;
  }
}

function parseSaveManifest(bytes: Buffer, where: string): SaveEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(where, 'manifest.json is not valid JSON', err);
  }
  if (!Array.isArray(doc)) throw invalid(where, 'manifest.json must be a JSON array');
  if (doc.length > 1024) throw invalid(where, 'manifest.json lists more than 1024 images');
  return doc.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw invalid(where, `manifest.json entry ${i} is not an object`);
    const o = e as Record<string, unknown>;
    const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
    if (typeof o.Config !== 'string') throw invalid(where, `manifest.json entry ${i} has no Config`);
    if (!strings(o.Layers)) throw invalid(where, `manifest.json entry ${i} has no Layers array of strings`);
    if (o.Layers.length > 4096) throw invalid(where, `manifest.json entry ${i} lists more than 4096 layers`);
    if (o.RepoTags !== undefined && o.RepoTags !== null && !strings(o.RepoTags)) throw invalid(where, `manifest.json entry ${i}: RepoTags must be strings`);
    return { config: o.Config, repoTags: strings(o.RepoTags) ? o.RepoTags : [], layers: o.Layers };
  });
}

/** A path named by manifest.json, normalised like archive entry names (no absolute, no ..). */
function archivePath(raw: string, where: string, field: string): string {
  let path: string | undefined;
  try {
    path = normalizeEntryName(raw, where);
  } catch (err) {
    throw invalid(where, `manifest.json ${field} ${JSON.stringify(raw.slice(0, 200))} is not a safe path inside the archive`, err);
  }
  if (path === undefined) throw invalid(where, `manifest.json ${field} is empty`);
  return path;
}

async function requiredIn(files: ArchiveFiles, path: string, what: string) {
  const file = await files.open(path);
  if (file === undefined) throw invalid(files.where, `manifest.json names ${path} as ${what}, but the archive has no such file`);
  return file;
}

function sniffCompression(head: Buffer): 'none' | 'gzip' | 'zstd' {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return 'none';
}

async function hashFile(files: ArchiveFiles, path: string): Promise<Digest> {
  const file = await requiredIn(files, path, 'a layer');
  const digester = new Digester('sha256');
  for await (const chunk of file.stream()) digester.update(chunk as Buffer);
  return digester.digest();
}

function invalid(where: string, problem: string, cause?: unknown): KeelError {
  return new KeelError('E_SOURCE_INVALID', `${where}: ${problem}`, {
    ...(cause === undefined ? {} : { cause }),
    detail: { source: where },
  });
}
