// The store's on-disk layout (docs/design.md "On disk"; its paths are
// layout/paths.ts's) and its creation, validation and start-up cleanup.
//
//   oci-layout, index.json          OCI image layout; refs are ref.name annotations
//   blobs/<alg>/<hex>               content-addressed blobs
//   layers/<alg>/<hex>/             extracted layer trees, keyed by diff_id
//   layers/<alg>/<hex>.json         completion record, written last
//   layers/<alg>/<hex>.damaged      a layer check found changed: its record, renamed (the tree is gone)
//   tmp/                            staging; names start with the owner token
//   locks/                          see lock.ts
//
// Invariants: root is a directory of mode 0700 when keel creates it; every
// path derived from a digest goes through parseDigest first; index.json and
// oci-layout are created with link(2) so two creators cannot clobber each other.

import { chmod, link, lstat, mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import { MediaType } from '../oci/media-types.ts';
import { fsyncDir } from './fs-sync.ts';
import { uniqueName } from '../layout/owner.ts';
import { reclaimDead } from '../layout/staging.ts';
import { RootPaths } from '../layout/paths.ts';

export const OCI_LAYOUT = { imageLayoutVersion: '1.0.0' } as const;
/**
 * keel's format of the store as a whole (keel-store.json): the layout of
 * blobs/, layers/ and their records, rootfs/ and containers/. A store without
 * the file was written before it existed and is format 1 (nothing differs);
 * a writing open adds the file. A store of a higher format is refused, read or
 * write, and left untouched: a later keel may change the layout, and this one
 * must not half-understand it.
 */
export const STORE_FORMAT = 1;
export const EMPTY_INDEX = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] } as const;

/** The store's part of the --root layout (layout/paths.ts owns every path), plus staging in tmp/. */
export class Layout extends RootPaths {
  tmpPath(kind: string): string {
    return join(this.tmp, uniqueName(kind));
  }
}

function notStore(root: string, why: string): KeelError {
  return new KeelError('E_STORE_CORRUPT', `${root} is not a keel store: ${why}`, {
    detail: { root },
    hint: 'pass --root a keel store directory, or an empty or missing directory to create one',
  });
}

/**
 * Creates `path` with `data` unless it exists: link(2) of a complete temp file
 * whose data is on disk first (a power cut cannot leave an empty file), never
 * half-written nor clobbered; the caller syncs the directory.
 */
async function createIfAbsent(layout: Layout, path: string, data: string): Promise<void> {
  const tmp = layout.tmpPath('init');
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, path);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw fsError(`creating ${path}`, err);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Creates the store's directories, and tightens any that exist with a wider
 * mode to 0700: tmp/ holds half-extracted layers, and layers may carry
 * setuid-root files that no other local user may reach.
 */
async function ensureDirs(layout: Layout): Promise<void> {
  for (const dir of [layout.tmp, layout.locks, join(layout.locks, 'shared'), layout.blobsRoot, join(layout.blobsRoot, 'sha256'), layout.layersRoot, join(layout.layersRoot, 'sha256')]) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const st = await lstat(dir);
      if (!st.isDirectory()) throw notStore(layout.root, `${dir} is not a directory`);
      if ((st.mode & 0o7777) !== 0o700) await chmod(dir, 0o700);
    } catch (err) {
      if (err instanceof KeelError) throw err;
      throw fsError(`creating store directory ${dir}`, err);
    }
  }
}

/**
 * keel runs as root and writes inside the store: a root that another user owns
 * (who could swap tmp/ for a symlink mid-extraction) is refused, and the root
 * is always 0700.
 */
async function secureRoot(root: string, st: { uid: number; mode: number }, repair: boolean): Promise<void> {
  const euid = process.geteuid?.();
  if (euid !== undefined && st.uid !== euid) {
    throw new KeelError('E_PERMISSION', `the store ${root} is owned by uid ${st.uid}, not by keel's user (uid ${euid})`, {
      detail: { root, owner: st.uid },
      hint: `another user could tamper with the store while keel writes to it as root; use a --root that uid ${euid} owns`,
    });
  }
  if (repair && (st.mode & 0o7777) !== 0o700) {
    try {
      await chmod(root, 0o700);
    } catch (err) {
      throw fsError(`restricting the store ${root} to mode 0700`, err);
    }
  }
}

/** Opens (and with `create`, initialises) the layout at `root`; see Store.open. */
export async function openLayout(root: string, create: boolean, readOnly = false): Promise<Layout> {
  const layout = new Layout(root);
  let st;
  try {
    st = await lstat(root);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw fsError(`opening store ${root}`, err);
  }
  if (st === undefined) {
    if (!create) {
      throw new KeelError('E_STORE_NOT_FOUND', `there is no keel store at ${root}`, { detail: { root }, hint: 'pull an image first, or check --root' });
    }
    try {
      await mkdir(root, { recursive: true, mode: 0o700 });
      await chmod(root, 0o700);
    } catch (err) {
      throw fsError(`creating store ${root}`, err);
    }
  } else if (!st.isDirectory()) {
    throw notStore(root, 'it is not a directory');
  } else {
    await secureRoot(root, st, false); // its mode is repaired below, once the store is known to be one this keel may write
  }
  let layoutText: string | undefined;
  try {
    layoutText = await readFile(join(root, 'oci-layout'), 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw fsError(`reading ${join(root, 'oci-layout')}`, err);
  }
  if (layoutText === undefined) {
    const entries = await readdir(root).catch((err: unknown) => {
      throw fsError(`listing store ${root}`, err);
    });
    // An empty directory, or one a concurrent creator has just started on, may be initialised.
    // (oci-layout too: a concurrent creator may link it between our read and this listing.)
    const ours = new Set(['tmp', 'locks', 'blobs', 'layers', 'index.json', 'oci-layout', 'keel-store.json']);
    if (!create || readOnly || entries.some((e) => !ours.has(e))) {
      throw notStore(root, create ? 'it is not empty and has no oci-layout file' : 'it has no oci-layout file');
    }
    if (st !== undefined) await chmod(root, 0o700).catch(() => {});
    await ensureDirs(layout);
    await createIfAbsent(layout, layout.index, `${JSON.stringify(EMPTY_INDEX)}\n`);
    await createIfAbsent(layout, layout.storeFormat, `${JSON.stringify({ format: STORE_FORMAT })}\n`);
    await createIfAbsent(layout, join(root, 'oci-layout'), `${JSON.stringify(OCI_LAYOUT)}\n`);
    await fsyncDir(root);
  } else {
    let version: unknown;
    try {
      version = (JSON.parse(layoutText) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      throw notStore(root, 'its oci-layout file is not JSON');
    }
    if (typeof version !== 'string' || !version.startsWith('1.')) throw notStore(root, `unsupported imageLayoutVersion ${JSON.stringify(version)}`);
    const format = await readStoreFormat(layout);
    // Opened only to read, the store is left exactly as it is (no repair, no cleaning).
    if (readOnly) return layout;
    if (st !== undefined) await secureRoot(root, st, true);
    await ensureDirs(layout);
    await createIfAbsent(layout, layout.index, `${JSON.stringify(EMPTY_INDEX)}\n`);
    if (format === undefined) {
      await rm(layout.storeFormat, { force: true }); // absent, or empty (cut short): written afresh
      await createIfAbsent(layout, layout.storeFormat, `${JSON.stringify({ format: STORE_FORMAT })}\n`);
      await fsyncDir(root);
    }
  }
  await cleanLeftovers(layout);
  return layout;
}

/** The store's format from keel-store.json (undefined: a store from before the file); refuses one this keel does not know. */
async function readStoreFormat(layout: Layout): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(layout.storeFormat, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw fsError(`reading ${layout.storeFormat}`, err);
  }
  // Empty: a file cut short before its data reached the disk (by an older keel): as if absent.
  if (text.trim() === '') return undefined;
  let format: unknown;
  try {
    format = (JSON.parse(text) as { format?: unknown }).format;
  } catch {
    throw notStore(layout.root, 'its keel-store.json is not JSON');
  }
  if (typeof format !== 'number' || !Number.isSafeInteger(format) || format < 1) throw notStore(layout.root, `its keel-store.json names no format (${JSON.stringify(format)})`);
  if (format > STORE_FORMAT) {
    throw new KeelError('E_STORE_VERSION', `the store at ${layout.root} has format ${format}, written by a newer keel; this keel reads format ${STORE_FORMAT} and changed nothing`, {
      detail: { root: layout.root, format, supported: STORE_FORMAT },
      hint: 'run the keel that wrote it (upgrade this one), or give another --root',
    });
  }
  return format;
}

/** Removes entries of tmp/ whose owning process is dead (layout/staging.ts reclaimDead). Returns how many. */
export async function cleanLeftovers(layout: Layout): Promise<number> {
  return (await reclaimDead(layout.tmp)).length;
}
