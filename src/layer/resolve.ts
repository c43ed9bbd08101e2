// Resolution of a path inside a root directory as if the root were `/`
// (what filepath-securejoin and umoci do). Parent components are walked one by
// one with lstat; a symlink among them is never followed by the kernel: its
// target is read and resolved again inside the root (an absolute target starts
// over at the root, `..` stops at the root), with a bounded number of links
// (40) and of components walked (MAX_RESOLVE_STEPS: hostile link chains must
// not turn one entry into tens of thousands of syscalls).
// The final component is never resolved: callers lstat it and replace it.
// Invariant: the returned directory path has no symlink in it below `root`
// (nothing else writes the tree concurrently, so it stays that way).

import { lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
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

/** lstatOrNull without a thread-pool round trip (fs-ops.ts says why). */
export function lstatSyncOrNull(hostPath: string): Stats | null {
  try {
    return lstatSync(hostPath);
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
 * Components walked in one resolution, the components of every symlink target
 * followed included (`.` and empty ones are free). Linux allows 40 links of
 * 4096 bytes each; walked with a syscall per component, that lets a tiny layer
 * make keel lstat ~80,000 times per entry, for a million entries (days). A
 * real image needs a few dozen (twice the deepest entry path, 128, fits); past
 * this the entry is E_LAYER_PATH.
 */
export const MAX_RESOLVE_STEPS = 256;

/**
 * What resolution learnt about existing host paths: null for a directory, the
 * target for a symlink. Only a removal can make an entry wrong (a node is
 * never changed in place: replacing it removes it first), and every removal
 * calls noteRemoval(), which the owner (DirResolver) answers by clearing it.
 */
export type KnownNodes = Map<string, string | null>;

/**
 * Resolves the directory `components` (already normalised, no `..`) inside
 * `root`. Returns the host path of a real directory, or null when a component
 * is missing and `create` is false (or a component is not a directory then).
 */
export async function resolveDirInRoot(root: string, components: readonly string[], options: ResolveOptions, known?: KnownNodes): Promise<string | null> {
  const pending = [...components].reverse(); // a stack: the next component is last
  // hosts[i] is the host path of the first i+1 resolved components; none of them is a symlink
  const base = root === '/' ? '' : root;
  const hosts: string[] = [];
  let links = 0;
  let steps = 0;
  while (pending.length > 0) {
    const part = pending.pop() as string;
    if (part === '' || part === '.') continue;
    steps += 1;
    if (steps > MAX_RESOLVE_STEPS) throw pathError(options.entry, `more than ${MAX_RESOLVE_STEPS} components to walk through its parents' symlinks`);
    if (part === '..') {
      hosts.pop();
      continue;
    }
    const hostPath = `${hosts.length === 0 ? base : hosts[hosts.length - 1]}/${part}`;
    let link = known?.get(hostPath);
    if (link === undefined) {
      const st = lstatSyncOrNull(hostPath);
      if (st === null) {
        if (!options.create) return null;
        try {
          mkdirSync(hostPath, { mode: 0o755 });
        } catch (err) {
          throw fsError(`creating directory ${hostPath}`, err);
        }
        known?.set(hostPath, null);
        hosts.push(hostPath);
        continue;
      }
      if (st.isSymbolicLink()) {
        try {
          link = readlinkSync(hostPath);
        } catch (err) {
          throw fsError(`reading symlink ${hostPath}`, err);
        }
      } else if (st.isDirectory()) {
        link = null;
      } else {
        if (!options.create) return null;
        throw pathError(options.entry, `its parent ${JSON.stringify(path.relative(root, hostPath))} is not a directory`);
      }
      known?.set(hostPath, link);
    }
    if (link !== null) {
      links += 1;
      if (links > MAX_SYMLINKS) throw pathError(options.entry, `more than ${MAX_SYMLINKS} symlinks in its parents (a loop?)`);
      if (link.startsWith('/')) hosts.length = 0;
      const parts = link.split('/');
      for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i] as string);
      continue;
    }
    hosts.push(hostPath);
  }
  return hosts.length === 0 ? root : (hosts[hosts.length - 1] as string);
}

/**
 * resolveDirInRoot with a cache of resolved directories and of the nodes met on
 * the way (KnownNodes). Only a removal can change an existing resolution
 * (creating something where nothing was cannot), and every removal calls
 * noteRemoval(), which empties both.
 */
export class DirResolver {
  readonly root: string;
  readonly #cache = new Map<string, string>();
  readonly #known: KnownNodes = new Map();
  #generation = removals;

  constructor(root: string) {
    this.root = root;
  }

  async resolve(components: readonly string[], options: ResolveOptions): Promise<string | null> {
    if (components.length === 0) return this.root;
    if (this.#generation !== removals) {
      this.#cache.clear();
      this.#known.clear();
      this.#generation = removals;
    }
    const key = components.join('/');
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    const found = await resolveDirInRoot(this.root, components, options, this.#known);
    if (found !== null && this.#generation === removals) this.#cache.set(key, found);
    return found;
  }
}
