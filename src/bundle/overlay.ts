// The container's root at start. A read-only rootfs is the shared tree itself
// (root.path in config.json): nothing to mount, only the mount points and the
// create: true sources to (re)make. A writable rootfs is an overlay mounted on
// BUNDLE/rootfs with lowerdir = the shared tree and upper/work in the slot, in
// the host's mount namespace; it does not survive a reboot, so keel's executor
// calls prepareRootfs before it creates, starts or restarts the unit (the unit
// runs only runc), and releaseRootfs when the slot is re-rendered or removed.
// Invariants: idempotent (an existing mount is left alone); paths that the
// overlay option syntax cannot carry (',', ':', '\\') are refused, not escaped;
// an upper/work directory on a filesystem overlayfs cannot write to (a store
// on overlayfs, as in a container or a live system) is refused before mount(8)
// runs, with its own code, because mount's own answer ("permission denied",
// "wrong fs type") names the wrong cause.

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, fsError } from '../errors.ts';
import { readBundleRecord, type BundleRecord } from './bundle-record.ts';
import { ensureMountPoint } from './mount-point.ts';
import { createMountSources } from './mount-sources.ts';

function run(file: string, args: readonly string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: 60_000 }, (err, _stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

/** Unescapes mountinfo's octal escapes (\040 for space, ...). */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Whether `dir` is a mount point in this process's mount namespace. */
export async function isMountPoint(dir: string): Promise<boolean> {
  const real = await fs.realpath(dir).catch(() => undefined);
  if (real === undefined) return false;
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => {
    const f = line.split(' ');
    return f[4] !== undefined && unescapeMountinfo(f[4]) === real;
  });
}

function overlayPath(p: string): string {
  if (/[,:\\\n]/.test(p)) {
    throw new KeelError('E_USAGE', `${p} cannot be used in an overlay mount (it contains ',', ':' or '\\')`, {
      hint: 'use a keel --root without those characters',
    });
  }
  return p;
}

async function loadRecord(bundleDir: string): Promise<BundleRecord> {
  const record = await readBundleRecord(bundleDir);
  if (record === undefined) {
    throw new KeelError('E_STORE_CORRUPT', `${bundleDir} is not a rendered keel bundle (no keel-bundle.json)`, { hint: 'render the container again (keel apply)' });
  }
  return record;
}

/**
 * statfs(2) f_type of filesystems overlayfs refuses as upperdir/workdir: the
 * upper must support trusted.* xattrs, d_type and RENAME_WHITEOUT
 * (Documentation/filesystems/overlayfs.rst), which these do not.
 */
export const UNFIT_UPPER_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x794c7630, 'overlayfs'],
  [0x6969, 'NFS'],
  [0x4d44, 'FAT'],
]);

/**
 * Whether an overlay upper directory can live on a filesystem of statfs type
 * `fsType`: undefined when it can, else the error that says why and what to do.
 */
export function overlayUpperProblem(fsType: number, upperDir: string, bundle: string): KeelError | undefined {
  const name = UNFIT_UPPER_FILESYSTEMS.get(fsType);
  if (name === undefined) return undefined;
  return new KeelError('E_OVERLAY_UPPER_UNSUPPORTED', `the writable rootfs of ${bundle} needs an overlay upper directory, and ${upperDir} is on ${name}, which overlayfs cannot use as its upper layer`, {
    detail: { bundle, upper: upperDir, filesystem: name, fsType: `0x${fsType.toString(16)}` },
    hint: `put keel's store (--root) on a local disk filesystem such as ext4, xfs or btrfs, or give the container readOnlyRootfs: true (the default) with tmpfs or bind mounts for the paths it writes`,
  });
}

/** statfs(2) f_type of the filesystem holding `dir`. */
async function filesystemType(dir: string): Promise<number> {
  try {
    return Number((await fs.statfs(dir)).type);
  } catch (err) {
    throw fsError(`inspecting the filesystem of ${dir}`, err);
  }
}

export interface PrepareOptions {
  /** statfs f_type of a directory; injectable for tests. */
  readonly filesystemType?: ((dir: string) => Promise<number>) | undefined;
}

export interface PrepareResult {
  /** True when this call mounted the overlay. */
  readonly mounted: boolean;
  readonly rootfs: string;
}

/**
 * Makes a rendered bundle startable: creates the create: true mount sources,
 * re-creates the shared tree's mount points, and for a writable rootfs mounts
 * the overlay on BUNDLE/rootfs unless it is mounted already. Idempotent.
 */
export async function prepareRootfs(bundleDir: string, options: PrepareOptions = {}): Promise<PrepareResult> {
  const bundle = path.resolve(bundleDir);
  const record = await loadRecord(bundle);
  await createMountSources(record.createSources);
  if (!record.writable) {
    for (const mp of record.mountPoints) await ensureMountPoint(record.sharedRootfs, mp.path, mp.kind);
    return { mounted: false, rootfs: record.sharedRootfs };
  }
  const rootfs = path.join(bundle, 'rootfs');
  const upper = path.join(bundle, 'upper');
  const work = path.join(bundle, 'work');
  try {
    for (const d of [rootfs, upper, work]) await fs.mkdir(d, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw fsError(`preparing the overlay directories of ${bundle}`, err);
  }
  if (await isMountPoint(rootfs)) return { mounted: false, rootfs };
  const unfit = overlayUpperProblem(await (options.filesystemType ?? filesystemType)(upper), upper, bundle);
  if (unfit !== undefined) throw unfit;
  const mountOptions = `lowerdir=${overlayPath(record.sharedRootfs)},upperdir=${overlayPath(upper)},workdir=${overlayPath(work)}`;
  const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', mountOptions, rootfs]);
  if (r.code !== 0) {
    throw new KeelError('E_PERMISSION', `mounting the overlay rootfs of ${bundle} failed: ${r.stderr.trim()}`, {
      detail: { bundle, options: mountOptions },
      hint: 'keel must run as root on a kernel with overlayfs',
    });
  }
  return { mounted: true, rootfs };
}

/** Unmounts BUNDLE/rootfs if it is a mount point (a writable rootfs's overlay); true if it was. */
export async function releaseRootfs(bundleDir: string): Promise<boolean> {
  const rootfs = path.join(path.resolve(bundleDir), 'rootfs');
  if (!(await isMountPoint(rootfs))) return false;
  const r = await run('umount', [rootfs]);
  if (r.code !== 0) {
    throw new KeelError('E_PERMISSION', `unmounting ${rootfs} failed: ${r.stderr.trim()}`, { hint: 'stop the container first (it may still be running)' });
  }
  return true;
}
