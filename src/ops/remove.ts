// keel remove NAME...: a plan (plan/planRemove) run by the executor. The
// names are removed dependents first, whatever order they were given in; a
// container that another unit still requires is refused before anything
// changes; host state directories (bind-mount sources such as /var/lib/etcd)
// are never touched. Also finds the manifests that still describe the
// containers (the next boot or apply would bring them back).

import { promises as fs } from 'node:fs';
import { KeelError, errnoCode, fsError } from '../errors.ts';
import { loadManifests } from '../manifest/index.ts';
import { planRemove, type Plan } from '../plan/index.ts';
import { runcPath } from '../runtime/index.ts';
import type { Store } from '../store/index.ts';
import { SystemdClient } from '../systemd/index.ts';
import { planProblemsError } from './apply.ts';
import { executePlan, type Outcome } from './execute.ts';
import { dependencyNodes, knownContainers, observeContainers, withContainersLock, type StoreView } from './observe.ts';

export interface RemoveOptions {
  readonly dryRun?: boolean | undefined;
  readonly busAddress?: string | undefined;
  readonly recordDir?: string | undefined;
  readonly runc?: string | undefined;
  readonly runcRoot?: string | undefined;
  readonly log?: ((line: string) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface RemoveResult {
  readonly plan: Plan;
  readonly outcomes: readonly Outcome[];
}

export async function removeContainers(store: StoreView, names: readonly string[], options: RemoveOptions = {}): Promise<RemoveResult> {
  const log = options.log ?? (() => undefined);
  const runc = options.runc ?? runcPath();
  const client = await SystemdClient.connect({ address: options.busAddress });
  const run = async (): Promise<RemoveResult> => {
    const ctx = { store, client, recordDir: options.recordDir, runc, runcRoot: options.runcRoot };
    const observed = await observeContainers(ctx, [...names, ...(await knownContainers(store.root, options.recordDir))]);
    const plan = planRemove({ names, observed, nodes: dependencyNodes([], observed) });
    if (options.dryRun === true) return { plan, outcomes: [] };
    if (plan.problems.length > 0) throw planProblemsError(plan);
    const outcomes = await executePlan(plan, {
      store: store as Store, client, runc, runcRoot: options.runcRoot, recordDir: options.recordDir,
      desired: new Map(), observed, log, signal: options.signal,
    });
    return { plan, outcomes };
  };
  try {
    return options.dryRun === true ? await run() : await withContainersLock(store, run);
  } finally {
    await client.close();
  }
}

/** The manifest files in `dir` that describe each of `names` (whatever else they contain). */
export async function manifestFilesOf(dir: string, names: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  try {
    await fs.access(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return out;
    throw fsError(`reading ${dir}`, err);
  }
  // Problems in other documents do not matter here: only which files name the containers.
  const { specs } = await loadManifests([dir]).catch(() => ({ specs: [] }));
  for (const s of specs) {
    if (!names.includes(s.name)) continue;
    out.set(s.name, [...new Set([...(out.get(s.name) ?? []), s.source.file])]);
  }
  return out;
}

/**
 * The manifest files to delete with the containers (`--delete-manifest`),
 * checked before anything is removed: a file that also describes a container
 * not being removed is refused (E_USAGE), since keel does not edit YAML.
 */
export async function manifestFilesToDelete(dir: string, names: readonly string[]): Promise<string[]> {
  const { specs } = await loadManifests([dir]).catch(() => ({ specs: [] }));
  const files = new Set(specs.filter((s) => names.includes(s.name)).map((s) => s.source.file));
  const shared = [...files].filter((f) => specs.some((s) => s.source.file === f && !names.includes(s.name)));
  if (shared.length > 0) {
    throw new KeelError('E_USAGE', `${shared.join(', ')} also describe${shared.length === 1 ? 's' : ''} containers that are not being removed; keel does not edit manifests`, {
      hint: 'remove the documents from the file by hand',
    });
  }
  return [...files].sort();
}

export async function deleteFiles(files: readonly string[]): Promise<void> {
  for (const f of files) {
    try {
      await fs.rm(f, { force: true });
    } catch (err) {
      throw fsError(`deleting the manifest ${f}`, err);
    }
  }
}
