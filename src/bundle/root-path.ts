// Reads files of a rootfs as the container would see them: every path is
// resolved as if `root` were `/`, symlinks are followed only inside it, and
// `..` stops at the root. Used for image-controlled files such as /etc/passwd,
// which may be hostile symlinks pointing at the host's /etc/shadow. Only
// regular files are opened (never a device, FIFO or socket), with O_NOFOLLOW
// and O_NONBLOCK, and read up to a cap checked before reading.

import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode } from '../errors.ts';
import { MAX_SYMLINKS, lstatOrNull, resolveDirInRoot } from '../layer/index.ts';

/**
 * The host path that `containerPath` names inside `root`, or undefined if it
 * does not exist. The parent directories are resolved by the layer
 * extractor's own resolver (src/layer/resolve.ts: symlinks re-resolved inside
 * the root, `..` stopping at it, bounded steps); a final symlink is followed
 * here the same way, at most MAX_SYMLINKS times.
 */
export async function resolveInRoot(root: string, containerPath: string): Promise<string | undefined> {
  let comps = containerPath.split('/').filter((c) => c !== '' && c !== '.');
  for (let links = 0; ; links++) {
    const last = comps[comps.length - 1];
    if (last === undefined || last === '..') {
      return (await resolveDirInRoot(root, comps, { create: false, entry: containerPath })) ?? undefined;
    }
    const dir = await resolveDirInRoot(root, comps.slice(0, -1), { create: false, entry: containerPath });
    if (dir === null) return undefined;
    const hostPath = path.join(dir, last);
    const stat = await lstatOrNull(hostPath);
    if (stat === null) return undefined;
    if (!stat.isSymbolicLink()) return hostPath;
    if (links >= MAX_SYMLINKS) {
      throw new KeelError('E_LAYER_PATH', `too many levels of symbolic links resolving ${containerPath} in ${root}`);
    }
    const target = await fs.readlink(hostPath);
    // `dir` has no symlink below root, so its path relative to root is its container path.
    const base = target.startsWith('/') ? [] : path.relative(root, dir).split('/').filter(Boolean);
    comps = [...base, ...target.split('/').filter((c) => c !== '' && c !== '.')];
  }
}

/** Reads a regular file inside the rootfs, at most `maxBytes`; undefined if absent. */
export async function readFileInRoot(root: string, containerPath: string, maxBytes: number): Promise<Buffer | undefined> {
  const hostPath = await resolveInRoot(root, containerPath);
  if (hostPath === undefined) return undefined;
  // Only a regular file is ever opened: opening a device node has side effects (a watchdog
  // arms, a tape rewinds), a FIFO could block and a socket fails with ENXIO. The fstat below
  // checks again what was actually opened.
  const pre = await fs.lstat(hostPath).catch(() => undefined);
  if (pre === undefined || !pre.isFile()) return undefined;
  let handle;
  try {
    handle = await fs.open(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const errno = errnoCode(err);
    if (errno === 'ENOENT' || errno === 'ELOOP' || errno === 'ENXIO') return undefined;
    throw err;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return undefined;
    if (stat.size > maxBytes) {
      throw new KeelError('E_BODY_TOO_LARGE', `${containerPath} in the image is ${stat.size} bytes, over the ${maxBytes}-byte limit`);
    }
    const buffer = Buffer.alloc(stat.size);
    const { bytesRead } = await handle.read(buffer, 0, stat.size, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
