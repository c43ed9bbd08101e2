// keel apply: manifests -> validated specs -> images (per pull policy) ->
// rendered bundles -> transient units, in dependency order. Invariants:
// every problem (including an ordering cycle) and every unit keel does not
// own is reported before anything is pulled, rendered or started; a dry run
// reads but changes nothing; a container whose rendered inputs and unit
// properties equal keel's record of the running unit is left alone (no
// restart); changed bundle inputs restart the unit in place (ExecStart names
// the container's `active` slot link, so the restart runs the new slot);
// changed unit properties re-create the transient unit.

import path from 'node:path';
import { KeelError, isKeelError } from '../errors.ts';
import { loadManifests, problemsError, startOrder, type ContainerSpec } from '../manifest/index.ts';
import { storeName } from '../oci/reference.ts';
import type { Store } from '../store/index.ts';
import { SystemdClient, type UnitState } from '../systemd/index.ts';
import type { SourceOptions } from '../transport/index.ts';
import {
  containerCgroupsPath, renderContainerUnit, runcPath, writeAppliedRecord, type AppliedRecord,
} from '../runtime/index.ts';
import { containerDir } from '../bundle/index.ts';
import { managerNofileHardLimit } from '../runtime/index.ts';
import { prepareRootfs, renderContainer } from './render.ts';
import { ensureKeepAlive, ownedUnit, propertiesDigest, settle, unregister, withJournal } from './container-units.ts';

export type ImageAction = 'cached' | 'pull' | 'pull-always' | 'missing-never';
export type UnitAction = 'create' | 'keep' | 'start' | 'restart' | 'recreate' | 'check';

export interface ApplyOptions {
  readonly files: readonly string[];
  readonly set?: Readonly<Record<string, string>> | undefined;
  readonly dryRun?: boolean | undefined;
  readonly source: SourceOptions;
  /** D-Bus address of the system bus (default: the client's default). */
  readonly busAddress?: string | undefined;
  /** keel's applied records (default /run/keel/units). */
  readonly recordDir?: string | undefined;
  readonly runc?: string | undefined;
  readonly runcRoot?: string | undefined;
  /** How long a Type=simple unit is watched after its start job (default 1000 ms). */
  readonly settleMs?: number | undefined;
  /** Boot mode: a failed pull of a cached image falls back to the cache. */
  readonly preferCache?: boolean | undefined;
  readonly log?: ((line: string) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface PlannedContainer {
  readonly name: string;
  readonly unit: string;
  readonly image: string;
  readonly imageAction: ImageAction;
  readonly unitAction: UnitAction;
}

export interface AppliedContainer {
  readonly name: string;
  readonly unit: string;
  readonly action: UnitAction;
  readonly pulled: boolean;
  readonly slot: string;
  readonly inputsDigest: string;
  readonly mainPid: number;
  readonly activeState: string;
}

export interface ApplyResult {
  readonly dryRun: boolean;
  readonly plan: readonly PlannedContainer[];
  readonly applied: readonly AppliedContainer[];
}

async function imageAction(store: Store, spec: ContainerSpec): Promise<ImageAction> {
  const cached = (await store.getRef(storeName(spec.reference))) !== undefined;
  if (spec.pull === 'always') return 'pull-always';
  if (cached) return 'cached';
  return spec.pull === 'never' ? 'missing-never' : 'pull';
}

function plannedUnitAction(state: UnitState | undefined): UnitAction {
  if (state === undefined) return 'check';
  return state.loadState === 'not-found' ? 'create' : 'check';
}

/** The plan line `keel apply --dry-run` prints for one container. */
export function formatPlanLine(p: PlannedContainer): string {
  const image = {
    cached: 'image cached',
    pull: 'pull (not in the store)',
    'pull-always': 'pull (policy always)',
    'missing-never': 'MISSING (policy never): apply will fail',
  }[p.imageAction];
  const unit = {
    create: 'create and start the unit',
    check: 'render; restart only if the inputs changed',
    keep: 'keep', start: 'start', restart: 'restart', recreate: 're-create',
  }[p.unitAction];
  return `${p.unit.padEnd(24)} ${p.image}  [${image}; ${unit}]`;
}

export async function applyManifests(store: Store, options: ApplyOptions): Promise<ApplyResult> {
  const log = options.log ?? (() => undefined);
  const { specs, problems } = await loadManifests(options.files, { set: options.set });
  if (problems.length > 0) throw problemsError(problems);
  if (specs.length === 0) {
    throw new KeelError('E_SPEC_INVALID', `no system containers in ${options.files.join(', ')}`, { hint: 'give manifest files or a directory of *.yaml' });
  }
  const hardNofile = await managerNofileHardLimit();
  const ordered = startOrder(specs).map((spec) => {
    if (hardNofile === undefined || spec.resources.nofile <= hardNofile) return spec;
    log(`warning: ${spec.name}: resources.nofile ${spec.resources.nofile} is over the host's limit (${hardNofile}, PID 1's hard RLIMIT_NOFILE); using ${hardNofile}`);
    return Object.freeze({ ...spec, resources: Object.freeze({ ...spec.resources, nofile: hardNofile }) });
  });
  const runc = options.runc ?? runcPath();

  let client: SystemdClient | undefined;
  try {
    try {
      client = await SystemdClient.connect({ address: options.busAddress });
    } catch (err) {
      if (!options.dryRun) throw err;
      log(`note: systemd is not reachable (${(err as Error).message}); unit states unknown`);
    }
    // 1. Refuse foreign units before anything changes.
    const owned = new Map<string, { state: UnitState; record: AppliedRecord | undefined }>();
    if (client) for (const spec of ordered) owned.set(spec.name, await ownedUnit(client, spec.name, spec.unit, options.recordDir));
    // 2. The plan.
    const plan: PlannedContainer[] = [];
    for (const spec of ordered) {
      plan.push({ name: spec.name, unit: spec.unit, image: spec.image, imageAction: await imageAction(store, spec), unitAction: plannedUnitAction(owned.get(spec.name)?.state) });
    }
    const never = plan.find((p) => p.imageAction === 'missing-never');
    if (options.dryRun) return { dryRun: true, plan, applied: [] };
    if (never) {
      throw new KeelError('E_IMAGE_NOT_FOUND', `image ${never.image} of ${never.name} is not in the store and its pull policy is never`, {
        hint: `pull it first: keel pull ${never.image}`,
      });
    }
    if (client === undefined) throw new KeelError('E_INTERNAL', 'no systemd connection');
    // 3. Images.
    const pulled = new Set<string>();
    const pulledImages = new Set<string>();
    for (const p of plan) {
      if (p.imageAction !== 'pull' && p.imageAction !== 'pull-always') continue;
      const spec = ordered.find((s) => s.name === p.name) as ContainerSpec;
      const image = storeName(spec.reference);
      if (pulledImages.has(image)) {
        pulled.add(spec.name);
        continue;
      }
      try {
        log(`pulling ${spec.image} for ${spec.name}`);
        // Loaded only when needed: a boot from the cache never loads the registry client.
        const { pullImage } = await import('./pull.ts');
        await pullImage(store, spec.image, { source: options.source, signal: options.signal });
        pulled.add(spec.name);
        pulledImages.add(image);
      } catch (err) {
        const cached = (await store.getRef(storeName(spec.reference))) !== undefined;
        if (!(options.preferCache && cached && isKeelError(err) && err.code.startsWith('E_REGISTRY_'))) throw err;
        log(`warning: pulling ${spec.image} failed (${err.message}); using the cached image`);
      }
    }
    // 4. Render and register, in order.
    const applied: AppliedContainer[] = [];
    for (const spec of ordered) {
      options.signal?.throwIfAborted();
      applied.push(await applyOne(store, client, spec, runc, pulled.has(spec.name), options, log));
    }
    return { dryRun: false, plan, applied };
  } finally {
    await client?.close();
  }
}

async function applyOne(
  store: Store, client: SystemdClient, spec: ContainerSpec, runc: string, pulled: boolean, options: ApplyOptions, log: (line: string) => void,
): Promise<AppliedContainer> {
  const rendered = await renderContainer(store, spec, { signal: options.signal, cgroupsPath: containerCgroupsPath(spec.name) });
  await prepareRootfs(rendered.bundleDir);
  const activeLink = path.join(containerDir(store.root, spec.name), 'active');
  const props = renderContainerUnit(spec, { runc, root: options.runcRoot, bundleDir: activeLink });
  const unitDigest = propertiesDigest(props);
  const { state, record } = await ownedUnit(client, spec.name, spec.unit, options.recordDir);
  const next: AppliedRecord = {
    name: spec.name, unit: spec.unit, image: spec.image, imageDigest: rendered.imageDigest, inputsDigest: rendered.inputsDigest,
    bundleDir: rendered.bundleDir, slot: rendered.slot, appliedAt: new Date().toISOString(), unitDigest, pending: true,
  };
  const prev = record;
  let action: UnitAction;
  if (state.loadState === 'not-found') action = 'create';
  else if (prev?.unitDigest !== unitDigest) action = 'recreate';
  else if (prev.pending || prev.inputsDigest !== rendered.inputsDigest || prev.bundleDir !== rendered.bundleDir) action = 'restart';
  else if (['active', 'activating', 'reloading'].includes(state.activeState)) action = 'keep';
  else action = 'start';

  const settleMs = spec.notify ? 0 : (options.settleMs ?? 1000);
  try {
    if (action === 'recreate') {
      log(`${spec.unit}: unit settings changed; re-creating it`);
      await unregister(client, spec.unit);
    }
    if (action === 'create' || action === 'recreate') {
      await writeAppliedRecord(next, options.recordDir);
      await client.startTransientUnit(spec.unit, props, { mode: 'fail' });
      if (settleMs > 0) await settle(client, spec.unit, settleMs, 0);
    } else if (action === 'restart' || action === 'start') {
      await writeAppliedRecord(next, options.recordDir);
      if (state.activeState === 'failed') await client.resetFailedUnit(spec.unit);
      const before = (await client.getUnitState(spec.unit)).nRestarts;
      if (action === 'restart') await client.restartUnit(spec.unit);
      else await client.startUnit(spec.unit);
      if (settleMs > 0) await settle(client, spec.unit, settleMs, before);
    }
  } catch (err) {
    throw await withJournal(err, spec.unit);
  }
  if (action !== 'keep') await writeAppliedRecord({ ...next, pending: false }, options.recordDir);
  await ensureKeepAlive(client, spec.unit);
  const after = await client.getUnitState(spec.unit);
  return {
    name: spec.name, unit: spec.unit, action, pulled, slot: rendered.slot, inputsDigest: rendered.inputsDigest,
    mainPid: after.mainPid, activeState: after.activeState,
  };
}
