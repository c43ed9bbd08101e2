// `keel pull`: resolve a reference at its source, choose the platform, and make
// the store hold the manifest, the config, every layer blob and every layer
// extracted. Each layer is downloaded once and flows, in one pass, both into
// the blob store and through the extractor (Store.ingestLayer decides and does
// that; pull only asks for each layer). Layers are fetched in parallel.

import { availableParallelism } from 'node:os';
import { KeelError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { layerCompression } from '../oci/media-types.ts';
import { parseImageConfig, parseManifestDocument } from '../oci/parse.ts';
import { formatPlatform, hostPlatform, platformMatches } from '../oci/platform.ts';
import { parseReference, storeName } from '../oci/reference.ts';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../oci/types.ts';
import type { Store } from '../store/index.ts';
import { openSource, type ImageSource, type SourceOptions } from '../transport/index.ts';
import { phaseClock } from '../util/phase-clock.ts';
import { mapLimit } from '../util/pool.ts';
import { MAX_MANIFEST_BYTES } from './stored-image.ts';

export interface LayerPlan {
  readonly digest: Digest;
  readonly diffId: Digest;
  readonly size: number;
  readonly cached: boolean;
}

/** What a pull reports as it goes; every callback is optional. */
export interface PullObserver {
  resolved?(image: { name: string; digest: Digest; layers: readonly LayerPlan[] }): void;
  layerProgress?(digest: Digest, bytes: number): void;
  layerDone?(digest: Digest): void;
  /**
   * What extracting a layer skipped (device nodes, extended attributes, file
   * capabilities), one line per layer with counts and an example path. Without
   * this callback the line goes to stderr as `keel: warning: ...`, so a pull
   * run by a unit (at boot, say) puts it in the journal.
   */
  layerWarning?(digest: Digest, message: string): void;
}

export interface PullOptions {
  readonly source: SourceOptions;
  readonly platform?: Platform | undefined;
  readonly observer?: PullObserver | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Layers fetched and extracted at once; default: one more than the cores (at least 3). */
  readonly concurrency?: number | undefined;
}

export interface PullResult {
  /** The store name: `docker.io/library/etcd:3.5`. */
  readonly name: string;
  /** The platform manifest's digest (what the store's ref points at). */
  readonly digest: Digest;
  /** The index digest when the reference named an index. */
  readonly indexDigest?: Digest | undefined;
  readonly platform: Platform;
  readonly layers: readonly LayerPlan[];
}

const INDEX_DIGEST_ANNOTATION = 'io.keel.image.index.digest';


export async function pullImage(store: Store, input: string, options: PullOptions): Promise<PullResult> {
  const ref = parseReference(input);
  const name = storeName(ref);
  const source = openSource(ref, options.source);
  try {
    return await store.withSharedLock(() => pullFrom(store, source, name, options));
  } finally {
    await source.close();
  }
}

/**
 * The platform manifest digest `input` names at its source now, without
 * storing anything: what `keel update --dry-run` compares with the running
 * deployment.
 */
export async function resolveImage(input: string, options: Pick<PullOptions, 'source' | 'platform'>): Promise<{ name: string; digest: Digest }> {
  const ref = parseReference(input);
  const name = storeName(ref);
  const source = openSource(ref, options.source);
  try {
    const wanted = options.platform ?? hostPlatform();
    const top = await source.getManifest();
    const doc = parseManifestDocument(top.bytes, top.mediaType);
    if (doc.kind !== 'index') return { name, digest: top.digest };
    const entry = doc.manifests.find((m) => platformMatches(m.platform, wanted));
    if (!entry) throw new KeelError('E_PLATFORM_NOT_FOUND', `${name} has no image for ${formatPlatform(wanted)}`);
    return { name, digest: entry.digest };
  } finally {
    await source.close();
  }
}

async function pullFrom(store: Store, source: ImageSource, name: string, options: PullOptions): Promise<PullResult> {
  const resolving = phaseClock.now();
  const wanted = options.platform ?? hostPlatform();
  const top = await source.getManifest();
  const topDoc = parseManifestDocument(top.bytes, top.mediaType);

  let manifestBytes = top.bytes;
  let manifestDigest = top.digest;
  let manifestType = top.mediaType;
  let manifest: ImageManifest;
  let indexDigest: Digest | undefined;
  if (topDoc.kind === 'index') {
    indexDigest = top.digest;
    const entry = topDoc.manifests.find((m) => platformMatches(m.platform, wanted));
    if (!entry) {
      const available = topDoc.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : '?')).join(', ');
      throw new KeelError('E_PLATFORM_NOT_FOUND', `${name} has no image for ${formatPlatform(wanted)} (it has: ${available || 'none'})`, {
        hint: 'choose one with --platform os/arch[/variant]',
      });
    }
    const child = await source.getManifest(entry.digest);
    const childDoc = parseManifestDocument(child.bytes, child.mediaType);
    if (childDoc.kind !== 'manifest') throw new KeelError('E_MANIFEST_UNSUPPORTED', `${name}: nested image indexes are not supported`);
    manifest = childDoc;
    manifestBytes = child.bytes;
    manifestDigest = child.digest;
    manifestType = childDoc.mediaType;
  } else {
    manifest = topDoc;
    manifestType = topDoc.mediaType;
  }

  for (const layer of manifest.layers) {
    if (layerCompression(layer.mediaType) === undefined) {
      throw new KeelError('E_LAYER_UNSUPPORTED', `${name}: layer ${layer.digest} has unsupported media type ${layer.mediaType}`);
    }
  }

  const configBytes = await fetchSmallBlob(store, source, manifest.config);
  const config = parseImageConfig(configBytes);
  checkConfig(name, manifest, config, wanted);

  const diffIds = config.rootfs.diff_ids;
  const plans: LayerPlan[] = await Promise.all(
    manifest.layers.map(async (layer, i) => {
      const diffId = diffIds[i] as Digest;
      const cached = (await store.hasBlob(layer.digest)) && (await store.hasLayer(diffId));
      return { digest: layer.digest, diffId, size: layer.size, cached };
    }),
  );
  phaseClock.add('resolve', resolving);
  options.observer?.resolved?.({ name, digest: manifestDigest, layers: plans });

  // One more layer in flight than there are cores: while a layer waits for its
  // data to reach the disk (syncfs at commit), another keeps the CPU busy.
  const concurrency = options.concurrency ?? Math.max(2, availableParallelism()) + 1;
  await mapLimit(
    manifest.layers,
    concurrency,
    async (layer, i, signal) => {
      const plan = plans[i] as LayerPlan;
      if (!plan.cached) {
        const onProgress = (bytes: number): void => options.observer?.layerProgress?.(layer.digest, bytes);
        const { extracted } = await store.ingestLayer({
          descriptor: layer,
          diffId: plan.diffId,
          fetch: (onBytes) =>
            source.openBlob(layer, {
              signal,
              onProgress: (bytes) => {
                onBytes(bytes);
                onProgress(bytes);
              },
            }),
          signal,
        });
        // Once per extracted layer (a cached layer was reported when it was extracted).
        if (extracted && extracted.warnings.length > 0) warnLayer(options.observer, layer.digest, `${name}: layer ${layer.digest}: ${extracted.warnings.join('; ')}`);
      }
      options.observer?.layerDone?.(layer.digest);
    },
    options.signal,
  );

  // The manifest goes in last: a ref never points at an image whose parts are missing.
  await store.putBlob(manifestBytes, { digest: manifestDigest, size: manifestBytes.byteLength });
  const annotations: Record<string, string> = {};
  if (indexDigest) annotations[INDEX_DIGEST_ANNOTATION] = indexDigest;
  await store.setRef(name, {
    mediaType: manifestType,
    digest: manifestDigest,
    size: manifestBytes.byteLength,
    platform: { os: config.os || wanted.os, architecture: config.architecture || wanted.architecture, variant: config.variant },
    annotations,
  });
  return { name, digest: manifestDigest, indexDigest, platform: wanted, layers: plans };
}

function checkConfig(name: string, manifest: ImageManifest, config: ImageConfig, wanted: Platform): void {
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new KeelError('E_MANIFEST_INVALID', `${name}: the config lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
  }
  if (config.os && config.architecture && !platformMatches({ os: config.os, architecture: config.architecture, variant: config.variant }, wanted)) {
    throw new KeelError('E_PLATFORM_NOT_FOUND', `${name} is built for ${formatPlatform(config)}, not ${formatPlatform(wanted)}`, {
      hint: 'pull an image built for this host, or pass --platform to fetch another one deliberately',
    });
  }
}

/** Fetches a config-sized blob (capped in memory) into the store, then reads it back verified. */
async function fetchSmallBlob(store: Store, source: ImageSource, descriptor: Descriptor): Promise<Buffer> {
  if (descriptor.size > MAX_MANIFEST_BYTES) {
    throw new KeelError('E_BODY_TOO_LARGE', `blob ${descriptor.digest} is ${descriptor.size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit for configs`);
  }
  await store.writeBlob(descriptor, () => source.openBlob(descriptor), { sourceVerifies: true });
  return store.readBlob(descriptor.digest, MAX_MANIFEST_BYTES);
}

function warnLayer(observer: PullObserver | undefined, digest: Digest, message: string): void {
  if (observer?.layerWarning) observer.layerWarning(digest, message);
  else process.stderr.write(`keel: warning: ${message}\n`);
}
