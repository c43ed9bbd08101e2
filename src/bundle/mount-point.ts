// Pre-creates mount points inside a rootfs, resolving every component as if
// the rootfs were `/` (symlinks followed only inside it). runc creates missing
// mount points itself, but the shared per-image tree is read-only to
// containers: keel creates them at render time instead, so runc never writes
// there. Invariants: only new, empty directories (0755) or empty files (0644)
// are created; nothing that exists is changed; a dangling symlink or a
// non-directory on the way is an error, never followed out of the root.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import { resolveInRoot } from './root-path.ts';

export type MountPointKind = 'dir' | 'file';

/** Makes `containerPath` exist in `root` as a directory or file; true if something was created. */
export async function ensureMountPoint(root: string, containerPath: string, kind: MountPointKind): Promise<boolean> {
  const comps = path.posix.resolve('/', containerPath).split('/').filter((c) => c !== '');
  let created = false;
  for (let i = 0; i < comps.length; i++) {
    const last = i === comps.length - 1;
    const prefix = `/${comps.slice(0, i + 1).join('/')}`;
    const found = await resolveInRoot(root, prefix);
    if (found !== undefined) {
      const st = await fs.stat(found).catch((err: unknown) => {
        throw fsError(`inspecting mount point ${prefix} in ${root}`, err);
      });
      if (!last && !st.isDirectory()) {
        throw new KeelError('E_LAYER_PATH', `cannot create mount point ${containerPath} in ${root}: ${prefix} is not a directory in the image`, {
          hint: 'choose a mount target whose parents are directories in the image',
        });
      }
      continue;
    }
    const parent = i === 0 ? root : await resolveInRoot(root, `/${comps.slice(0, i).join('/')}`);
    if (parent === undefined) throw new KeelError('E_INTERNAL', `mount point parent of ${prefix} vanished in ${root}`);
    const hostPath = path.join(parent, comps[i] as string);
    const lst = await fs.lstat(hostPath).catch(() => undefined);
    if (lst?.isSymbolicLink()) {
      throw new KeelError('E_LAYER_PATH', `cannot create mount point ${containerPath} in ${root}: ${prefix} is a dangling symbolic link in the image`, {
        hint: 'mount somewhere the image has a real directory, or fix the image',
      });
    }
    try {
      if (last && kind === 'file') await fs.writeFile(hostPath, '', { flag: 'wx', mode: 0o644 });
      else await fs.mkdir(hostPath, { mode: 0o755 });
      created = true;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw fsError(`creating mount point ${containerPath} in ${root}`, err);
    }
  }
  return created;
}
