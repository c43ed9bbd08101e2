// Host-side checks of a spec's bind-mount sources, done at render time and
// again before the container starts. A source that is, or is under, a
// sensitive host path (SENSITIVE_SOURCES from manifest/, plus keel's real
// --root) is refused unless the mount says `allowSensitive: true`; so is a
// source that contains keel's root (binding /var would expose the store,
// whose files every container shares through hard links). Symlinked sources
// are checked by their real path too. A missing source is created (0755
// directory) only with `create: true`; otherwise it is E_MOUNT_SOURCE.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import { DEFAULT_STORE_ROOT, sensitiveSource, type BindMount, type ContainerSpec } from '../manifest/index.ts';

/** A bind source as found on the host. */
export interface SourceState {
  readonly source: string;
  /** 'missing' only for mounts with create: true (others throw). */
  readonly kind: 'dir' | 'file' | 'missing';
}

/** The sensitive path that `source` is or is under, or that it contains (keel's root); undefined if none. */
export function sensitiveMatch(source: string, keelRoot: string): string | undefined {
  return sensitiveSource(source, [DEFAULT_STORE_ROOT, path.resolve(keelRoot)]);
}

function refused(m: BindMount, hit: string, real?: string): KeelError {
  return new KeelError('E_MOUNT_SOURCE', `mount source ${m.source}${real !== undefined && real !== m.source ? ` (really ${real})` : ''} is, is under, or contains the sensitive host path ${hit}`, {
    detail: { source: m.source, target: m.target, sensitive: hit },
    hint: 'set allowSensitive: true on this mount if the container really needs it',
  });
}

/** Checks one bind source; returns its state. Throws E_MOUNT_SOURCE when refused or missing without create. */
export async function checkBindSource(m: BindMount, keelRoot: string): Promise<SourceState> {
  if (!path.isAbsolute(m.source)) {
    throw new KeelError('E_MOUNT_SOURCE', `mount source ${m.source} is not an absolute path`, { detail: { source: m.source } });
  }
  const source = path.resolve(m.source);
  if (!m.allowSensitive) {
    const hit = sensitiveMatch(source, keelRoot);
    if (hit !== undefined) throw refused(m, hit);
  }
  let real: string;
  try {
    real = await fs.realpath(source);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw fsError(`looking at mount source ${source}`, err);
    if (!m.create) {
      throw new KeelError('E_MOUNT_SOURCE', `mount source ${source} (for ${m.target}) does not exist`, {
        detail: { source, target: m.target },
        hint: 'create it on the host, or set create: true on the mount to have keel create an empty directory',
      });
    }
    return { source, kind: 'missing' };
  }
  if (!m.allowSensitive) {
    const hit = sensitiveMatch(real, keelRoot);
    if (hit !== undefined) throw refused(m, hit, real);
  }
  const st = await fs.stat(real).catch((err: unknown) => {
    throw fsError(`looking at mount source ${source}`, err);
  });
  return { source, kind: st.isDirectory() ? 'dir' : 'file' };
}

/** Checks every bind source of `spec` (in order); nothing is created. */
export async function checkMountSources(spec: ContainerSpec, keelRoot: string): Promise<SourceState[]> {
  const out: SourceState[] = [];
  for (const m of spec.mounts) if (m.type === 'bind') out.push(await checkBindSource(m, keelRoot));
  return out;
}

/** Creates missing sources (mkdir -p, 0755) — only those a create: true mount named. Idempotent. */
export async function createMountSources(sources: readonly string[]): Promise<void> {
  for (const s of sources) {
    try {
      await fs.mkdir(s, { recursive: true, mode: 0o755 });
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') continue;
      throw new KeelError('E_MOUNT_SOURCE', `cannot create mount source ${s}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, detail: { source: s } });
    }
  }
}
