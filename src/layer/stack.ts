// stackLayers: extracted layer directories (bottom first) -> one rootfs, with
// the OCI whiteout semantics. For each layer its whiteouts are applied first
// (`.wh.NAME` removes NAME below, `.wh..wh..opq` empties the directory below),
// then its entries, parents before children. Invariants: paths in the rootfs
// are resolved as in extraction (as if the rootfs were `/`, symlinks re-resolved
// inside it), nothing is removed, created or changed through a symlink (a
// whited-out symlink is unlinked, not followed), markers never reach the rootfs,
// directory times are set last, deepest first, and in 'hardlink' mode only
// regular files and symlinks share the layer's inodes (never FIFOs or
// directories), and nothing is ever written, chmod-ed or chown-ed through them.
// A layer's hardlinks to lower layers' files (recorded at extraction) are made
// after its entries, in tar order, to the rootfs's own inode; last, the
// extended attributes of the nodes the layer made anew are set (read with one
// getfattr, set with one setfattr per layer: xattrs.ts).

import { constants, copyFileSync, lstatSync, type Stats } from 'node:fs';
import { copyFile, lstat, mkdir, open, opendir, readdir, readlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { KeelError, fsError } from '../errors.ts';
import { classifyWhiteout } from './entry-path.ts';
import type { ExternalLink } from './extract.ts';
import { SMALL_FILE, applyDirTimes, clearFinal, createOrReplace, createOrReplaceSync, makeDirectory, makeFifo, makeHardlink, makeSymlink, metaOf, setFileMeta } from './fs-ops.ts';
import { TaskWindow } from '../util/task-window.ts';
import { DirResolver, lstatOrNull, noteRemoval } from './resolve.ts';
import { XattrReport, applyXattrs, checkNode, filterXattrs, nodeId, readXattrs, removeXattrs, type NodeId, type XattrNodeKind, type XattrRecord } from './xattrs.ts';

export interface StackOptions {
  /** 'copy': copy file data (copy_file_range); 'hardlink': share files and symlinks with the layer dirs (OSTree-style; FIFOs are made anew). */
  mode: 'copy' | 'hardlink';
  signal?: AbortSignal | undefined;
}

export interface StackStats {
  /** Entries placed into the rootfs (whiteout markers not counted). */
  entries: number;
  /** Bytes of regular-file data placed (copied or linked; a hardlink group counts once). */
  bytes: number;
  /** What could not be carried over (extended attributes), one line per kind, with a count and an example. */
  warnings: string[];
}

/** An extracted layer to stack: its directory, and the directories it did not list itself. */
export interface StackLayer {
  readonly dir: string;
  /** From LayerStats.implicitDirs; '' is the layer's root. Absent: every directory is an entry. */
  readonly implicitDirs?: readonly string[] | undefined;
  /** From LayerStats.externalLinks: hardlinks to lower layers' files, applied after the layer's entries, in order. */
  readonly externalLinks?: readonly ExternalLink[] | undefined;
  /**
   * From LayerStats.xattrPaths: the layer's paths that have extended
   * attributes (read with one getfattr). Absent: unknown, the whole layer is
   * read (`getfattr -R`, one process); empty: none, nothing is run.
   */
  readonly xattrPaths?: readonly string[] | undefined;
  /**
   * Which extraction of the layer `dir` holds (the store record's commit
   * time): a tree of hard links built from one extraction is not reused once
   * the layer was set aside as damaged and extracted again.
   */
  readonly extraction?: string | undefined;
}

interface WalkItem {
  readonly comps: readonly string[];
  readonly isDir: boolean;
}

/** Pre-order walk of a layer directory; never follows symlinks (dirents come from readdir). */
async function* walk(layerDir: string): AsyncGenerator<WalkItem> {
  const stack: string[][] = [[]];
  while (stack.length > 0) {
    const dirComps = stack.pop() as string[];
    const hostDir = path.join(layerDir, ...dirComps);
    let names: { name: string; dir: boolean }[];
    try {
      names = (await readdir(hostDir, { withFileTypes: true })).map((d) => ({ name: d.name, dir: d.isDirectory() }));
    } catch (err) {
      throw fsError(`reading layer directory ${hostDir}`, err);
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: string[][] = [];
    for (const { name, dir } of names) {
      const comps = [...dirComps, name];
      yield { comps, isDir: dir };
      if (dir) subdirs.push(comps);
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i] as string[]);
  }
}

function interrupted(): KeelError {
  return new KeelError('E_INTERRUPTED', 'stacking layers was interrupted', { hint: 'run the command again' });
}

async function prepareRootfs(root: string): Promise<void> {
  const st = await lstatOrNull(root);
  try {
    if (st === null) {
      await mkdir(root, { mode: 0o755 });
    } else {
      if (!st.isDirectory()) throw new KeelError('E_BUNDLE_EXISTS', `rootfs ${root} exists and is not a directory`);
      const dir = await opendir(root);
      const first = await dir.read();
      await dir.close();
      if (first !== null) throw new KeelError('E_BUNDLE_EXISTS', `rootfs ${root} exists and is not empty`, { hint: 'remove it or pick another directory' });
    }
    const fh = await open(root, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      await fh.chown(0, 0);
      await fh.chmod(0o755);
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw fsError(`preparing rootfs ${root}`, err);
  }
}

/**
 * Applies one whiteout marker of a layer to the layers below. `keep` holds the
 * host paths this layer already made (its early links) and their ancestors: a
 * whiteout never removes what its own layer made, whatever the tar order (as
 * umoci keeps its "upper paths").
 */
async function applyWhiteout(dirs: DirResolver, comps: readonly string[], keep: ReadonlySet<string>): Promise<void> {
  const base = comps[comps.length - 1] as string;
  const kind = classifyWhiteout(base);
  const parent = await dirs.resolve(comps.slice(0, -1), { create: false, entry: comps.join('/') });
  if (parent === null || kind.kind === 'none') return;
  noteRemoval();
  try {
    if (kind.kind === 'opaque') {
      for (const name of await readdir(parent)) await removeUnlessKept(path.join(parent, name), keep);
    } else {
      await removeUnlessKept(path.join(parent, kind.target), keep);
    }
  } catch (err) {
    throw fsError(`applying whiteout ${comps.join('/')}`, err);
  }
}

/** rm -r of `hostPath` (never following a symlink), except what `keep` names: into a kept directory it descends. */
async function removeUnlessKept(hostPath: string, keep: ReadonlySet<string>): Promise<void> {
  if (!keep.has(hostPath)) {
    // rm never follows a symlink: a whited-out symlink is unlinked, its target untouched
    await rm(hostPath, { recursive: true, force: true });
    return;
  }
  const st = await lstatOrNull(hostPath);
  if (st === null || !st.isDirectory()) return;
  for (const name of await readdir(hostPath)) await removeUnlessKept(path.join(hostPath, name), keep);
}

/**
 * Stacks extracted layer directories (bottom first) into `rootfs` (absent or
 * an empty directory; made 0755 root:root). For each layer its whiteouts are
 * applied first, then its entries; markers never appear in the result.
 * 'copy' copies file data (copy_file_range) and keeps owner, all 12 mode bits,
 * mtimes and hardlink groups within a layer; 'hardlink' links regular files
 * and symlinks from the layer dirs (directories are always created fresh, and
 * FIFOs made anew: a shared FIFO would connect containers). Paths resolve
 * inside `rootfs` as if it were `/`. Then the layer's externalLinks are made,
 * in order. Rejects with a KeelError (E_BUNDLE_EXISTS, E_LAYER_PATH, E_LAYER_LINK, E_LAYER_WHITEOUT,
 * E_LAYER_UNSUPPORTED, E_INTERRUPTED, and the filesystem's own codes:
 * E_DISK_FULL, E_READ_ONLY_FS, E_PERMISSION, E_STORE_IO).
 */
export async function stackLayers(layers: readonly (string | StackLayer)[], rootfs: string, options: StackOptions): Promise<StackStats> {
  const root = path.resolve(rootfs);
  if (options.signal?.aborted) throw interrupted();
  await prepareRootfs(root);
  const stats: StackStats = { entries: 0, bytes: 0, warnings: [] };
  const xattrReport = new XattrReport();
  let xattrsUnread = 0;
  /** Attributes keel set on the rootfs's directories: a later layer's entry for one replaces them (as umoci clears them). */
  const dirXattrs = new Map<string, NodeId & { names: ReadonlySet<string> }>();
  const dirTimes = new Map<string, { mtime: number; atime: number }>();
  const dirs = new DirResolver(root);

  for (const layer of layers) {
    const layerRoot = path.resolve(typeof layer === 'string' ? layer : layer.dir);
    const implicit = new Set(typeof layer === 'string' ? [] : (layer.implicitDirs ?? []));
    if (!implicit.has('')) {
      // the layer lists its root: its times apply to the rootfs's root (owner and mode stay root:root 0755)
      const st = await lstat(layerRoot).catch((err: unknown) => {
        throw fsError(`inspecting ${layerRoot}`, err);
      });
      const meta = metaOf(st);
      dirTimes.set('', { mtime: meta.mtime, atime: meta.atime ?? meta.mtime });
    }
    const links = typeof layer === 'string' ? [] : (layer.externalLinks ?? []);
    // 0. its links to lower files that it changes after linking them (tar order), before it changes them
    const made = new Set<string>();
    for (const link of links) {
      if (link.early !== true) continue;
      if (options.signal?.aborted) throw interrupted();
      for (let p = await applyExternalLink(dirs, link, layerRoot); p.length > root.length; p = path.dirname(p)) made.add(p);
      stats.entries += 1;
    }
    // 1. this layer's whiteouts act on the layers below
    for await (const item of walk(layerRoot)) {
      if (options.signal?.aborted) throw interrupted();
      const base = item.comps[item.comps.length - 1] as string;
      if (classifyWhiteout(base).kind === 'none') continue;
      if (item.isDir) throw new KeelError('E_LAYER_WHITEOUT', `layer ${layerRoot} has a directory named like a whiteout: ${item.comps.join('/')}`);
      await applyWhiteout(dirs, item.comps, made);
    }
    // 2. then its entries, parents first; a hardlink group in this layer stays one group
    const groups = new Map<string, { hostPath: string; ino: number }>();
    // the layer's extended attributes: copied onto new nodes (copy mode: all; hardlink mode:
    // directories and FIFOs, the only nodes not shared), with one setfattr after the entries
    const layerXattrs = await readXattrs(layerRoot, typeof layer === 'string' ? undefined : layer.xattrPaths);
    if (layerXattrs === 'missing') xattrsUnread += 1;
    const pendingXattrs = new Map<string, XattrRecord>();
    const carry = async (comps: readonly string[], hostPath: string, kind: XattrNodeKind): Promise<void> => {
      if (layerXattrs === 'missing') return;
      const rel = path.relative(root, hostPath);
      const prev = dirXattrs.get(rel);
      const own = layerXattrs.get(comps.join('/'));
      if (prev === undefined && own === undefined) return;
      dirXattrs.delete(rel);
      const apply = own === undefined ? new Map<string, Buffer>() : filterXattrs(own, kind).apply; // never a host label (security.selinux)
      const node = nodeId(lstatSync(hostPath));
      if (prev !== undefined && prev.ino === node.ino && prev.fmt === node.fmt) {
        // a kept directory: what a lower layer set and this entry does not have goes
        const stale = [...prev.names].filter((n) => !apply.has(n));
        if (stale.length > 0 && checkNode(root, rel, node) === null) xattrReport.failures.push(...(await removeXattrs(hostPath, stale)));
      }
      if (apply.size > 0 && (options.mode === 'copy' || kind === 'directory' || kind === 'fifo')) pendingXattrs.set(rel, { ...node, xattrs: apply });
    };
    // large files alone in their hardlink group are copied on the pool while the walk goes on
    const copies = new TaskWindow(PARALLEL_COPIES);
    try {
      for await (const item of walk(layerRoot)) {
        if (options.signal?.aborted) throw interrupted();
        const base = item.comps[item.comps.length - 1] as string;
        if (classifyWhiteout(base).kind !== 'none') continue;
        const src = path.join(layerRoot, ...item.comps);
        let st: Stats;
        try {
          st = lstatSync(src);
        } catch (err) {
          throw fsError(`inspecting ${src}`, err);
        }
        if (item.isDir && implicit.has(item.comps.join('/'))) {
          // not an entry of the layer, only a parent of its entries: walk through it as a
          // tar would (through a lower layer's symlink, inside the root), changing nothing
          await dirs.resolve(item.comps, { create: true, entry: item.comps.join('/') });
          continue;
        }
        const parent = (await dirs.resolve(item.comps.slice(0, -1), { create: true, entry: item.comps.join('/') })) as string;
        const hostPath = path.join(parent, base);
        const meta = metaOf(st);
        stats.entries += 1;
        if (st.isDirectory()) {
          await makeDirectory(hostPath, meta);
          dirTimes.set(path.relative(root, hostPath), { mtime: meta.mtime, atime: meta.atime ?? meta.mtime });
          await carry(item.comps, hostPath, 'directory');
          continue;
        }
        if (options.mode === 'hardlink' && !st.isFIFO()) {
          // A FIFO is never shared: its pipe lives with the inode, and a FIFO stays writable on a
          // read-only mount, so one stored FIFO linked into many trees would be a channel between
          // containers (of any images sharing the layer). Each tree gets its own (below).
          if (!st.isFile() && !st.isSymbolicLink()) throw unsupported(src);
          await makeHardlink(src, hostPath); // the layer's inode, with its attributes
          if (st.isFile()) stats.bytes += st.size;
          continue;
        }
        if (st.isFile()) {
          const key = `${st.dev}:${st.ino}`;
          const first = st.nlink > 1 ? groups.get(key) : undefined;
          if (first !== undefined) {
            const fst = await lstatOrNull(first.hostPath);
            if (fst !== null && fst.isFile() && fst.ino === first.ino) {
              await makeHardlink(first.hostPath, hostPath);
              await carry(item.comps, hostPath, 'file');
              continue;
            }
          }
          if (st.size > SMALL_FILE && st.nlink === 1) {
            await copies.add(async () => {
              await copyLargeFile(src, hostPath);
              await setFileMeta(hostPath, meta);
              await carry(item.comps, hostPath, 'file');
            });
            stats.bytes += st.size;
            continue;
          }
          try {
            // COPYFILE_EXCL: the destination is opened O_CREAT|O_EXCL, so a symlink there is never followed;
            // a small file is copied without a thread-pool round trip (fs-ops.ts), a large one on the pool
            if (st.size <= SMALL_FILE) await createOrReplaceSync(hostPath, () => copyFileSync(src, hostPath, constants.COPYFILE_EXCL));
            else await copyLargeFile(src, hostPath);
          } catch (err) {
            throw fsError(`copying ${src} to ${hostPath}`, err);
          }
          await setFileMeta(hostPath, meta);
          await carry(item.comps, hostPath, 'file');
          stats.bytes += st.size;
          if (st.nlink > 1) groups.set(key, { hostPath, ino: (await lstat(hostPath)).ino });
        } else if (st.isSymbolicLink()) {
          const target = await readlink(src).catch((err: unknown) => {
            throw fsError(`reading symlink ${src}`, err);
          });
          await makeSymlink(hostPath, target, meta);
          await carry(item.comps, hostPath, 'symlink');
        } else if (st.isFIFO()) {
          await makeFifo(hostPath, meta);
          await carry(item.comps, hostPath, 'fifo');
        } else {
          throw unsupported(src);
        }
      }
    } catch (err) {
      await copies.idle(); // nothing of this layer may still be writing when the caller cleans up
      throw err;
    }
    await copies.settle();
    // 3. then its other links to lower layers' files, in tar order, as tar would make them
    for (const link of links) {
      if (link.early === true) continue;
      if (options.signal?.aborted) throw interrupted();
      await applyExternalLink(dirs, link, layerRoot);
      stats.entries += 1;
    }
    // 4. then the attributes of its new nodes, checked again (no symlink on the way, same inode)
    if (pendingXattrs.size > 0) {
      const result = await applyXattrs(root, pendingXattrs);
      xattrReport.noteApply(result, pendingXattrs, (rel) => `/${rel}`);
      if (!result.missing) {
        for (const rel of result.applied) {
          const rec = pendingXattrs.get(rel);
          if (rec !== undefined && rec.fmt === constants.S_IFDIR) dirXattrs.set(rel, { ino: rec.ino, fmt: rec.fmt, names: new Set(rec.xattrs.keys()) });
        }
      }
    }
  }
  await applyDirTimes(root, dirTimes);
  if (xattrsUnread > 0) stats.warnings.push(`extended attributes of ${xattrsUnread} layer${xattrsUnread === 1 ? '' : 's'} not carried into the rootfs (getfattr not found: install the attr package)`);
  stats.warnings.push(...xattrReport.warnings());
  return stats;
}

/**
 * Makes `link.path` a hard link to the rootfs's file at `link.target` (both
 * resolved inside the rootfs as if it were `/`), replacing what is at the path.
 * In both modes the link shares the rootfs's inode, as umoci's and tar's do.
 */
async function applyExternalLink(dirs: DirResolver, link: ExternalLink, layerRoot: string): Promise<string> {
  const refuse = (why: string): KeelError =>
    new KeelError('E_LAYER_LINK', `hardlink ${JSON.stringify(link.path.slice(0, 200))} -> ${JSON.stringify(link.target.slice(0, 200))} of layer ${layerRoot} ${why}`, {
      hint: 'a hardlink to a lower layer must point at a regular file that the layers below (after this layer\'s whiteouts) leave in place',
    });
  const targetComps = link.target.split('/');
  const pathComps = link.path.split('/');
  const unclean = (c: string): boolean => c === '' || c === '.' || c === '..';
  if (targetComps.some(unclean) || pathComps.some(unclean)) throw refuse('is not a clean relative path');
  const targetBase = targetComps[targetComps.length - 1] as string;
  const targetParent = await dirs.resolve(targetComps.slice(0, -1), { create: false, entry: link.target });
  const target = targetParent === null ? null : path.join(targetParent, targetBase);
  const tst = target === null ? null : await lstatOrNull(target);
  if (target === null || tst === null) throw refuse('points at nothing in the layers below');
  if (!tst.isFile()) throw refuse('points at something that is not a regular file');
  const parent = (await dirs.resolve(pathComps.slice(0, -1), { create: true, entry: link.path })) as string;
  const hostPath = path.join(parent, pathComps[pathComps.length - 1] as string);
  if (hostPath === target) throw refuse('links to itself');
  await clearFinal(hostPath, false);
  const after = await lstatOrNull(target);
  if (after === null || !after.isFile() || after.ino !== tst.ino) throw refuse('had its target removed by replacing the link\'s path');
  await makeHardlink(target, hostPath);
  return hostPath;
}

/**
 * Large files copied at once (copy_file_range on libuv's pool): the kernel's
 * copies of page-cache data run on several cores (a 1 GiB rootfs of 8 MiB
 * files: bench/README.md).
 */
const PARALLEL_COPIES = 4;

/** Copies a large regular file (COPYFILE_EXCL: the destination is opened O_CREAT|O_EXCL, never through a symlink), on the pool. */
async function copyLargeFile(src: string, hostPath: string): Promise<void> {
  try {
    await createOrReplace(hostPath, () => copyFile(src, hostPath, constants.COPYFILE_EXCL));
  } catch (err) {
    throw fsError(`copying ${src} to ${hostPath}`, err);
  }
}

function unsupported(src: string): KeelError {
  return new KeelError('E_LAYER_UNSUPPORTED', `extracted layer holds ${src}, which is not a file, directory, symlink or FIFO`, {
    hint: 'the extracted layer was changed outside keel; remove it so that it is extracted again',
  });
}
