// keel update and keel rollback: plans (plan/planUpdate, planRollback) run by
// the executor. Update re-resolves each selected container's image at its
// source (registry, oci:, archive), pulls what is new, renders it into the
// inactive slot, switches, restarts and health-gates it, switching back by
// itself if the gate fails; dependents are restarted after it either way.
// A dry run resolves without pulling and changes nothing. Rollback switches a
// container to its other slot and restarts it and its dependents.

import { KeelError, isKeelError } from '../errors.ts';
import type { ContainerSpec } from '../manifest/index.ts';
import { storeName } from '../oci/reference.ts';
import { planRollback, planUpdate, type DesiredContainer, type ImageFacts, type Plan } from '../plan/index.ts';
import { runcPath } from '../runtime/index.ts';
import type { Store } from '../store/index.ts';
import { SystemdClient } from '../systemd/index.ts';
import type { SourceOptions } from '../transport/index.ts';
import { loadSpecs, planProblemsError } from './apply.ts';
import { executePlan, type Outcome } from './execute.ts';
import { dependencyNodes, desiredContainer, knownContainers, observeContainers, withContainersLock, type StoreView } from './observe.ts';

export interface UpdateOptions {
  readonly files: readonly string[];
  readonly set?: Readonly<Record<string, string>> | undefined;
  /** Containers to update; empty with `all` or `auto`. */
  readonly names: readonly string[];
  readonly all?: boolean | undefined;
  /** Only containers whose manifest says autoUpdate: true (keel-update.timer). */
  readonly auto?: boolean | undefined;
  /** Try again an image that failed its health gate before. */
  readonly retryFailed?: boolean | undefined;
  readonly dryRun?: boolean | undefined;
  readonly source: SourceOptions;
  readonly busAddress?: string | undefined;
  readonly recordDir?: string | undefined;
  readonly runc?: string | undefined;
  readonly runcRoot?: string | undefined;
  /** Stability window of the health gate (default 5000 ms). */
  readonly windowMs?: number | undefined;
  readonly log?: ((line: string) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface LifecycleResult {
  readonly dryRun: boolean;
  readonly plan: Plan;
  readonly outcomes: readonly Outcome[];
}

function select(specs: readonly ContainerSpec[], options: UpdateOptions): ContainerSpec[] {
  if (options.auto === true) return specs.filter((s) => s.autoUpdate);
  if (options.all === true) return [...specs];
  const unknown = options.names.filter((n) => !specs.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new KeelError('E_CONTAINER_NOT_FOUND', `no manifest describes ${unknown.join(', ')}`, {
      detail: { names: unknown }, hint: 'keel update takes the names of containers in the manifest directory (or --all)',
    });
  }
  return specs.filter((s) => options.names.includes(s.name));
}

/** The image each container's reference names at its source now: pulled (real run) or only resolved (dry run). */
async function resolveImages(store: StoreView, specs: readonly ContainerSpec[], options: UpdateOptions, log: (line: string) => void): Promise<Map<string, ImageFacts>> {
  const { pullImage, resolveImage } = await import('./pull.ts');
  const byImage = new Map<string, Promise<ImageFacts>>();
  const out = new Map<string, ImageFacts>();
  for (const spec of specs) {
    const name = storeName(spec.reference);
    let p = byImage.get(name);
    if (p === undefined) {
      p = (async (): Promise<ImageFacts> => {
        try {
          if (options.dryRun === true) {
            const r = await resolveImage(spec.image, { source: options.source });
            return { name, source: 'registry', digest: r.digest, pull: !(await store.getRef(name).then((d) => d?.digest === r.digest)) };
          }
          log(`resolving and pulling ${spec.image}`);
          const r = await pullImage(store as Store, spec.image, { source: options.source, signal: options.signal });
          return { name, source: 'registry', digest: r.digest, pull: false };
        } catch (err) {
          if (options.signal?.aborted) throw err;
          const e = isKeelError(err) ? err : new KeelError('E_INTERNAL', String(err));
          return { name, source: 'missing', pull: false, error: { code: e.code, message: e.message } };
        }
      })();
      byImage.set(name, p);
    }
    out.set(spec.name, await p);
  }
  return out;
}

export async function updateContainers(store: StoreView, options: UpdateOptions): Promise<LifecycleResult> {
  const log = options.log ?? (() => undefined);
  const dryRun = options.dryRun === true;
  const specs = await loadSpecs(options.files, { set: options.set, log });
  const selected = select(specs, options);
  const runc = options.runc ?? runcPath();
  const client = await SystemdClient.connect({ address: options.busAddress });
  const run = async (): Promise<LifecycleResult> => {
    const ctx = { store, client, recordDir: options.recordDir, runc, runcRoot: options.runcRoot };
    const observed = await observeContainers(ctx, [...specs.map((s) => s.name), ...(await knownContainers(store.root, options.recordDir))]);
    const deployed = selected.filter((s) => observed.get(s.name)?.active !== undefined);
    const facts = await resolveImages(store, deployed, options, log);
    const desired: DesiredContainer[] = [];
    for (const spec of selected) {
      const f = facts.get(spec.name) ?? { name: storeName(spec.reference), source: 'missing' as const, pull: false };
      desired.push(await desiredContainer(ctx, spec, f));
    }
    const plan = planUpdate({ desired, observed, nodes: dependencyNodes(specs, observed), retryFailed: options.retryFailed });
    if (dryRun) return { dryRun, plan, outcomes: [] };
    if (plan.problems.length > 0) throw planProblemsError(plan);
    const outcomes = await executePlan(plan, {
      store: store as Store, client, runc, runcRoot: options.runcRoot, recordDir: options.recordDir,
      desired: new Map(desired.map((d) => [d.spec.name, d])), observed, source: options.source,
      windowMs: options.windowMs, log, signal: options.signal,
    });
    return { dryRun, plan, outcomes };
  };
  try {
    return dryRun ? await run() : await withContainersLock(store, run);
  } finally {
    await client.close();
  }
}

export interface RollbackOptions {
  /** The manifest directory: specs give dependents and unit properties (optional). */
  readonly files: readonly string[];
  readonly names: readonly string[];
  readonly dryRun?: boolean | undefined;
  readonly busAddress?: string | undefined;
  readonly recordDir?: string | undefined;
  readonly runc?: string | undefined;
  readonly runcRoot?: string | undefined;
  readonly log?: ((line: string) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export async function rollbackContainers(store: StoreView, options: RollbackOptions): Promise<LifecycleResult> {
  const log = options.log ?? (() => undefined);
  const dryRun = options.dryRun === true;
  // The manifests are context here, not the subject: a broken or absent directory does not block a rollback.
  const specs = await loadSpecs(options.files, { allowEmpty: true }).catch(() => [] as ContainerSpec[]);
  const runc = options.runc ?? runcPath();
  const client = await SystemdClient.connect({ address: options.busAddress });
  const run = async (): Promise<LifecycleResult> => {
    const ctx = { store, client, recordDir: options.recordDir, runc, runcRoot: options.runcRoot };
    const observed = await observeContainers(ctx, [...options.names, ...specs.map((s) => s.name), ...(await knownContainers(store.root, options.recordDir))]);
    const plan = planRollback({ names: options.names, observed, nodes: dependencyNodes(specs, observed) });
    if (dryRun) return { dryRun, plan, outcomes: [] };
    if (plan.problems.length > 0) throw planProblemsError(plan);
    const desired = new Map<string, DesiredContainer>();
    for (const spec of specs.filter((s) => options.names.includes(s.name))) {
      const o = observed.get(spec.name);
      if (o?.previous === undefined) continue;
      desired.set(spec.name, await desiredContainer(ctx, spec, { name: o.previous.imageName, source: 'pinned', digest: o.previous.imageDigest, pull: false }));
    }
    const outcomes = await executePlan(plan, {
      store: store as Store, client, runc, runcRoot: options.runcRoot, recordDir: options.recordDir, desired, observed, log, signal: options.signal,
    });
    return { dryRun, plan, outcomes };
  };
  try {
    return dryRun ? await run() : await withContainersLock(store, run);
  } finally {
    await client.close();
  }
}
