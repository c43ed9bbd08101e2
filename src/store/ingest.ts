// Layer ingestion: the one place that decides how a layer comes to be in the
// store, blob and extracted tree together. The contract is containerd's and
// umoci's for content: idempotent, and a resolved promise means the content is
// stored (on disk, verified, recorded); a rejected one leaves no staging tree
// or temp blob, and no layer record (a blob that verified may stay: it is
// valid content, and the next pull need not fetch it again).
//
//   have blob, have layer      -> nothing to do
//   have layer, no blob        -> fetch the blob only (check and a later re-extraction
//                                 read it), verified on the way
//   have blob, no layer        -> re-extract from the stored blob, hashing it again; if
//                                 that fails and the blob no longer hashes to its name,
//                                 remove it and go on as below
//   neither                    -> one download, teed: into the blob store and the extractor
//
// The caller names the layer and says how to open its bytes at the source
// (`fetch`, called at most once, only when the blob is missing; the stream must
// verify itself and error instead of ending on a mismatch). Store.ingestLayer
// holds the layer's `ingest` lock for the whole decision, so two processes never
// download or extract one layer at once; the blob and the layer have their own
// locks, taken inside it by writeBlob and commit, never one inside the other.

import { pipeline, type Readable } from 'node:stream';
import { isKeelError } from '../errors.ts';
import { OFF_THREAD_MIN_BYTES, extractLayer, extractLayerOffThread, type LayerLimits, type LayerStats } from '../layer/index.ts';
import type { Digest } from '../oci/digest.ts';
import { layerCompression } from '../oci/media-types.ts';
import type { Descriptor } from '../oci/types.ts';
import { VerifyStream } from '../oci/verify.ts';
import { phaseClock } from '../util/phase-clock.ts';
import { tee } from '../util/tee.ts';
import type { KnownContent } from './fingerprint.ts';
import type { LayerRecord } from './layer-record.ts';

export interface LayerIngest {
  /** The layer's blob as the manifest names it: digest, size, media type. */
  readonly descriptor: Descriptor;
  /** The digest of the uncompressed tar (the config's diff_id). */
  readonly diffId: Digest;
  /**
   * Opens the blob at its source, self-verifying (see the header); the source
   * calls `onProgress` as bytes arrive (it keeps waiters for the layer's
   * ingest lock from timing out while the download moves).
   */
  readonly fetch: (onProgress: (bytes: number) => void) => Promise<Readable>;
  readonly signal?: AbortSignal | undefined;
  readonly limits?: Partial<LayerLimits> | undefined;
  /** Extract on an extraction thread (layer/extract-pool.ts); default: when the blob is OFF_THREAD_MIN_BYTES or larger. */
  readonly offThread?: boolean | undefined;
}

export interface IngestResult {
  /** What extracting the layer found, when this call extracted it (undefined: it was already present). */
  readonly extracted?: LayerStats | undefined;
  /** Whether this call downloaded the blob. */
  readonly fetched: boolean;
}

/** What ingestion needs of the store (Store has it all). */
export interface IngestTarget {
  hasBlob(digest: Digest): Promise<boolean>;
  hasLayer(diffId: Digest): Promise<boolean>;
  openBlob(digest: Digest): Readable;
  /** Removes the blob if it does not hash to its name; whether it did. */
  quarantineBlob(digest: Digest): Promise<boolean>;
  writeBlob(expected: { digest: Digest; size?: number | undefined }, source: Readable | (() => Promise<Readable>), options: { sourceVerifies: boolean }): Promise<void>;
  stageLayer(): Promise<LayerStaging>;
}

/**
 * What the extraction reports when a staged layer is committed: the record's
 * own fields (the store adds diffId, treeDigest, committed, format), and the
 * content digests taken while writing (LayerStats.fileDigests), so the
 * fingerprint does not read those files back.
 */
export type LayerCommit = Pick<LayerRecord, 'digest' | 'mediaType' | 'entries' | 'size' | 'implicitDirs' | 'externalLinks' | 'xattrPaths'> & {
  readonly knownContent?: KnownContent | undefined;
};

export interface LayerStaging {
  /** An empty directory under tmp/ to extract the layer into. */
  readonly dir: string;
  /**
   * Fingerprints the tree, makes it durable, renames it to layers/<alg>/<hex>
   * and writes the completion record. If the layer is already committed (by
   * another process), the staging is removed and this succeeds.
   */
  commit(diffId: Digest, record: LayerCommit): Promise<void>;
  /** Removes the staging directory. Idempotent. */
  abort(): Promise<void>;
}


/**
 * Runs the ingestion decision; the caller holds the layer's ingest lock, and
 * `progress` is called as the layer's bytes arrive (lock.ts: waiters for a
 * lock whose holder progresses do not time out).
 */
export async function ingestLayer(store: IngestTarget, request: LayerIngest, progress: () => void = () => undefined): Promise<IngestResult> {
  const { descriptor, diffId, signal } = request;
  const fetch = (): Promise<Readable> => timedFetch(request, progress);
  const haveBlob = await store.hasBlob(descriptor.digest);
  const haveLayer = await store.hasLayer(diffId);
  if (haveBlob && haveLayer) return { fetched: false };
  if (haveLayer) {
    await store.writeBlob(descriptor, fetch, { sourceVerifies: true });
    return { fetched: true };
  }

  const compression = layerCompression(descriptor.mediaType) ?? 'none';
  const options = { compression, diffId, signal, limits: request.limits };
  if (haveBlob) {
    try {
      const stats = await extractStaged(store, request, (dir) => {
        // pipeline, not pipe: an error reading the blob (EIO, removed meanwhile) must reach the extractor
        const stored = pipeline(store.openBlob(descriptor.digest), new VerifyStream({ digest: descriptor.digest, size: descriptor.size, what: `stored layer ${descriptor.digest}` }), () => undefined);
        return extractorFor(request)(stored, dir, options);
      });
      return { extracted: stats, fetched: false };
    } catch (err) {
      // A stored blob that fails to extract may be damaged on disk (the
      // decompressor often notices before the digest does): if it no longer
      // hashes to its name it is removed, and fetched again below.
      if (!mayBeDamage(err)) throw err;
      const removed = await store.quarantineBlob(descriptor.digest);
      if (!removed && (await store.hasBlob(descriptor.digest))) throw err; // the blob is sound: the layer itself is bad
    }
  }
  const stats = await extractStaged(store, request, (dir) => downloadAndExtract(store, fetch, request, dir, options));
  return { extracted: stats, fetched: true };
}

/** Extracts into a fresh staging directory and commits it; on failure nothing is left. */
async function extractStaged(store: IngestTarget, request: LayerIngest, extract: (dir: string) => Promise<LayerStats>): Promise<LayerStats> {
  const staging = await store.stageLayer();
  try {
    const stats = await extract(staging.dir);
    await staging.commit(request.diffId, {
      digest: request.descriptor.digest,
      mediaType: request.descriptor.mediaType,
      entries: stats.entries,
      size: stats.uncompressedBytes,
      implicitDirs: stats.implicitDirs,
      externalLinks: stats.externalLinks,
      knownContent: stats.fileDigests,
      xattrPaths: stats.xattrPaths,
    });
    return stats;
  } catch (err) {
    await staging.abort().catch(() => undefined); // never replaces the real error; tmp/ is reclaimed later
    throw err;
  }
}

/** Failures that say something about the stored bytes (not an interruption, a lock, the disk under the store). */
function mayBeDamage(err: unknown): boolean {
  if (!isKeelError(err)) return false;
  return err.code.startsWith('E_LAYER_') || ABOUT_BYTES.has(err.code);
}

const ABOUT_BYTES = new Set(['E_DIGEST_MISMATCH', 'E_SIZE_MISMATCH', 'E_STORE_CORRUPT', 'E_IMAGE_NOT_FOUND']);

/**
 * One download feeds both the blob store and the extractor. The first failure
 * on either side stops the download, so neither keeps going, and is the one
 * reported: the other side's failure is its consequence (a full disk under the
 * blob store is not a malformed layer).
 */
async function downloadAndExtract(store: IngestTarget, fetch: () => Promise<Readable>, request: LayerIngest, dir: string, options: Parameters<typeof extractLayer>[2]): Promise<LayerStats> {
  const stream = await fetch();
  const [toStore, toExtract] = tee(stream);
  const writing = store.writeBlob(request.descriptor, toStore, { sourceVerifies: true });
  const extracting = extractorFor(request)(toExtract, dir, options);
  let firstFailure: { err: unknown } | undefined;
  const stop = (err: unknown): void => {
    firstFailure ??= { err };
    if (!stream.destroyed) stream.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  writing.catch(stop);
  extracting.catch(stop);
  const [, extracted] = await Promise.allSettled([writing, extracting]);
  if (firstFailure !== undefined) throw firstFailure.err;
  if (extracted.status === 'rejected') throw extracted.reason;
  return extracted.value;
}

/**
 * Where a layer extracts: on an extraction thread when it is large, so the
 * main thread keeps fetching and storing blobs meanwhile (layer/extract-pool.ts).
 */
function extractorFor(request: LayerIngest): typeof extractLayer {
  return (request.offThread ?? request.descriptor.size >= OFF_THREAD_MIN_BYTES) ? extractLayerOffThread : extractLayer;
}

/** Opens the source, timing the fetch phase until its last byte; the source reports progress as bytes arrive. */
async function timedFetch(request: LayerIngest, progress: () => void): Promise<Readable> {
  const mark = phaseClock.now();
  const stream = await request.fetch(progress);
  stream.once('end', () => phaseClock.add('fetch', mark));
  return stream;
}
