// Observing, for the planner: what keel knows about each container (its two
// deployment slots, its applied record, the unit's state and who owns it) and
// what the manifests want (spec, image digest, inputs digest, unit
// properties). Reads only: nothing is created, pulled, rendered or started
// here, so a dry run observes exactly what a real run would and changes
// nothing.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  SLOTS, activeSlot, canonicalJson, containerDir, containersRoot, plannedInputsDigest, readBundleRecord, readDeploymentFailure, slotDir, specInputs,
  type Slot,
} from '../bundle/index.ts';
import { KeelError, errnoCode, fsError, isKeelError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import { rootPaths } from '../layout/paths.ts';
import type { ContainerSpec } from '../manifest/index.ts';
import { storeName } from '../oci/reference.ts';
import { nodeFromSpec, type DependencyNode, type Deployment, type DesiredContainer, type ImageFacts, type ObservedContainer } from '../plan/index.ts';
import {
  containerCgroupsPath, listAppliedRecords, readAppliedRecord, renderContainerUnit, type AppliedRecord,
} from '../runtime/index.ts';
import type { Store } from '../store/index.ts';
import type { SystemdClient, UnitProperties } from '../systemd/index.ts';
import { mapLimit } from '../util/pool.ts';

/** What observing needs of the store: its root and its refs (a dry run on a host without a store passes an empty view). */
export type StoreView = Pick<Store, 'root' | 'getRef'>;

/**
 * Runs `fn` under the store's containers mutex (ops that change containers
 * observe, plan and act one at a time); a view of a store that does not exist
 * has nothing to protect.
 */
export function withContainersLock<T>(store: StoreView, fn: () => Promise<T>): Promise<T> {
  const s = store as Partial<Store>;
  return typeof s.withContainersLock === 'function' ? s.withContainersLock.call(store, fn) as Promise<T> : fn();
}

export interface ObserveContext {
  readonly store: StoreView;
  /** undefined: systemd is not asked (a dry run without a bus). */
  readonly client?: SystemdClient | undefined;
  readonly recordDir?: string | undefined;
  readonly runc: string;
  readonly runcRoot?: string | undefined;
}

/** `active` link of a container: ExecStart names it, so a restart runs whatever slot it points at. */
export function activeLinkPath(root: string, name: string): string {
  return rootPaths(root).activeLink(name);
}

/** JSON of a property value (BigInt-safe). */
function valueJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
}

/** A stable digest of a unit's properties (what cannot change without re-creating the transient unit). */
export function propertiesDigest(props: UnitProperties): string {
  return `sha256:${createHash('sha256').update(valueJson(props)).digest('hex')}`;
}

/** Each property's value as JSON, by name: the planner names the ones that changed. */
export function propertySettings(props: UnitProperties): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of props) out[p.name] = valueJson(p.value);
  return out;
}

export function containerUnitProperties(ctx: Pick<ObserveContext, 'store' | 'runc' | 'runcRoot'>, spec: ContainerSpec): UnitProperties {
  return renderContainerUnit(spec, { runc: ctx.runc, root: ctx.runcRoot, bundleDir: activeLinkPath(ctx.store.root, spec.name) });
}

async function deployment(root: string, name: string, slot: Slot): Promise<Deployment | undefined> {
  const dir = slotDir(root, name, slot);
  const record = await readBundleRecord(dir).catch(() => undefined);
  if (record === undefined) return undefined;
  const mtime = await fs.stat(path.join(dir, 'keel-bundle.json')).then((s) => s.mtime.toISOString(), () => undefined);
  const failed = await readDeploymentFailure(dir).catch(() => undefined);
  return Object.freeze({
    slot, imageName: record.image.name, imageDigest: record.image.digest, inputsDigest: record.inputsDigest,
    spec: record.spec, renderedAt: mtime, mediaType: record.image.mediaType, ...(failed !== undefined ? { failed } : {}),
  });
}

/** Names of the containers keel has deployed (slot directories) or registered (applied records). */
export async function knownContainers(root: string, recordDir: string | undefined): Promise<string[]> {
  let dirs: string[] = [];
  try {
    dirs = (await fs.readdir(containersRoot(root))).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode(err) !== 'ENOTDIR') throw fsError(`listing ${containersRoot(root)}`, err);
  }
  const records = (await listAppliedRecords(recordDir)).filter((r) => !r.removed).map((r) => r.name);
  return [...new Set([...dirs, ...records])].sort();
}

/** E_CONTAINER_NOT_FOUND unless keel created a container of that name (logs, exec act on keel's containers only). */
export async function requireContainer(root: string, name: string, recordDir?: string | undefined): Promise<void> {
  const known = await knownContainers(root, recordDir);
  if (!known.includes(name)) {
    throw new KeelError('E_CONTAINER_NOT_FOUND', `no such system container: keel has no container named ${JSON.stringify(name)}`, {
      detail: { name }, hint: 'keel status lists them',
    });
  }
}

function ownerOf(state: { loadState: string; transient: boolean; fragmentPath: string }, record: AppliedRecord | undefined, unit: string): { owner: 'keel' | 'foreign'; reason?: string } {
  if (state.loadState === 'not-found') return { owner: 'keel' };
  if (state.transient && record !== undefined && record.unit === unit) return { owner: 'keel' };
  if (state.loadState === 'masked') return { owner: 'foreign', reason: 'is masked' };
  if (state.transient) return { owner: 'foreign', reason: 'is a transient unit keel did not create' };
  return { owner: 'foreign', reason: `is a unit file on this host (${state.fragmentPath || state.loadState})` };
}

/** Everything keel knows about one container. */
export async function observeContainer(ctx: ObserveContext, name: string): Promise<ObservedContainer> {
  const root = ctx.store.root;
  const unit = `${name}.service`;
  const record = await readAppliedRecord(name, ctx.recordDir);
  let active: Slot | undefined;
  try {
    active = await activeSlot(root, name);
  } catch {
    active = undefined; // a damaged pointer: the next render replaces it
  }
  const deployments = new Map<Slot, Deployment | undefined>();
  for (const slot of SLOTS) deployments.set(slot, await deployment(root, name, slot));
  const activeDeployment = active === undefined ? undefined : deployments.get(active);
  const previous = active === undefined ? undefined : deployments.get(active === 'a' ? 'b' : 'a');
  // A tombstone (removed, unit kept loaded by another unit's reference) still tells which unit
  // properties the loaded unit has: re-applying the same manifest then just starts it again.
  const applied = record === undefined ? undefined : {
    inputsDigest: record.inputsDigest, unitDigest: record.unitDigest, unitSettings: record.unitSettings, pending: record.pending,
  };
  if (ctx.client === undefined) {
    return Object.freeze({ name, owner: 'keel' as const, applied, active: activeDeployment, previous });
  }
  const state = await ctx.client.getUnitState(unit);
  const { owner, reason } = ownerOf(state, record, unit);
  return Object.freeze({
    name, owner, ...(reason !== undefined ? { foreignReason: reason } : {}),
    unit: {
      loadState: state.loadState, activeState: state.activeState, subState: state.subState, mainPid: state.mainPid,
      requiredBy: state.requiredBy,
    },
    applied, active: activeDeployment, previous,
  });
}

/** How many containers are observed (or their desired state computed) at once. */
export const OBSERVE_CONCURRENCY = 8;

export async function observeContainers(ctx: ObserveContext, names: readonly string[]): Promise<Map<string, ObservedContainer>> {
  // Reads only, independent per container: several at once (D-Bus round trips and small files).
  const unique = [...new Set(names)];
  const observed = await mapLimit(unique, OBSERVE_CONCURRENCY, (name) => observeContainer(ctx, name));
  return new Map(unique.map((name, i) => [name, observed[i] as ObservedContainer]));
}

/** Ordering nodes: the manifests' specs first, then what deployed containers were rendered with. */
export function dependencyNodes(specs: readonly ContainerSpec[], observed: ReadonlyMap<string, ObservedContainer>): DependencyNode[] {
  const nodes = new Map<string, DependencyNode>(specs.map((s) => [s.name, s]));
  for (const o of observed.values()) {
    if (nodes.has(o.name)) continue;
    const node = nodeFromSpec(o.active?.spec);
    nodes.set(o.name, node ?? { name: o.name, unit: `${o.name}.service`, after: [], before: [], requires: [], wants: [] });
  }
  return [...nodes.values()];
}

/**
 * The image a container will run, as far as the store knows. A container
 * keeps the digest its active deployment pins while the manifest names the
 * same image (a tag that moved in the store or the registry changes nothing:
 * `keel update` moves it, health-gated); pull policy always re-resolves on
 * apply; otherwise the store's ref; else missing (to be pulled, except at
 * boot and with policy never).
 */
export async function storeImageFacts(store: StoreView, spec: ContainerSpec, o: ObservedContainer | undefined, boot: boolean): Promise<ImageFacts> {
  const name = storeName(spec.reference);
  const pinned = o?.active !== undefined && o.active.imageName === name ? o.active.imageDigest : undefined;
  const ref = await store.getRef(name);
  if (!boot && spec.pull === 'always') {
    return { name, source: ref === undefined ? 'missing' : 'store', digest: ref?.digest, pull: true };
  }
  if (pinned !== undefined) return { name, source: 'pinned', digest: pinned, pull: false };
  if (ref === undefined) return { name, source: 'missing', pull: !boot && spec.pull !== 'never' };
  return { name, source: 'store', digest: ref.digest, pull: false };
}

/** The desired state of one container: its spec, image, inputs digest and unit properties. */
export async function desiredContainer(ctx: ObserveContext, spec: ContainerSpec, image: ImageFacts): Promise<DesiredContainer> {
  const props = containerUnitProperties(ctx, spec);
  let inputsDigest: Digest | undefined;
  let error: DesiredContainer['error'];
  try {
    inputsDigest = image.digest === undefined
      ? undefined
      : await plannedInputsDigest(ctx.store.root, spec, { name: image.name, digest: image.digest }, { cgroupsPath: containerCgroupsPath(spec.name) });
  } catch (err) {
    // A missing env file or init binary is this container's problem only: at boot
    // the other containers must still start. (The message names a file, never a value.)
    if (!isKeelError(err, 'E_ENV_FILE') && !isKeelError(err, 'E_INIT_MISSING')) throw err;
    error = { code: err.code, message: err.hint === undefined ? err.message : `${err.message} (${err.hint})` };
  }
  return Object.freeze({
    spec, inputs: JSON.parse(canonicalJson(specInputs(spec))) as Record<string, unknown>, image, inputsDigest,
    unitDigest: propertiesDigest(props), unitSettings: propertySettings(props), ...(error !== undefined ? { error } : {}),
  });
}
