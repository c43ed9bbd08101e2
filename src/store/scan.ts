// Listing of what is on disk under blobs/ and layers/, for check and prune.
// Names are validated here: only `<alg>/<hex>` of a known algorithm counts as
// a blob or layer; anything else is reported as stray.

import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fsError } from '../errors.ts';
import { Digester, isDigest, type Digest, type DigestAlgorithm } from '../oci/digest.ts';
import { openRegularFile } from './regular-file.ts';

export interface ScanItem {
  readonly path: string;
  /** The digest the name stands for, or undefined for a stray name. */
  readonly digest: Digest | undefined;
  readonly isDir: boolean;
  /** For layers/: the entry is a `<hex>.json` record. */
  readonly isRecord: boolean;
  /** For layers/: the entry is a `<hex>.damaged` mark (a layer check set aside; see Store.quarantineLayer). */
  readonly isDamaged: boolean;
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw fsError(`listing ${dir}`, err);
  }
}

export const DAMAGED_SUFFIX = '.damaged';

/** Every entry of `<top>/<alg>/`. */
export async function scanTree(top: string): Promise<ScanItem[]> {
  const out: ScanItem[] = [];
  for (const alg of await list(top)) {
    const algDir = join(top, alg);
    for (const name of await list(algDir)) {
      const path = join(algDir, name);
      const st = await lstat(path).catch((err: unknown) => {
        throw fsError(`looking at ${path}`, err);
      });
      const isRecord = name.endsWith('.json');
      const isDamaged = name.endsWith(DAMAGED_SUFFIX);
      const hex = isRecord ? name.slice(0, -5) : isDamaged ? name.slice(0, -DAMAGED_SUFFIX.length) : name;
      const candidate = `${alg}:${hex}`;
      out.push({ path, digest: isDigest(candidate) ? (candidate as Digest) : undefined, isDir: st.isDirectory(), isRecord, isDamaged });
    }
  }
  return out;
}

/**
 * sha256/sha512 of a regular file's bytes, read in 1 MiB chunks. A symlink,
 * FIFO or device is E_STORE_CORRUPT (never opened through, never waited on);
 * `signal` is honoured between chunks.
 */
export async function hashFile(path: string, algorithm: DigestAlgorithm, signal?: AbortSignal): Promise<Digest> {
  signal?.throwIfAborted();
  const digester = new Digester(algorithm);
  try {
    const fh = await openRegularFile(path);
    try {
      const buf = Buffer.allocUnsafe(1024 * 1024);
      for (;;) {
        signal?.throwIfAborted();
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        digester.update(buf.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (signal?.aborted && err === signal.reason) throw err;
    throw fsError(`reading ${path}`, err);
  }
  return digester.digest();
}

/** Total bytes of regular files under `path` (lstat, no symlinks followed). */
export async function treeBytes(path: string): Promise<number> {
  let total = 0;
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p);
    if (st.isDirectory()) {
      for (const name of await readdir(p)) await visit(join(p, name));
    } else if (st.isFile()) {
      total += st.size;
    }
  };
  try {
    await visit(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw fsError(`measuring ${path}`, err);
  }
  return total;
}
