// Listing of what is on disk under blobs/ and layers/, for check and prune.
// Names are validated here: only `<alg>/<hex>` of a known algorithm counts as
// a blob or layer; anything else is reported as stray.

import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fsError } from '../errors.ts';
import { Digester, isDigest, type Digest, type DigestAlgorithm } from '../oci/digest.ts';

export interface ScanItem {
  readonly path: string;
  /** The digest the name stands for, or undefined for a stray name. */
  readonly digest: Digest | undefined;
  readonly isDir: boolean;
  /** For layers/: the entry is a `<hex>.json` record. */
  readonly isRecord: boolean;
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw fsError(`listing ${dir}`, err);
  }
}

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
      const hex = isRecord ? name.slice(0, -5) : name;
      const candidate = `${alg}:${hex}`;
      out.push({ path, digest: isDigest(candidate) ? (candidate as Digest) : undefined, isDir: st.isDirectory(), isRecord });
    }
  }
  return out;
}

/** sha256/sha512 of a file's bytes, streamed. */
export async function hashFile(path: string, algorithm: DigestAlgorithm): Promise<Digest> {
  const digester = new Digester(algorithm);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) digester.update(chunk as Buffer);
  } catch (err) {
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
