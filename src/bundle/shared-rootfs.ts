// The per-image shared rootfs: a tree of hard links into the store's
// extracted layers (layer/stack in 'hardlink' mode), one per image manifest,
// reused by every container of that image:
//
//   <root>/rootfs/sha256/<manifest-hex>/rootfs/          the tree (root.path of read-only containers,
//                                                         lowerdir of writable ones)
//   <root>/rootfs/sha256/<manifest-hex>/keel-rootfs.json its record
//
// Built in a staging of <root>/rootfs/ (layout/staging.ts: named for its
// owner process; tree and record together) and renamed into place in one
// rename(2): a tree is either absent or complete, and two processes building
// the same one race harmlessly (the loser removes its copy). Stagings whose
// owner is gone are removed by the next build and by keel prune.
// Invariants: the tree's regular files are the store's inodes, so nothing may
// ever write through it: containers see it read-only (or under an overlay) and
// keel only adds empty mount points to it.

import type { StackLayer } from '../layer/index.ts';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import { digestAlgorithm, digestHex, parseDigest, type Digest } from '../oci/digest.ts';
import { stackLayers } from '../layer/index.ts';
import { ROOTFS_RECORD, rootPaths } from '../layout/paths.ts';
import { reclaimStagings, stagingPath } from '../layout/staging.ts';
import { fsyncDir, readIfExists, syncFilesystem } from './fs-util.ts';
import { BUNDLE_FORMAT } from './renderer-version.ts';

export { ROOTFS_RECORD };

export interface SharedRootfsRecord {
  readonly format: number;
  readonly manifest: Digest;
  readonly diffIds: readonly Digest[];
  readonly entries: number;
  readonly bytes: number;
  /** StackLayer.extraction of each layer it was built from (absent in trees built before it was recorded). */
  readonly extractions?: readonly string[] | undefined;
}

export interface SharedRootfs {
  /** The tree itself (…/<hex>/rootfs). */
  readonly dir: string;
  readonly record: SharedRootfsRecord;
  /** True when this call built it. */
  readonly created: boolean;
}

export function sharedRootfsBase(root: string): string {
  return rootPaths(root).rootfsRoot;
}

/** The directory holding one image's tree and record. */
export function sharedRootfsHome(root: string, manifest: Digest): string {
  return rootPaths(root).rootfsHome(manifest);
}

export function sharedRootfsDir(root: string, manifest: Digest): string {
  return rootPaths(root).rootfsTree(manifest);
}

export async function readSharedRootfsRecord(root: string, manifest: Digest): Promise<SharedRootfsRecord | undefined> {
  const bytes = await readIfExists(rootPaths(root).rootfsRecord(manifest));
  if (bytes === undefined) return undefined;
  try {
    const r = JSON.parse(bytes.toString('utf8')) as SharedRootfsRecord;
    if (r.format === BUNDLE_FORMAT && r.manifest === manifest && Array.isArray(r.diffIds)) return r;
  } catch {
    // fall through: treated as absent and rebuilt
  }
  return undefined;
}

/**
 * Returns the image's shared tree, building it from `layers` (bottom
 * first, diff_ids in `diffIds`) if it is not there yet. Idempotent.
 */
export async function ensureSharedRootfs(
  root: string, manifest: Digest, diffIds: readonly Digest[], layers: readonly StackLayer[], options: { signal?: AbortSignal | undefined } = {},
): Promise<SharedRootfs> {
  // Containers of one image rendered at once in this process build its tree once.
  const home = sharedRootfsHome(root, manifest);
  let building = inFlight.get(home);
  if (building === undefined) {
    building = buildSharedRootfs(root, manifest, diffIds, layers, options).finally(() => inFlight.delete(home));
    inFlight.set(home, building);
  }
  return building;
}

const inFlight = new Map<string, Promise<SharedRootfs>>();

async function buildSharedRootfs(
  root: string, manifest: Digest, diffIds: readonly Digest[], layers: readonly StackLayer[], options: { signal?: AbortSignal | undefined },
): Promise<SharedRootfs> {
  const home = sharedRootfsHome(root, manifest);
  const base = sharedRootfsBase(root);
  const extractions = layers.map((l) => l.extraction ?? '');
  const existing = await readSharedRootfsRecord(root, manifest);
  if (existing !== undefined) {
    if (builtFrom(existing, extractions)) return { dir: path.join(home, 'rootfs'), record: existing, created: false };
    // A layer was set aside as damaged and extracted again: the tree's hard links are the damaged
    // inodes. Retire it (one rename; containers running on it keep it) and build a new one.
    await retireSharedRootfs(root, manifest);
  }

  const parent = path.dirname(home);
  try {
    await fs.mkdir(parent, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fsError(`creating ${parent}`, err);
  }
  await reclaimStagings(base);
  const staging = stagingPath(base, 'staging');
  try {
    await fs.mkdir(staging, { mode: 0o700 });
    const stats = await stackLayers(layers, path.join(staging, 'rootfs'), { mode: 'hardlink', signal: options.signal });
    // To stderr, so a bundle built at boot puts it in the journal.
    for (const w of stats.warnings) process.stderr.write(`keel: warning: ${manifest}: ${w}\n`);
    const record: SharedRootfsRecord = {
      format: BUNDLE_FORMAT, manifest, diffIds: [...diffIds], entries: stats.entries, bytes: stats.bytes,
      ...(extractions.some((e) => e !== '') ? { extractions } : {}),
    };
    await fs.writeFile(path.join(staging, ROOTFS_RECORD), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
    // The tree is metadata only (links, directories): one syncfs makes it durable before it counts.
    await syncFilesystem(staging);
    // A directory left without a record (an interrupted removal, a lost record) is retired, not
    // deleted: a container may still run on it (its record gone, nothing tells it is unused).
    if ((await fs.lstat(home).catch(() => undefined)) !== undefined && (await readSharedRootfsRecord(root, manifest)) === undefined) {
      await retireSharedRootfs(root, manifest);
    }
    try {
      await fs.rename(staging, home);
    } catch (err) {
      if (errnoCode(err) !== 'ENOTEMPTY' && errnoCode(err) !== 'EEXIST') throw err;
      // Another process won the race: use its tree.
      await fs.rm(staging, { recursive: true, force: true });
      const theirs = await readSharedRootfsRecord(root, manifest);
      if (theirs === undefined) throw new KeelError('E_STORE_CORRUPT', `${home} exists without a valid ${ROOTFS_RECORD}`, { hint: `remove ${home} and render again` });
      return { dir: path.join(home, 'rootfs'), record: theirs, created: false };
    }
    await fsyncDir(parent);
    return { dir: path.join(home, 'rootfs'), record, created: true };
  } catch (err) {
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw err instanceof KeelError ? err : fsError(`building the shared rootfs of ${manifest}`, err);
  }
}

/** Whether a tree was built from these extractions of its layers (unknown on either side counts as the same). */
function builtFrom(record: SharedRootfsRecord, extractions: readonly string[]): boolean {
  if (record.extractions === undefined || record.extractions.length !== extractions.length) return true;
  return record.extractions.every((e, i) => e === '' || extractions[i] === '' || e === extractions[i]);
}

const RETIRED = /^\.retired-([0-9a-f]{8})-/;

/** The first 8 hex digits of this boot's id ('00000000' if unknown). */
function boot8(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').replace(/[^0-9a-f]/g, '').slice(0, 8).padEnd(8, '0');
  } catch {
    return '00000000';
  }
}

/**
 * Moves an image's tree aside as `.retired-<boot8>-<hex>-<rand>` in one rename:
 * a container started from it keeps running on it (its mount holds the
 * directory), while new renders build a fresh tree at the same path. Retired
 * trees are removed by the first `keel prune` after a reboot, when nothing can
 * run on them any more.
 */
async function retireSharedRootfs(root: string, manifest: Digest): Promise<void> {
  const home = sharedRootfsHome(root, manifest);
  const retired = path.join(sharedRootfsBase(root), `.retired-${boot8()}-${digestHex(parseDigest(manifest))}-${Math.random().toString(36).slice(2, 10)}`);
  try {
    await fs.rename(home, retired);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw fsError(`retiring the shared rootfs ${home}`, err);
  }
}

/** Removes retired trees of earlier boots (see retireSharedRootfs); returns how many. */
export async function removeRetiredRootfs(root: string): Promise<number> {
  const base = sharedRootfsBase(root);
  let names: string[];
  try {
    names = await fs.readdir(base);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 0;
    throw fsError(`listing ${base}`, err);
  }
  const boot = boot8();
  let removed = 0;
  for (const n of names) {
    const m = RETIRED.exec(n);
    if (m === null || m[1] === boot) continue;
    await fs.rm(path.join(base, n), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Removes one image's tree (record first, so it never looks complete half-deleted). */
export async function removeSharedRootfs(root: string, manifest: Digest): Promise<void> {
  const home = sharedRootfsHome(root, manifest);
  const base = sharedRootfsBase(root);
  await fs.rm(path.join(home, ROOTFS_RECORD), { force: true });
  const trash = stagingPath(base, 'trash');
  try {
    await fs.rename(home, trash);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw fsError(`removing ${home}`, err);
  }
  await fs.rm(trash, { recursive: true, force: true });
}
