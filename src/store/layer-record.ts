// The completion record of an extracted layer, layers/<alg>/<hex>.json. It is
// written last (atomically), after the tree is durable, so its presence is
// the proof that extraction completed and both digests matched; `treeDigest`
// (fingerprint.ts) lets `check` verify the tree later.

import { errnoCode, fsError, isKeelError } from '../errors.ts';
import { isDigest, type Digest } from '../oci/digest.ts';
import { readRegularFile } from './regular-file.ts';

/** The format of the records this keel writes; a record without `format` is format 1. */
export const LAYER_RECORD_FORMAT = 3;
/**
 * The format a record is written in: 3 when an external link is `early` (a
 * keel that reads only format 2 would make it after the layer's changes and
 * refuse it, or link the new file), 2 when it has externalLinks (a keel that
 * reads only format 1 would build trees without those links), else 1, which
 * every keel since formats reads. An older keel takes a newer record as absent.
 */
export function layerRecordFormat(links: readonly { readonly path: string; readonly early?: true | undefined }[]): number {
  if (links.some((l) => l.early === true)) return 3;
  return links.length > 0 ? 2 : 1;
}

export interface LayerRecord {
  /** LAYER_RECORD_FORMAT (absent in records written before it was recorded: format 1). */
  readonly format?: number | undefined;
  /** The uncompressed digest (diff_id) the directory is named by. */
  readonly diffId: Digest;
  /** The digest of the (compressed) layer blob it was extracted from. */
  readonly digest: Digest;
  readonly mediaType: string;
  /** Number of tar entries applied. */
  readonly entries: number;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** fingerprintTree of the directory at commit time. */
  readonly treeDigest: Digest;
  /** ISO time of the commit. */
  readonly committed: string;
  /**
   * Directories of the tree that the layer did not list (parents the
   * extractor had to create), as `/`-joined relative paths; '' is the root.
   * Stacking walks through them like a tar would instead of applying them.
   */
  readonly implicitDirs?: readonly string[] | undefined;
  /**
   * Hardlinks of the layer to files of lower layers, in tar order, not in the
   * tree: stacking makes them after the layer's entries (docs/layers.md).
   * Absent: none.
   */
  readonly externalLinks?: readonly { readonly path: string; readonly target: string; readonly early?: true | undefined }[] | undefined;
  /**
   * The paths of the tree that carry extended attributes (LayerStats.xattrPaths),
   * so a copy of the layer copies just those. Absent (a record of a keel
   * before attributes were applied): unknown, a copy looks at every path.
   */
  readonly xattrPaths?: readonly string[] | undefined;
}

export type RecordRead = { readonly state: 'missing' } | { readonly state: 'invalid'; readonly why: string } | { readonly state: 'ok'; readonly record: LayerRecord };

export async function readLayerRecord(path: string): Promise<RecordRead> {
  let text: string;
  try {
    text = (await readRegularFile(path)).toString('utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { state: 'missing' };
    if (isKeelError(err, 'E_STORE_CORRUPT')) return { state: 'invalid', why: err.message };
    throw fsError(`reading layer record ${path}`, err);
  }
  let v: Partial<Record<keyof LayerRecord, unknown>>;
  try {
    v = JSON.parse(text) as typeof v;
  } catch {
    return { state: 'invalid', why: 'not valid JSON' };
  }
  if (typeof v !== 'object' || v === null) return { state: 'invalid', why: 'not a JSON object' };
  if (v.format !== undefined && (typeof v.format !== 'number' || !Number.isInteger(v.format) || v.format < 1 || v.format > LAYER_RECORD_FORMAT)) {
    return { state: 'invalid', why: `record format ${JSON.stringify(v.format)} is not one this keel reads (1 to ${LAYER_RECORD_FORMAT})` };
  }
  if (!isDigest(v.diffId) || !isDigest(v.digest) || !isDigest(v.treeDigest)) return { state: 'invalid', why: 'diffId, digest or treeDigest is missing or malformed' };
  if (typeof v.mediaType !== 'string' || typeof v.entries !== 'number' || typeof v.size !== 'number') {
    return { state: 'invalid', why: 'mediaType, entries or size is missing' };
  }
  if (v.implicitDirs !== undefined && (!Array.isArray(v.implicitDirs) || !v.implicitDirs.every((d) => typeof d === 'string'))) {
    return { state: 'invalid', why: 'implicitDirs is not a list of paths' };
  }
  if (
    v.externalLinks !== undefined &&
    (!Array.isArray(v.externalLinks) ||
      !v.externalLinks.every(
        (l: unknown) =>
          typeof l === 'object' && l !== null && typeof (l as { path?: unknown }).path === 'string' && typeof (l as { target?: unknown }).target === 'string' &&
          [undefined, true].includes((l as { early?: unknown }).early as undefined),
      ))
  ) {
    return { state: 'invalid', why: 'externalLinks is not a list of {path, target, early?: true}' };
  }
  if (v.xattrPaths !== undefined && (!Array.isArray(v.xattrPaths) || !v.xattrPaths.every((d) => typeof d === 'string'))) {
    return { state: 'invalid', why: 'xattrPaths is not a list of paths' };
  }
  return { state: 'ok', record: v as unknown as LayerRecord };
}
