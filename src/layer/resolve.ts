// Resolution of a path inside a root directory as if the root were `/`
// (what filepath-securejoin and umoci do). Parent components are walked one by
// one with lstat; a symlink among them is never followed by the kernel: its
// target is read and resolved again inside the root (an absolute target starts
// over at the root, `..` stops at the root), with a bounded number of links.
// The final component is never resolved: callers lstat it and replace it.
// Invariant: the returned directory path has no symlink in it below `root`
// (nothing else writes the tree concurrently, so it stays that way).

import { lstat, mkdir, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';

/** Linux's own bound (MAXSYMLINKS). */
export const MAX_SYMLINKS = 40;

let removals = 0;

/** Every removal in a tree bumps this, so cached resolutions (DirResolver) are dropped. */
export function noteRemoval(): void {
  removals += 1;
}

export async function lstatOrNull(hostPath: string): Promise<Stats | null> {
  try {
    return await lstat(hostPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw fsError(`inspecting ${hostPath}`, err);
  }
}

export interface ResolveOptions {
  /** Create missing directories (mode 0755, owned by the caller) instead of returning null. */
  readonly create: boolean;
  /** Named in errors. */
  readonly entry: string;
}

function pathError(entry: string, why: string): KeelError {
  return new KeelError('E_LAYER_PATH', `layer entry ${JSON.stringify(entry.slice(0, 200))}: ${why}`, {
    detail: { name: entry.slice(0, 4096) },
    hint: 'the image is hostile or broken: its paths do not resolve inside the root filesystem',
  });
}

/**
 * Resolves the directory `components` (already normalised, no `..`) inside
 * `root`. Returns the host path of a real directory, or null when a component
 * is missing and `create` is false (or a component is not a directory then).
 */
export async function resolveDirInRoot(root: string, components: readonly string[], options: ResolveOptions): Promise<string | null> {
  const pending = [...components];
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const hostPath = path.join(root, ...resolved, part);
    const st = await lstatOrNull(hostPath);
    if (st === null) {
      if (!options.create) return null;
      try {
        await mkdir(hostPath, { mode: 0o755 });
      } catch (err) {
        throw fsError(`creating directory ${hostPath}`, err);
      }
      resolved.push(part);
      continue;
    }
    if (st.isSymbolicLink()) {
      links += 1;
      if (links > MAX_SYMLINKS) throw pathError(options.entry, `more than ${MAX_SYMLINKS} symlinks in its parents (a loop?)`);
      let target: string;
      try {
        target = await readlink(hostPath);
      } catch (err) {
        throw fsError(`reading symlink ${hostPath}`, err);
      }
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) {
      if (!options.create) return null;
      throw pathError(options.entry, `its parent ${JSON.stringify([...resolved, part].join('/'))} is not a directory`);
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

/**
 * resolveDirInRoot with a cache of resolved directories. Only a removal can
 * change an existing resolution (creating something where nothing was cannot),
 * and every removal calls noteRemoval(), which empties the cache.
 */
export class DirResolver {
  readonly root: string;
  readonly #cache = new Map<string, string>();
  #generation = removals;

  constructor(root: string) {
    this.root = root;
  }

  async resolve(components: readonly string[], options: ResolveOptions): Promise<string | null> {
    if (components.length === 0) return this.root;
    if (this.#generation !== removals) {
      this.#cache.clear();
      this.#generation = removals;
    }
    const key = components.join('/');
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    const found = await resolveDirInRoot(this.root, components, options);
    if (found !== null && this.#generation === removals) this.#cache.set(key, found);
    return found;
  }
}
