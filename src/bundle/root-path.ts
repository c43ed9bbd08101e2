// Reads files of a rootfs as the container would see them: every path is
// resolved as if `root` were `/`, symlinks are followed only inside it, and
// `..` stops at the root. Used for image-controlled files such as /etc/passwd,
// which may be hostile symlinks pointing at the host's /etc/shadow. Only
// regular files are opened (never a device, FIFO or socket), with O_NOFOLLOW
// and O_NONBLOCK, and read up to a cap checked before reading.

import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode } from '../errors.ts';

const MAX_LINKS = 40;
/** Components walked per path, link targets included (src/layer/resolve.ts MAX_RESOLVE_STEPS). */
const MAX_STEPS = 256;

/** The host path that `containerPath` names inside `root`, or undefined if it does not exist. */
export async function resolveInRoot(root: string, containerPath: string): Promise<string | undefined> {
  const pending = containerPath.split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  let steps = 0;
  while (pending.length > 0) {
    const component = pending.shift() as string;
    // as in src/layer/resolve.ts: hostile link chains must not cost thousands of lstat calls
    if (++steps > MAX_STEPS) {
      throw new KeelError('E_LAYER_PATH', `resolving ${containerPath} in ${root} walks more than ${MAX_STEPS} path components (symlink chains)`);
    }
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const hostPath = path.join(root, ...resolved, component);
    let stat;
    try {
      stat = await fs.lstat(hostPath);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
      throw err;
    }
    if (stat.isSymbolicLink()) {
      if (++links > MAX_LINKS) {
        throw new KeelError('E_LAYER_PATH', `too many levels of symbolic links resolving ${containerPath} in ${root}`);
      }
      const target = await fs.readlink(hostPath);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/').filter((c) => c !== '' && c !== '.'));
      continue;
    }
    resolved.push(component);
  }
  return path.join(root, ...resolved);
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
