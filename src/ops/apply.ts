// keel apply and keel boot: manifests -> observed state -> a plan -> the
// executor. Invariants: every manifest problem and every unit keel does not
// own is reported before anything changes; a dry run observes exactly what a
// real run observes (and runs the same checks) but creates nothing — not even
// the store; a real run holds the containers mutex from observing to the last
// outcome, so concurrent applies of the same input restart nothing twice;
// `boot` runs the digests pinned by the last apply, never pulls, and leaves a
// container whose image is missing to a background pull (ops/boot.ts).

import { KeelError, isKeelError } from '../errors.ts';
import { loadManifests, problemsError, type ContainerSpec } from '../manifest/index.ts';
import { planApply, type DesiredContainer, type ImageFacts, type ObservedContainer, type Plan, type PlannedAction } from '../plan/index.ts';
import { managerNofileHardLimit, runcPath } from '../runtime/index.ts';
import type { Store } from '../store/index.ts';
import { SystemdClient } from '../systemd/index.ts';
import type { SourceOptions } from '../transport/index.ts';
import { mapLimit } from '../util/pool.ts';
import { executePlan, type Outcome } from './execute.ts';
import {
  dependencyNodes, desiredContainer, knownContainers, OBSERVE_CONCURRENCY, observeContainers, storeImageFacts, type ObserveContext, type StoreView, withContainersLock,
} from './observe.ts';

export interface ApplyOptions {
  readonly files: readonly string[];
  readonly set?: Readonly<Record<string, string>> | undefined;
  readonly dryRun?: boolean | undefined;
  /** Also remove containers keel created whose manifests are gone. */
  readonly prune?: boolean | undefined;
  /** Boot mode: pinned digests, no pulls, missing images left to a background pull. */
  readonly boot?: boolean | undefined;
  readonly source: SourceOptions;
  readonly busAddress?: string | undefined;
  readonly recordDir?: string | undefined;
  readonly runc?: string | undefined;
  readonly runcRoot?: string | undefined;
  /** How long Type=simple units are watched after their start jobs (default 1000 ms, once for all). */
  readonly settleMs?: number | undefined;
  readonly log?: ((line: string) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Boot: arranges the background pull of images that are missing. */
  readonly waitImage?: ((actions: readonly PlannedAction[], client: SystemdClient) => Promise<void>) | undefined;
}

export interface ApplyResult {
  readonly dryRun: boolean;
  readonly plan: Plan;
  readonly outcomes: readonly Outcome[];
}

export interface LoadOptions {
  readonly set?: Readonly<Record<string, string>> | undefined;
  /** No container at all is fine (boot, rollback, --prune); otherwise E_SPEC_INVALID. */
  readonly allowEmpty?: boolean | undefined;
  readonly log?: ((line: string) => void) | undefined;
}

/**
 * Loads and validates the manifests (E_SPEC_INVALID lists every problem) and
 * fits them to this host, so that every command that renders (apply, boot,
 * update) renders the same thing.
 */
export async function loadSpecs(files: readonly string[], options: LoadOptions = {}): Promise<ContainerSpec[]> {
  const { specs, problems } = await loadManifests(files, { set: options.set });
  if (problems.length > 0) throw problemsError(problems);
  if (specs.length === 0 && options.allowEmpty !== true) {
    throw new KeelError('E_SPEC_INVALID', `no system containers in ${files.join(', ')}`, { hint: 'give manifest files or a directory of *.yaml' });
  }
  return clampNofile(specs, options.log ?? (() => undefined));
}

/**
 * Clamps resources.nofile to what PID 1 can give (runc cannot raise a hard
 * limit above it). The default (65536) is clamped silently — a default that
 * warned on every apply of a host with a lower limit would be noise; a value
 * the manifest asks for gets a warning.
 */
async function clampNofile(specs: readonly ContainerSpec[], log: (line: string) => void): Promise<ContainerSpec[]> {
  const hard = await managerNofileHardLimit();
  return specs.map((spec) => {
    if (hard === undefined || spec.resources.nofile <= hard) return spec;
    if (spec.given.nofile) log(`warning: ${spec.name}: resources.nofile ${spec.resources.nofile} is over the host's limit (${hard}, PID 1's hard RLIMIT_NOFILE); using ${hard}`);
    return Object.freeze({ ...spec, resources: Object.freeze({ ...spec.resources, nofile: hard }) });
  });
}

/** The first problem of a plan as an error (the command prints them all first). */
export function planProblemsError(plan: Plan): KeelError {
  const [first] = plan.problems;
  if (first === undefined) return new KeelError('E_INTERNAL', 'no plan problems');
  const more = plan.problems.length > 1 ? ` (and ${plan.problems.length - 1} more problem${plan.problems.length > 2 ? 's' : ''})` : '';
  return new KeelError(first.code as never, `${first.message}${more}`, { ...(first.hint !== undefined ? { hint: first.hint } : {}), detail: { problems: plan.problems } });
}

/** Pulls what must be pulled before planning; a failed pull fails that container only (or falls back to the cache). */
async function pullMissing(
  store: Store, specs: readonly ContainerSpec[], facts: Map<string, ImageFacts>, options: ApplyOptions, log: (line: string) => void,
): Promise<void> {
  const done = new Map<string, Promise<ImageFacts>>();
  for (const spec of specs) {
    const f = facts.get(spec.name) as ImageFacts;
    if (!f.pull) continue;
    let p = done.get(f.name);
    if (p === undefined) {
      log(`pulling ${spec.image} for ${spec.name}`);
      p = (async (): Promise<ImageFacts> => {
        const { pullImage } = await import('./pull.ts'); // loaded only when needed
        try {
          const r = await pullImage(store, spec.image, { source: options.source, signal: options.signal });
          return { name: f.name, source: 'registry', digest: r.digest, pull: false };
        } catch (err) {
          if (options.signal?.aborted) throw err;
          if (f.digest !== undefined && isKeelError(err) && err.code.startsWith('E_REGISTRY_')) {
            log(`warning: pulling ${spec.image} failed (${err.message}); using the cached image`);
            return { ...f, source: 'store', pull: false };
          }
          const e = isKeelError(err) ? err : new KeelError('E_INTERNAL', String(err));
          return { name: f.name, source: 'missing', pull: false, error: { code: e.code, message: e.message } };
        }
      })();
      done.set(f.name, p);
    }
    facts.set(spec.name, await p);
  }
}

export async function applyManifests(store: StoreView, options: ApplyOptions): Promise<ApplyResult> {
  const log = options.log ?? (() => undefined);
  const dryRun = options.dryRun === true;
  const specs = await loadSpecs(options.files, { set: options.set, allowEmpty: options.prune === true, log });
  const runc = options.runc ?? runcPath();
  let client: SystemdClient | undefined;
  try {
    client = await SystemdClient.connect({ address: options.busAddress });
  } catch (err) {
    if (!dryRun) throw err;
    log(`note: systemd is not reachable (${(err as Error).message}); unit states unknown`);
  }
  const ctx: ObserveContext = { store, client, recordDir: options.recordDir, runc, runcRoot: options.runcRoot };
  const run = async (): Promise<ApplyResult> => {
    const names = [...specs.map((s) => s.name), ...(options.prune === true ? await knownContainers(store.root, options.recordDir) : [])];
    const observed = await observeContainers(ctx, names);
    // Boot never reaches the network: "always" runs the pinned or cached image, a missing one waits.
    const facts = new Map<string, ImageFacts>(await mapLimit(specs, OBSERVE_CONCURRENCY, async (spec) => (
      [spec.name, await storeImageFacts(store, spec, observed.get(spec.name), options.boot === true)] as const)));
    // Foreign units are refused before anything is pulled.
    const foreign = [...observed.values()].filter((o) => o.owner === 'foreign' && specs.some((s) => s.name === o.name));
    if (!dryRun && foreign.length === 0) await pullMissing(store as Store, specs, facts, options, log);
    const desired: DesiredContainer[] = await mapLimit(specs, OBSERVE_CONCURRENCY, (spec) => desiredContainer(ctx, spec, facts.get(spec.name) as ImageFacts));
    const nodes = dependencyNodes(specs, observed);
    const plan = planApply({ intent: options.boot === true ? 'boot' : 'apply', desired, observed, nodes, prune: options.prune });
    if (dryRun) return { dryRun, plan, outcomes: [] };
    if (plan.problems.length > 0) throw planProblemsError(plan);
    const outcomes = await executePlan(plan, {
      store: store as Store, client: client as SystemdClient, runc, runcRoot: options.runcRoot, recordDir: options.recordDir,
      desired: new Map(desired.map((d) => [d.spec.name, d])), observed: observed as ReadonlyMap<string, ObservedContainer>,
      source: options.source, settleMs: options.settleMs, log, signal: options.signal, waitImage: options.waitImage,
    });
    return { dryRun, plan, outcomes };
  };
  try {
    return dryRun ? await run() : await withContainersLock(store, run);
  } finally {
    await client?.close();
  }
}
