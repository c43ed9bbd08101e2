// Snapshots of a directory tree and a comparison of two snapshots, for checking keel's extraction
// against a reference rootfs (umoci unpack). Invariants: the walk uses lstat and never follows a
// symlink; keys are absolute-style paths inside the tree ('/' is the root itself, '/etc/hosts');
// hardlinks are recorded as the set of paths sharing one (dev, ino), so two trees compare by
// which names are linked together, not by inode numbers.
//
// mtime precision: umoci writes layer tar headers with whole seconds (Go's archive/tar drops
// sub-second times unless PAX is forced) and `umoci unpack` restores them exactly, so compareTrees
// compares mtimes in whole seconds by default; snapshots keep milliseconds (floored).
// Not recorded: xattrs, atime/ctime, directory sizes (filesystem-specific).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export type EntryType = 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

export interface EntryInfo {
  readonly type: EntryType;
  /** Permission bits with setuid/setgid/sticky: st_mode & 0o7777. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Byte size for files and symlinks; 0 for everything else. */
  readonly size: number;
  /** Hex SHA-256 of a regular file's content. */
  readonly sha256?: string | undefined;
  /** A symlink's target, as stored (never resolved). */
  readonly target?: string | undefined;
  /** mtime in integer milliseconds (floored). */
  readonly mtimeMs: number;
  /** `major:minor` of a char or block device. */
  readonly rdev?: string | undefined;
  /** For a file with two or more names in this tree: the first of them in sort order. */
  readonly linkGroup?: string | undefined;
  /** For a file with two or more names in this tree: all of them, sorted. */
  readonly links?: readonly string[] | undefined;
}

export type TreeSnapshot = Map<string, EntryInfo>;

function typeOf(st: Stats): EntryType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'socket';
}

/** Linux's encoding of dev_t (glibc's gnu_dev_major/minor). */
function devString(rdev: number): string {
  const big = BigInt(rdev);
  const major = ((big >> 8n) & 0xfffn) | ((big >> 32n) & ~0xfffn);
  const minor = (big & 0xffn) | ((big >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), h);
  return h.digest('hex');
}

const childPath = (parent: string, name: string): string => (parent === '/' ? `/${name}` : `${parent}/${name}`);

/** Walk `dir` (lstat only, never following symlinks) and describe every entry, the root as '/'. */
export async function snapshotTree(dir: string): Promise<TreeSnapshot> {
  const raw = new Map<string, { info: Omit<EntryInfo, 'linkGroup' | 'links'>; key?: string }>();
  const byInode = new Map<string, string[]>();

  const visit = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    const type = typeOf(st);
    const info: Omit<EntryInfo, 'linkGroup' | 'links'> = {
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: type === 'file' || type === 'symlink' ? st.size : 0,
      sha256: type === 'file' ? await sha256File(abs) : undefined,
      target: type === 'symlink' ? await readlink(abs) : undefined,
      mtimeMs: Math.floor(st.mtimeMs),
      rdev: type === 'char' || type === 'block' ? devString(st.rdev) : undefined,
    };
    let key: string | undefined;
    if (type !== 'dir' && st.nlink > 1) {
      key = `${st.dev}:${st.ino}`;
      const names = byInode.get(key) ?? [];
      names.push(rel);
      byInode.set(key, names);
    }
    raw.set(rel, key === undefined ? { info } : { info, key });
    if (type === 'dir') {
      const names = (await readdir(abs)).sort();
      for (const name of names) await visit(join(abs, name), childPath(rel, name));
    }
  };
  await visit(dir, '/');

  const out: TreeSnapshot = new Map();
  for (const path of [...raw.keys()].sort()) {
    const { info, key } = raw.get(path)!;
    const names = key === undefined ? undefined : byInode.get(key);
    if (names !== undefined && names.length > 1) {
      const links = [...names].sort();
      out.set(path, { ...info, linkGroup: links[0], links });
    } else {
      out.set(path, info);
    }
  }
  return out;
}

export interface CompareOptions {
  /** Skip the root directory's own mode/owner/mtime (its contents are still compared). */
  ignoreRoot?: boolean | undefined;
  /** Skip char and block devices on both sides. */
  ignoreDevices?: boolean | undefined;
  /** How to compare mtimes: whole seconds (default), milliseconds, or not at all. */
  mtime?: 's' | 'ms' | 'ignore' | undefined;
  /** Skip directories' mtimes only (an extractor that does not restore them after writing children). */
  ignoreDirMtimes?: boolean | undefined;
  /** Skip these paths (and, for a directory, everything below it) on both sides. */
  ignore?: ((path: string) => boolean) | undefined;
  /** Names of the two sides in messages (default 'a', 'b'). */
  names?: readonly [string, string] | undefined;
  /** Stop after this many differences (default 200). */
  limit?: number | undefined;
}

const octal = (m: number): string => m.toString(8).padStart(4, '0');
const short = (h: string | undefined): string => (h === undefined ? '-' : h.slice(0, 12));

function skipped(path: string, e: EntryInfo, opts: CompareOptions): boolean {
  if (opts.ignoreDevices && (e.type === 'char' || e.type === 'block')) return true;
  if (opts.ignore) {
    for (let p = path; ; p = p.slice(0, Math.max(p.lastIndexOf('/'), 1))) {
      if (opts.ignore(p)) return true;
      if (p === '/') break;
    }
  }
  return false;
}

/**
 * Differences between two trees (dirs or snapshots), one human-readable line each, sorted by path;
 * an empty array means equal under `opts`.
 */
export async function compareTrees(
  a: string | TreeSnapshot, b: string | TreeSnapshot, opts: CompareOptions = {},
): Promise<string[]> {
  const sa = typeof a === 'string' ? await snapshotTree(a) : a;
  const sb = typeof b === 'string' ? await snapshotTree(b) : b;
  const [na, nb] = opts.names ?? ['a', 'b'];
  const limit = opts.limit ?? 200;
  const mtimeMode = opts.mtime ?? 's';
  const diffs: string[] = [];
  const seenGroups = new Set<string>();
  const paths = [...new Set([...sa.keys(), ...sb.keys()])].sort();

  for (const path of paths) {
    if (diffs.length >= limit) {
      diffs.push(`... (stopped after ${limit} differences)`);
      break;
    }
    const x = sa.get(path);
    const y = sb.get(path);
    if ((x && skipped(path, x, opts)) || (y && skipped(path, y, opts))) continue;
    if (!x || !y) {
      diffs.push(`${path}: only in ${x ? na : nb} (${(x ?? y)!.type})`);
      continue;
    }
    if (x.type !== y.type) {
      diffs.push(`${path}: type ${x.type} in ${na}, ${y.type} in ${nb}`);
      continue;
    }
    const isRoot = path === '/';
    const meta = !(isRoot && opts.ignoreRoot);
    const d = (what: string, u: string, v: string): void => {
      diffs.push(`${path}: ${what} ${u} in ${na}, ${v} in ${nb}`);
    };
    if (meta && x.mode !== y.mode) d('mode', octal(x.mode), octal(y.mode));
    if (meta && (x.uid !== y.uid || x.gid !== y.gid)) d('owner', `${x.uid}:${x.gid}`, `${y.uid}:${y.gid}`);
    if (x.type === 'file' && (x.sha256 !== y.sha256 || x.size !== y.size)) {
      d('content', `${x.size} bytes sha256 ${short(x.sha256)}`, `${y.size} bytes sha256 ${short(y.sha256)}`);
    }
    if (x.type === 'symlink' && x.target !== y.target) d('symlink target', JSON.stringify(x.target), JSON.stringify(y.target));
    if (x.rdev !== y.rdev) d('device', x.rdev ?? '-', y.rdev ?? '-');
    if (meta && mtimeMode !== 'ignore' && !(x.type === 'dir' && opts.ignoreDirMtimes)) {
      const u = mtimeMode === 's' ? Math.floor(x.mtimeMs / 1000) : x.mtimeMs;
      const v = mtimeMode === 's' ? Math.floor(y.mtimeMs / 1000) : y.mtimeMs;
      const iso = (ms: number): string => new Date(ms).toISOString();
      if (u !== v) d('mtime', iso(x.mtimeMs), iso(y.mtimeMs));
    }
    const ga = (x.links ?? [path]).join(', ');
    const gb = (y.links ?? [path]).join(', ');
    if (ga !== gb) {
      const key = `${ga}|${gb}`;
      if (!seenGroups.has(key)) {
        seenGroups.add(key);
        d('hardlink group', `{${ga}}`, `{${gb}}`);
      }
    }
  }
  return diffs;
}
