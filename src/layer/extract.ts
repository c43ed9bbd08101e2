// extractLayer: one layer's (compressed) byte stream -> the layer's own tree in
// a staging directory, treating every byte as hostile.
//
//   input -> decompress -> ratio meter -> VerifyStream(diff_id) -> TarGuard -> tar-stream -> entries
//
// Invariants: every entry path is resolved inside `dir` as if it were `/`
// (resolve.ts), nothing is created or changed through a symlink, keel's own
// header parser (TarGuard) and tar-stream must agree on every entry, and the
// promise settles on every path (tar-stream alone can stall: see tar-guard.ts).
// It resolves only after the tar end, the input end and a matching diff_id
// (the store syncs the tree before it commits the layer). Whiteout markers are
// kept as empty mode-0 files, not applied. Extended attributes are recorded
// per final node and applied after the entries, by one setfattr per layer,
// each path checked again first (xattrs.ts).

import { lstatSync, readdirSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import tarStream from 'tar-stream';
import { KeelError, errnoCode, fsError, isKeelError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import type { Compression } from '../oci/media-types.ts';
import { VerifyStream } from '../oci/verify.ts';
import { RatioMeter, createDecompressor } from './decompress.ts';
import { classifyWhiteout, normaliseEntryPath } from './entry-path.ts';
import { SMALL_FILE, applyDirTimes, clearFinal, createFile, type ContentDigests, type FileDigest, createMarker, makeDirectory, makeFifo, makeHardlink, makeSymlink, writeSmallFile, type NodeMeta } from './fs-ops.ts';
import { phaseClock } from '../util/phase-clock.ts';
import { resolveLimits, type LayerLimits } from './limits.ts';
import { DirResolver, lstatOrNull } from './resolve.ts';
import { TarGuard, type GuardedEntry } from './tar-guard.ts';
import { PAX_XATTR_PREFIX, malformed } from './tar-header.ts';
import { XattrRecords, XattrReport, applyXattrs, filterXattrs, nodeId, type XattrNodeKind } from './xattrs.ts';

export interface ExtractLayerOptions {
  compression: Compression;
  /** The expected digest of the uncompressed tar stream. */
  diffId: Digest;
  limits?: Partial<LayerLimits> | undefined;
  signal?: AbortSignal | undefined;
}

export interface LayerStats {
  diffId: Digest;
  /** Tar entries seen (including skipped device nodes and whiteout markers). */
  entries: number;
  /** Bytes of the uncompressed tar stream. */
  uncompressedBytes: number;
  /** Directories the layer did not list (see implicitDirectories); '' is the root. */
  implicitDirs: readonly string[];
  /**
   * Hardlinks whose target is not in this layer (a lower layer's file), in tar
   * order: not created in the tree, applied by stackLayers once the layer's own
   * entries are in place (docs/layers.md: Hardlinks and layers).
   */
  externalLinks: readonly ExternalLink[];
  /**
   * Paths of the tree (root-relative, `/`-joined, sorted) whose node was given
   * extended attributes, so that stacking in copy mode reads just these
   * (docs/layers.md: Extended attributes). Empty when setfattr is missing.
   */
  xattrPaths: readonly string[];
  warnings: readonly string[];
  /** sha256 and size of every regular file written, by inode (the store's fingerprint uses them instead of reading the files back). */
  fileDigests: ReadonlyMap<bigint, FileDigest>;
}

/** A hardlink to a file of a lower layer: both paths relative to the root, `/`-joined, normalised. */
export interface ExternalLink {
  readonly path: string;
  readonly target: string;
  /**
   * The layer changes the target after the link (replaces it, or whites it
   * out): the link is made before the layer's own changes, to the lower
   * file, as tar order has it (docs/layers.md: Hardlinks and layers).
   */
  readonly early?: true | undefined;
}

const MAX_NAMED = 5;
/**
 * The path components of the targets of a layer's hard links to lower layers,
 * added up: what the early-link bookkeeping keeps in memory (docs/layers.md:
 * Limits). Real images have a few such links; 2,000 links 128 deep fit.
 */
export const MAX_LINK_ANCESTORS = 1 << 18;

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([value]));
  else set.add(value);
}

function remove(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

function interrupted(): KeelError {
  return new KeelError('E_INTERRUPTED', 'layer extraction was interrupted', { hint: 'run the command again' });
}

/** Maps a failure from the stream stages to a KeelError. */
function toKeelError(err: unknown, compression: Compression): KeelError {
  if (isKeelError(err)) return err;
  const code = errnoCode(err);
  if (err instanceof Error && err.name === 'AbortError') return interrupted();
  if (code !== undefined && (code.startsWith('Z_') || code.startsWith('ERR_ZSTD') || code.startsWith('ZSTD_'))) {
    return new KeelError('E_LAYER_MALFORMED', `layer is not valid ${compression} data: ${(err as Error).message}`, { cause: err });
  }
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return fsError('extracting a layer', err);
  const message = err instanceof Error ? err.message : String(err);
  return new KeelError('E_LAYER_MALFORMED', `layer tar is malformed: ${message}`, { cause: err });
}

class LayerWriter {
  readonly root: string;
  readonly limits: LayerLimits;
  readonly dirs: DirResolver;
  entries = 0;
  readonly dirTimes = new Map<string, { mtime: number; atime: number }>();
  /** Directories the layer lists itself ('' = its root entry); all others are implicit. */
  readonly explicitDirs = new Set<string>();
  readonly devices: string[] = [];
  /** Every device node skipped (a hardlink to one is refused, not left to a lower layer). */
  readonly skippedDevices = new Set<string>();
  /** External hardlinks, path -> target, in tar order (settleExternalLinks drops those replaced later). */
  readonly externalLinks = new Map<string, string>();
  /** External links whose target this layer changes after them (see ExternalLink.early). */
  readonly earlyLinks = new Set<string>();
  /** External links not (yet) early, by exact target -> link paths. */
  readonly #byTarget = new Map<string, Set<string>>();
  /** The same links by every proper ancestor of their target ('' = the root) -> link paths. */
  readonly #byAncestor = new Map<string, Set<string>>();
  /** Entries of #byAncestor, bounded by MAX_LINK_ANCESTORS (a hostile layer could make them huge). */
  #ancestorEntries = 0;
  readonly digests: ContentDigests = new Map();
  deviceCount = 0;
  /** Extended attributes for the final node at each path, applied once the entries are written. */
  readonly xattrs = new XattrRecords();
  readonly xattrReport = new XattrReport();

  constructor(root: string, limits: LayerLimits) {
    this.root = root;
    this.limits = limits;
    this.dirs = new DirResolver(root);
  }

  /** Writes one entry; a small file's data comes collected (an array), a large one's as a stream. */
  async write(entry: GuardedEntry, data: AsyncIterable<Uint8Array> | readonly Uint8Array[]): Promise<void> {
    this.entries += 1;
    if (this.entries > this.limits.maxEntries) {
      throw new KeelError('E_LAYER_LIMIT', `layer has more than ${this.limits.maxEntries} entries`, {
        detail: { limit: 'maxEntries', max: this.limits.maxEntries },
        hint: 'the layer is hostile or unusual; raise maxEntries only for an image you trust',
      });
    }
    const comps = normaliseEntryPath(entry.name, this.limits);
    const isFile = entry.kind === 'file' || entry.kind === 'contiguous-file';
    if (comps.length === 0) {
      // the root is always a directory (0755 root:root); its own entry changes nothing
      if (entry.kind !== 'directory') {
        throw new KeelError('E_LAYER_PATH', `layer entry ${JSON.stringify(entry.name)} would replace the root directory with a ${entry.kind}`, {
          hint: 'the image is hostile: the root filesystem must be a directory',
        });
      }
      this.explicitDirs.add('');
      if (entry.pax.size > 0) this.#xattrsFor(entry, '/', 'the root directory keeps its own metadata');
      return;
    }
    for (const part of comps.slice(0, -1)) {
      if (classifyWhiteout(part).kind !== 'none') {
        throw new KeelError('E_LAYER_WHITEOUT', `layer entry ${JSON.stringify(entry.name.slice(0, 200))} has a whiteout name as a directory`, {
          hint: 'whiteout markers are files; the image is hostile or broken',
        });
      }
    }
    const base = comps[comps.length - 1] as string;
    const whiteout = classifyWhiteout(base);
    const rel = comps.join('/');
    const where = `/${rel}`;
    if (this.#byTarget.size > 0 && whiteout.kind === 'none') this.#changedAt(rel, entry.kind === 'directory');
    if ((entry.kind === 'character-device' || entry.kind === 'block-device') && whiteout.kind === 'none') {
      // policy: an image never creates device nodes (the runtime provides /dev); see docs/layers.md
      this.deviceCount += 1;
      this.skippedDevices.add(rel);
      if (this.devices.length < MAX_NAMED) this.devices.push(comps.join('/'));
      return;
    }
    const parent = (await this.dirs.resolve(comps.slice(0, -1), { create: true, entry: entry.name })) as string;
    const hostPath = path.join(parent, base);
    const meta: NodeMeta = { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime };
    const kind = whiteout.kind !== 'none' ? 'a whiteout marker has none' : entry.kind === 'link' ? "a hardlink entry's own are not applied (umoci applies none of its metadata)" : nodeKind(entry);
    const xattrs = entry.pax.size === 0 ? NO_XATTRS : this.#xattrsFor(entry, where, kind);
    // (a layer without attributes, the common case, pays nothing more per entry)
    const hostRel = this.xattrs.size > 0 || xattrs.size > 0 ? path.relative(this.root, hostPath) : '';
    // what was at the path (and below it, unless a directory stays) is replaced: so are its attributes
    if (this.xattrs.size > 0) this.xattrs.drop(hostRel, entry.kind !== 'directory');

    if (whiteout.kind !== 'none') {
      if (!isFile) {
        throw new KeelError('E_LAYER_WHITEOUT', `whiteout ${JSON.stringify(entry.name.slice(0, 200))} is a ${entry.kind}, not a file`, {
          hint: 'whiteout markers are empty regular files (OCI image spec)',
        });
      }
      if (!Array.isArray(data)) await drain(data as AsyncIterable<Uint8Array>);
      await createMarker(hostPath);
      if (this.#byTarget.size > 0) this.#whitedOut(comps.slice(0, -1).join('/'), whiteout.kind === 'opaque' ? undefined : whiteout.target);
      return;
    }

    switch (entry.kind) {
      case 'file':
      case 'contiguous-file':
        if (Array.isArray(data)) await writeSmallFile(hostPath, meta, data as readonly Uint8Array[], this.digests);
        else await createFile(hostPath, meta, data as AsyncIterable<Uint8Array>, this.digests);
        this.#record(hostRel, hostPath, xattrs);
        return;
      case 'directory': {
        await makeDirectory(hostPath, meta);
        const dirRel = path.relative(this.root, hostPath);
        this.dirTimes.set(dirRel, { mtime: entry.mtime, atime: entry.mtime });
        this.explicitDirs.add(dirRel);
        this.#record(hostRel, hostPath, xattrs);
        return;
      }
      case 'symlink': {
        const target = entry.linkname ?? '';
        if (target === '' || target.includes('\0')) throw malformed(`symlink ${JSON.stringify(entry.name.slice(0, 200))} has an empty or NUL-containing target`);
        if (Buffer.byteLength(target) > this.limits.maxPathLength) {
          throw new KeelError('E_LAYER_LIMIT', `symlink ${JSON.stringify(entry.name.slice(0, 200))} has a target longer than ${this.limits.maxPathLength} bytes`);
        }
        await makeSymlink(hostPath, target, meta);
        this.#record(hostRel, hostPath, xattrs);
        return;
      }
      case 'link': {
        const existing = await this.#linkTarget(entry, rel);
        if (typeof existing !== 'string') {
          // a lower layer's file: recorded, applied when stacking; what this layer had at the path is replaced
          await clearFinal(hostPath, false);
          const previous = this.externalLinks.get(rel);
          if (previous !== undefined && !this.earlyLinks.has(rel)) this.#untrack(rel, previous);
          this.externalLinks.delete(rel); // a later link at the same path goes last, in tar order
          this.earlyLinks.delete(rel);
          // a link to a recorded link shares its inode: the lower file that one names
          const chained = this.externalLinks.get(existing.target);
          const target = chained ?? existing.target;
          this.externalLinks.set(rel, target);
          // if the link it names is already early (its target changed since), so is this one
          if (chained !== undefined && this.earlyLinks.has(existing.target)) this.earlyLinks.add(rel);
          else this.#track(rel, target);
          return;
        }
        if (existing === hostPath) throw linkError(entry, 'links to itself');
        await clearFinal(hostPath, false);
        const st = await lstatOrNull(existing);
        if (st === null || !st.isFile()) throw linkError(entry, 'its target was removed by the entry itself');
        await makeHardlink(existing, hostPath);
        // the link shares the target's inode, and so its attributes: recorded for this path too, so
        // that they still land if a later entry replaces the target's path
        const shared = this.xattrs.size > 0 ? this.xattrs.get(path.relative(this.root, existing)) : undefined;
        if (shared !== undefined && shared.ino === st.ino) this.xattrs.set(path.relative(this.root, hostPath), nodeId(st), shared.xattrs);
        return;
      }
      case 'fifo':
        await makeFifo(hostPath, meta);
        this.#record(hostRel, hostPath, xattrs);
        return;
      default:
        throw new KeelError('E_LAYER_UNSUPPORTED', `layer entry ${JSON.stringify(entry.name.slice(0, 200))} has unsupported type ${entry.kind}`);
    }
  }

  /**
   * Once every entry is written, settles the external links against the final
   * tree (in one pass, linear in the number of links). Whatever is at a link's
   * path now came later than the link (the link cleared it), so it replaced the
   * link as in tar: the record is dropped, and so is one whose parent (made
   * when the link was seen) is no longer a directory. (Links whose target a
   * later entry or whiteout changed were marked early as those came.)
   */
  async settleExternalLinks(): Promise<void> {
    for (const [linkPath, target] of [...this.externalLinks]) {
      if ((await this.#existing(linkPath)) !== 'absent') {
        this.externalLinks.delete(linkPath);
        this.earlyLinks.delete(linkPath);
        continue;
      }
    }
  }

  /** Starts watching `target` for a later change (see ExternalLink.early). */
  #track(linkPath: string, target: string): void {
    add(this.#byTarget, target, linkPath);
    const comps = target.split('/');
    this.#ancestorEntries += comps.length;
    if (this.#ancestorEntries > MAX_LINK_ANCESTORS) {
      throw new KeelError('E_LAYER_LIMIT', `layer has too many hard links to lower layers (their targets' path components add up to more than ${MAX_LINK_ANCESTORS})`, {
        detail: { limit: 'maxLinkAncestors', max: MAX_LINK_ANCESTORS },
        hint: 'the layer is hostile or unusual',
      });
    }
    for (let i = 0, p = ''; i < comps.length; p = p === '' ? (comps[i] as string) : `${p}/${comps[i] as string}`, i++) add(this.#byAncestor, p, linkPath);
  }

  #untrack(linkPath: string, target: string): void {
    remove(this.#byTarget, target, linkPath);
    const comps = target.split('/');
    this.#ancestorEntries -= comps.length;
    for (let i = 0, p = ''; i < comps.length; p = p === '' ? (comps[i] as string) : `${p}/${comps[i] as string}`, i++) remove(this.#byAncestor, p, linkPath);
  }

  /** Marks early every watched link whose target is `rel` (exact) and, when `below`, under `rel`; each link once. */
  #changed(rel: string, exact: boolean, below: boolean): void {
    const hit = [...(exact ? (this.#byTarget.get(rel) ?? []) : []), ...(below ? (this.#byAncestor.get(rel) ?? []) : [])];
    for (const linkPath of hit) {
      const target = this.externalLinks.get(linkPath);
      if (target === undefined || this.earlyLinks.has(linkPath)) continue;
      this.earlyLinks.add(linkPath);
      this.#untrack(linkPath, target);
    }
  }

  /**
   * An entry at `rel` came after the links watched so far: one whose target
   * is `rel`, or lies below `rel` when the entry is not a directory, linked the
   * lower file before this layer changed it (tar order), so it is early.
   * Two map lookups; each link is marked at most once.
   */
  #changedAt(rel: string, isDirectory: boolean): void {
    this.#changed(rel, true, !isDirectory);
  }

  /**
   * A whiteout of `name` in `dir` (an opaque marker when `name` is undefined)
   * came after the links watched so far: those whose target it removes link
   * the lower file before the removal, so they are early.
   */
  #whitedOut(dir: string, name: string | undefined): void {
    if (name === undefined) this.#changed(dir, false, true);
    else this.#changed(dir === '' ? name : `${dir}/${name}`, true, true);
  }

  /** Whether something is at `rel` in the tree, or its parent is not a directory (missing, or replaced by a file). */
  async #existing(rel: string): Promise<'absent' | 'present' | 'no-parent'> {
    const comps = rel.split('/');
    const parent = await this.dirs.resolve(comps.slice(0, -1), { create: false, entry: rel });
    if (parent === null) return 'no-parent';
    return (await lstatOrNull(path.join(parent, comps[comps.length - 1] as string))) === null ? 'absent' : 'present';
  }

  /**
   * Resolves a hardlink's target inside the root. A regular file already in
   * this layer: its host path. A clean path with nothing in this layer: an
   * external link to a lower layer's file (checked when stacking). Anything
   * else is refused.
   */
  async #linkTarget(entry: GuardedEntry, rel: string): Promise<string | { target: string }> {
    const raw = entry.linkname ?? '';
    if (raw === '') throw linkError(entry, 'has no target');
    let comps: string[];
    try {
      comps = normaliseEntryPath(raw, this.limits, 'hardlink target');
    } catch (err) {
      if (isKeelError(err, 'E_LAYER_PATH')) throw linkError(entry, 'points above the root');
      throw err;
    }
    const base = comps[comps.length - 1];
    if (base === undefined) throw linkError(entry, 'points at the root directory');
    if (classifyWhiteout(base).kind !== 'none') throw linkError(entry, 'points at a whiteout marker');
    const parent = await this.dirs.resolve(comps.slice(0, -1), { create: false, entry: raw });
    const target = parent === null ? null : path.join(parent, base);
    const st = target === null ? null : await lstatOrNull(target);
    if (target === null || st === null) {
      const targetRel = comps.join('/');
      if (targetRel === rel) throw linkError(entry, 'links to itself');
      if (this.skippedDevices.has(targetRel)) throw linkError(entry, 'points at a device node, which keel does not create');
      return { target: targetRel };
    }
    if (!st.isFile()) throw linkError(entry, 'points at something that is not a regular file');
    return target;
  }

  /**
   * The attributes keel applies for `entry` on a node of `kind` (a string:
   * why none apply there); every other one is counted as ignored, with the
   * reason. Only `SCHILY.xattr.*` records of the entry's own PAX header count,
   * as in Go's tar and so in umoci; libarchive's encoding and global ones do not.
   */
  #xattrsFor(entry: GuardedEntry, where: string, kind: XattrNodeKind | string): ReadonlyMap<string, Buffer> {
    for (const key of entry.pax.keys()) {
      if (key.startsWith('LIBARCHIVE.xattr.')) this.xattrReport.noteIgnored(where, key, 'libarchive encoding (umoci reads only SCHILY.xattr.*)');
      else if (key.startsWith(PAX_XATTR_PREFIX) && !entry.xattrs.has(key.slice(PAX_XATTR_PREFIX.length))) {
        this.xattrReport.noteIgnored(where, key.slice(PAX_XATTR_PREFIX.length), 'set by a global PAX header');
      }
    }
    if (entry.xattrs.size === 0) return NO_XATTRS;
    if (kind !== 'file' && kind !== 'directory' && kind !== 'symlink' && kind !== 'fifo') {
      for (const name of entry.xattrs.keys()) this.xattrReport.noteIgnored(where, name, kind);
      return NO_XATTRS;
    }
    const { apply, ignored } = filterXattrs(entry.xattrs, kind);
    for (const [name, why] of ignored) this.xattrReport.noteIgnored(where, name, why);
    return apply;
  }

  #record(hostRel: string, hostPath: string, xattrs: ReadonlyMap<string, Buffer>): void {
    if (xattrs.size > 0) this.xattrs.set(hostRel, nodeId(lstatSync(hostPath)), xattrs);
  }

  /** Applies the recorded attributes (one setfattr per layer); returns the paths given them. */
  async applyXattrs(): Promise<string[]> {
    if (this.xattrs.size === 0) return [];
    const records = [...this.xattrs.entries()];
    const result = await applyXattrs(this.root, records);
    this.xattrReport.noteApply(result, records, (rel) => `/${rel}`);
    return result.missing ? [] : result.applied.sort();
  }

  /** What was skipped, one line per kind, each with its count and one example path (docs/layers.md). */
  warnings(): string[] {
    const out: string[] = [];
    if (this.deviceCount > 0) {
      out.push(`skipped ${this.deviceCount} device node${this.deviceCount === 1 ? '' : 's'} (the runtime provides /dev), e.g. /${this.devices[0] ?? ''}`);
    }
    out.push(...this.xattrReport.warnings());
    return out;
  }
}

/** The node an entry makes, for the attribute policy (xattrs.ts). */
function nodeKind(entry: GuardedEntry): XattrNodeKind | string {
  switch (entry.kind) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
    case 'symlink':
    case 'fifo':
      return entry.kind;
    default:
      return `a ${entry.kind} gets none`;
  }
}

function linkError(entry: GuardedEntry, why: string): KeelError {
  return new KeelError('E_LAYER_LINK', `hardlink ${JSON.stringify(entry.name.slice(0, 200))} -> ${JSON.stringify((entry.linkname ?? '').slice(0, 200))} ${why}`, {
    hint: 'a hardlink must point at a regular file inside the root (earlier in the same layer, or in a lower layer)',
  });
}

/** The chunks of a small entry's data (tar-stream delivers exactly the header's size; more is refused). */
async function collect(data: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of data) {
    bytes += chunk.byteLength;
    if (bytes > size) throw malformed(`entry data runs past its size (${size})`);
    chunks.push(chunk);
  }
  return chunks;
}

async function drain(data: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of data) {
    // discarded
  }
}

type TarHeader = tarStream.Header;

function sameEntry(header: TarHeader, entry: GuardedEntry): boolean {
  return (
    header.type === entry.kind &&
    header.name === entry.name &&
    (header.linkname ?? null) === entry.linkname &&
    header.size === entry.size
  );
}

/**
 * Extracts ONE layer's (compressed) byte stream into `dir` — an existing,
 * empty staging directory the caller owns — as the layer's own tree: whiteout
 * markers (`.wh.NAME`, `.wh..wh..opq`) are validated and kept as empty regular
 * files (mode 0), not applied (stackLayers applies them). Resolves only after
 * the tar end was reached, the input ended and the diff_id matched. Making the
 * tree durable is the store's job when it commits the layer (one syncfs for
 * the whole tree, not an fsync per file). Rejects with a KeelError otherwise
 * (E_LAYER_*, E_DIGEST_MISMATCH, E_INTERRUPTED, and the filesystem's own codes:
 * E_DISK_FULL, E_READ_ONLY_FS, E_PERMISSION, E_STORE_IO); the
 * caller then deletes `dir`. docs/layers.md has the policy.
 */
export async function extractLayer(input: Readable, dir: string, options: ExtractLayerOptions): Promise<LayerStats> {
  const limits = resolveLimits(options.limits);
  const root = path.resolve(dir);
  let rootStat;
  try {
    rootStat = await lstat(root);
  } catch (err) {
    input.destroy();
    throw fsError(`opening the staging directory ${root}`, err);
  }
  if (!rootStat.isDirectory()) {
    input.destroy();
    throw new KeelError('E_INTERNAL', `staging directory ${root} is not a directory`);
  }
  if (options.signal?.aborted) {
    input.destroy();
    throw interrupted();
  }

  const decompressor = createDecompressor(options.compression);
  const meter = new RatioMeter(decompressor.consumed, limits.maxRatio);
  const verify = new VerifyStream({ digest: options.diffId, what: `layer ${options.diffId}` });
  const guard = new TarGuard(limits.maxPaxHeaderSize);
  const extract = tarStream.extract();
  const writer = new LayerWriter(root, limits);
  let xattrPaths: string[] = [];

  let failure: KeelError | null = null;
  const fail = (err: unknown): KeelError => {
    failure ??= toKeelError(err, options.compression);
    return failure;
  };
  let current: Promise<void> = Promise.resolve();
  let source: TarGuard | undefined;

  const extractDone = new Promise<void>((resolve, reject) => {
    let finished = false;
    extract.on('finish', () => {
      finished = true;
      resolve();
    });
    extract.on('error', (err: unknown) => reject(fail(err)));
    extract.on('close', () => {
      if (finished) return;
      // Ending the iteration of an entry's data (a write failed: ENOSPC,
      // EROFS, EIO) destroys tar-stream's whole extract without an error, so
      // 'close' comes before that entry's failure is recorded: wait for the
      // entry to settle, so a full disk is reported as such, not as a
      // malformed layer (issue 9).
      void current.then(
        () => undefined,
        () => undefined,
      ).then(() => reject(failure ?? malformed('the tar parser stopped early')));
    });
  });
  extractDone.catch(() => undefined);
  let drainWaiter: (() => void) | null = null;
  extract.on('drain', () => {
    const w = drainWaiter;
    drainWaiter = null;
    w?.();
  });

  extract.on('entry', (header, stream, next) => {
    stream.on('error', () => undefined);
    const data = stream as unknown as AsyncIterable<Uint8Array>;
    const entry = guard.entries.shift();
    current = (async () => {
      if (failure !== null) throw failure;
      if (options.signal?.aborted) throw interrupted();
      if (entry === undefined || !sameEntry(header, entry)) {
        throw malformed(`tar parsers disagree about entry ${JSON.stringify(String(header.name).slice(0, 200))}`);
      }
      const isFile = entry.kind === 'file' || entry.kind === 'contiguous-file';
      if (!isFile && (header.size ?? 0) > 0) throw malformed(`${entry.kind} entry has a size`); // see tar-guard.ts
      // A small file's bytes are collected first (they are in memory anyway),
      // so what is timed as `extract` is keel's own work, not waiting for data;
      // a large file is streamed, its writes run on libuv's pool.
      const streamed = isFile && entry.size > SMALL_FILE;
      const body = streamed ? data : isFile && entry.size > 0 ? await collect(data, entry.size) : [];
      const mark = streamed ? 0n : phaseClock.now();
      await writer.write(entry, body);
      phaseClock.add('extract', mark);
      if (isFile && entry.size > 0) stream.resume();
    })().then(
      () => next(),
      (err: unknown) => {
        const e = fail(err);
        extract.destroy(e);
        // and the input at once: waiting for its next chunk could wait for a stalled registry
        source?.destroy(e);
      },
    );
  });

  const onAbort = (): void => {
    const e = fail(interrupted());
    guard.destroy(e);
    extract.destroy(e);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  source = pipeline(input, decompressor.stream, meter, verify, guard, () => undefined) as TarGuard;
  try {
    // 'data' events, not `for await`: the async iterator reads whatever is
    // buffered as one chunk, copying every buffered chunk into a new buffer
    // (~70-120 ms per 100 MB in profiles); events hand each chunk on as it is.
    const fed = finished(source, { writable: false });
    source.on('data', (chunk: Buffer) => {
      if (failure !== null) return void source.destroy(failure);
      if (extract.write(chunk)) return;
      source.pause();
      Promise.race([new Promise<void>((resolve) => (drainWaiter = resolve)), extractDone]).then(
        () => source.resume(),
        (err: unknown) => source.destroy(fail(err)),
      );
    });
    await fed;
    if (failure !== null) throw failure;
    extract.end(undefined);
    await extractDone;
    await current;
    if (failure !== null) throw failure;
    if (guard.entries.length > 0) throw malformed('tar-stream skipped entries keel parsed');
    await writer.settleExternalLinks();
    xattrPaths = await writer.applyXattrs();
    await applyDirTimes(root, writer.dirTimes);
  } catch (err) {
    const e = fail(err);
    source.destroy(e);
    extract.destroy(e);
    await current.catch(() => undefined);
    throw e;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return {
    diffId: options.diffId,
    implicitDirs: Object.freeze(await implicitDirectories(root, writer.explicitDirs)),
    externalLinks: Object.freeze([...writer.externalLinks].map(([p, target]) => Object.freeze(writer.earlyLinks.has(p) ? { path: p, target, early: true as const } : { path: p, target }))),
    xattrPaths: Object.freeze(xattrPaths),
    entries: writer.entries,
    uncompressedBytes: verify.bytes,
    warnings: Object.freeze(writer.warnings()),
    fileDigests: writer.digests,
  };
}

/**
 * The directories of an extracted tree that the layer did not list: parents
 * created on the way to an entry ('' stands for the root). Stacking must walk
 * through these as a tar would (following a lower layer's symlink, keeping a
 * lower layer's metadata) rather than apply them as entries.
 */
async function implicitDirectories(root: string, explicit: ReadonlySet<string>): Promise<string[]> {
  const implicit: string[] = explicit.has('') ? [] : [''];
  const pending = [''];
  while (pending.length > 0) {
    const rel = pending.pop() as string;
    let dirents;
    try {
      dirents = readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch (err) {
      throw fsError(`listing ${path.join(root, rel)}`, err);
    }
    for (const d of dirents) {
      if (!d.isDirectory()) continue;
      const child = rel === '' ? d.name : `${rel}/${d.name}`;
      if (!explicit.has(child)) implicit.push(child);
      pending.push(child);
    }
  }
  return implicit.sort();
}
