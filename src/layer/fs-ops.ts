// The filesystem primitives extraction and stacking share. Every call works on
// a final component whose parent was resolved inside the root (resolve.ts) and
// never follows a symlink in the final component: files are created with
// O_CREAT|O_EXCL|O_NOFOLLOW and their owner, mode and times are set through
// the fd (fchown before fchmod: chown clears setuid/setgid); symlinks get
// lchown/lutimes only; directories are opened O_DIRECTORY|O_NOFOLLOW.
// Node opens every fd O_CLOEXEC itself. Node has no mkfifo(3): FIFOs are made by the `mkfifo` program (coreutils).
// Speed: per-node work (small files, directories, symlinks, links, markers) is
// done with synchronous calls on raw fds. Each call is a few microseconds of
// kernel time; as promises, each was a libuv thread-pool round trip plus a
// FileHandle, and that overhead dominated layers of many small files (issue 9).
// Only a file larger than SMALL_FILE is streamed, chunk by chunk, never buffered.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, futimesSync, lchownSync, linkSync, lutimesSync, mkdirSync, openSync, symlinkSync, writeSync, type Stats } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { errnoCode, fsError } from '../errors.ts';
import { lstatOrNull, lstatSyncOrNull, noteRemoval } from './resolve.ts';

const run = promisify(execFile);
const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY, O_RDONLY, O_DIRECTORY, O_NONBLOCK } = constants;

export interface NodeMeta {
  /** The 12 permission bits (incl. setuid, setgid, sticky). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch (fractions allowed). */
  readonly mtime: number;
  readonly atime?: number | undefined;
}

async function guarded<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fsError(action, err);
  }
}

/**
 * Makes room for a new final component: a directory stays when a directory
 * is coming (returns true: keep it), anything else is removed (rm -r, which
 * unlinks a symlink rather than following it).
 */
export async function clearFinal(hostPath: string, keepDirectory: boolean): Promise<boolean> {
  const st = await lstatOrNull(hostPath);
  if (st === null) return false;
  if (keepDirectory && st.isDirectory()) return true;
  noteRemoval();
  await guarded(`removing ${hostPath}`, () => rm(hostPath, { recursive: true, force: true }));
  return false;
}

/**
 * Runs `create` (which must fail with EEXIST, never follow, when the final
 * component exists); on EEXIST clears the final component and runs it again.
 * Saves an lstat per entry in the common case of a new path.
 */
export async function createOrReplace<T>(hostPath: string, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
  await clearFinal(hostPath, false);
  return create();
}

/** createOrReplace for a synchronous `create`. */
export async function createOrReplaceSync<T>(hostPath: string, create: () => T): Promise<T> {
  try {
    return create();
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
  }
  await clearFinal(hostPath, false);
  return create();
}

// Owners are always set, even on a node keel just created: a new node inside a
// setgid directory takes that directory's group, not keel's egid (a root:root
// file in /var/mail, root:mail 2775, would become root:mail).
async function applyMeta(fh: FileHandle, meta: NodeMeta, times: boolean): Promise<void> {
  await fh.chown(meta.uid, meta.gid);
  await fh.chmod(meta.mode & 0o7777);
  if (times) await fh.utimes(meta.atime ?? meta.mtime, meta.mtime);
}

function applyMetaSync(fd: number, meta: NodeMeta, times: boolean): void {
  fchownSync(fd, meta.uid, meta.gid);
  fchmodSync(fd, meta.mode & 0o7777);
  if (times) futimesSync(fd, meta.atime ?? meta.mtime, meta.mtime);
}

/** The sha256 (hex) and size of one regular file's bytes, taken while writing it. */
export interface FileDigest {
  readonly sha256: string;
  readonly size: bigint;
}

/** FileDigests by inode: the store's fingerprint uses them instead of reading a fresh layer back. */
export type ContentDigests = Map<bigint, FileDigest>;

/**
 * Regular files up to this size are written from memory by writeSmallFile
 * (their bytes are already in memory once the tar parser delivered them);
 * larger ones are streamed by createFile.
 */
export const SMALL_FILE = 1 << 20;

function openNewFileSync(hostPath: string): number {
  return openSync(hostPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
}

/**
 * Creates a regular file holding `chunks` (at most SMALL_FILE bytes in all),
 * with synchronous calls on one fd: open (O_EXCL|O_NOFOLLOW), write, fchown,
 * fchmod, futimes, close. Returns the bytes written.
 */
export async function writeSmallFile(hostPath: string, meta: NodeMeta, chunks: readonly Uint8Array[], digests?: ContentDigests): Promise<number> {
  return guarded(`writing ${hostPath}`, async () => {
    const fd = await createOrReplaceSync(hostPath, () => openNewFileSync(hostPath));
    let written = 0;
    try {
      const hash = digests === undefined ? undefined : createHash('sha256');
      for (const chunk of chunks) {
        let off = 0;
        while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
        written += chunk.byteLength;
        hash?.update(chunk);
      }
      applyMetaSync(fd, meta, true);
      if (hash !== undefined) digests?.set(fstatSync(fd, { bigint: true }).ino, { sha256: hash.digest('hex'), size: BigInt(written) });
    } finally {
      closeSync(fd);
    }
    return written;
  });
}

/** Creates a regular file with `data` (streamed, chunk by chunk). Returns the bytes written. */
export async function createFile(hostPath: string, meta: NodeMeta, data: AsyncIterable<Uint8Array> | null, digests?: ContentDigests): Promise<number> {
  return guarded(`writing ${hostPath}`, async () => {
    const fh = await createOrReplace(hostPath, () => open(hostPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600));
    let written = 0;
    const hash = digests === undefined ? undefined : createHash('sha256');
    try {
      if (data !== null) {
        for await (const chunk of data) {
          hash?.update(chunk);
          let off = 0;
          while (off < chunk.byteLength) {
            const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
            off += bytesWritten;
          }
          written += chunk.byteLength;
        }
      }
      await applyMeta(fh, meta, true);
      if (hash !== undefined) digests?.set((await fh.stat({ bigint: true })).ino, { sha256: hash.digest('hex'), size: BigInt(written) });
    } finally {
      await fh.close();
    }
    return written;
  });
}

/** An empty whiteout marker: regular file, mode 0, root-owned. */
export async function createMarker(hostPath: string): Promise<void> {
  await writeSmallFile(hostPath, { mode: 0, uid: 0, gid: 0, mtime: 0 }, []);
}

/**
 * Creates the directory, or keeps the directory already there (anything else
 * there is replaced), then sets owner and mode (times are set later, deepest first).
 */
export async function makeDirectory(hostPath: string, meta: NodeMeta): Promise<void> {
  try {
    mkdirSync(hostPath, { mode: 0o700 });
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw fsError(`creating directory ${hostPath}`, err);
    if (!(await clearFinal(hostPath, true))) await guarded(`creating directory ${hostPath}`, async () => mkdirSync(hostPath, { mode: 0o700 }));
  }
  await guarded(`setting metadata of directory ${hostPath}`, async () => {
    const fd = openSync(hostPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    try {
      applyMetaSync(fd, meta, false);
    } finally {
      closeSync(fd);
    }
  });
}

export async function makeSymlink(hostPath: string, target: string, meta: NodeMeta): Promise<void> {
  await guarded(`creating symlink ${hostPath}`, async () => {
    await createOrReplaceSync(hostPath, () => symlinkSync(target, hostPath));
    lchownSync(hostPath, meta.uid, meta.gid);
    lutimesSync(hostPath, meta.atime ?? meta.mtime, meta.mtime);
  });
}

export async function makeFifo(hostPath: string, meta: NodeMeta): Promise<void> {
  await guarded(`creating FIFO ${hostPath}`, async () => {
    await clearFinal(hostPath, false);
    await run('mkfifo', ['-m', '600', '--', hostPath]);
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer
    const fh = await open(hostPath, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
    try {
      await applyMeta(fh, meta, true);
    } finally {
      await fh.close();
    }
  });
}

export async function makeHardlink(existing: string, hostPath: string): Promise<void> {
  await guarded(`linking ${hostPath} to ${existing}`, () => createOrReplaceSync(hostPath, () => linkSync(existing, hostPath)));
}

export function metaOf(st: Stats): NodeMeta {
  return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs / 1000, atime: st.atimeMs / 1000 };
}

/** Sets owner, mode and times of an existing regular file without following a symlink. */
export async function setFileMeta(hostPath: string, meta: NodeMeta): Promise<void> {
  await guarded(`setting metadata of ${hostPath}`, async () => {
    const fd = openSync(hostPath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      applyMetaSync(fd, meta, true);
    } finally {
      closeSync(fd);
    }
  });
}

/**
 * Sets directory times collected during a walk, deepest first, after all
 * children were written. `times` maps root-relative paths to seconds. A path
 * whose directory was since replaced (by a file or a symlink, itself or in a
 * parent) is skipped: nothing is opened through a symlink.
 */
export async function applyDirTimes(root: string, times: ReadonlyMap<string, { mtime: number; atime: number }>): Promise<void> {
  const order = [...times.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
  const known = new Set<string>();
  for (const rel of order) {
    const parts = rel.split('/');
    let ok = true;
    for (let i = 1; i < parts.length && ok; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (known.has(prefix)) continue;
      const st = lstatSyncOrNull(path.join(root, prefix));
      ok = st !== null && st.isDirectory();
      if (ok) known.add(prefix);
    }
    if (!ok) continue;
    const t = times.get(rel) as { mtime: number; atime: number };
    let fd: number;
    try {
      fd = openSync(path.join(root, rel), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch {
      continue; // replaced by something that is not a directory
    }
    try {
      await guarded(`setting times of ${rel}`, async () => futimesSync(fd, t.atime, t.mtime));
    } finally {
      closeSync(fd);
    }
  }
}


