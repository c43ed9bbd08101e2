// keel status: what keel registered and what systemd says about it — name,
// image and digest, unit state, main pid, since when, restarts. Read-only.
// Invariants: containers come from keel's applied records and the
// containers/ directory of the store root (so a container rendered but not
// registered, e.g. after a reboot before `keel boot`, still shows up as
// "not loaded"); a unit keel did not create is never reported as keel's.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode } from '../errors.ts';
import { rootPaths } from '../layout/paths.ts';
import { readBundleRecord } from '../bundle/index.ts';
import { listAppliedRecords, readAppliedRecord, type AppliedRecord } from '../runtime/index.ts';
import { SystemdClient } from '../systemd/index.ts';
import { SLOTS, activeSlot, readDeploymentFailure, slotDir } from '../bundle/index.ts';
import { activeBundle } from './render.ts';

async function deploymentsOf(root: string, name: string): Promise<ContainerStatus['deployments']> {
  const active = await activeSlot(root, name).catch(() => undefined);
  const out: Array<ContainerStatus['deployments'][number]> = [];
  for (const slot of SLOTS) {
    const dir = slotDir(root, name, slot);
    const r = await readBundleRecord(dir).catch(() => undefined);
    if (r === undefined) continue;
    const renderedAt = await fs.stat(path.join(dir, 'keel-bundle.json')).then((st) => st.mtime.toISOString(), () => undefined);
    const failed = await readDeploymentFailure(dir).catch(() => undefined);
    out.push({ slot, active: slot === active, image: r.image.name, imageDigest: r.image.digest, renderedAt, ...(failed ? { failed } : {}) });
  }
  return out;
}

export interface ContainerStatus {
  readonly name: string;
  readonly unit: string;
  readonly image: string | undefined;
  readonly imageDigest: string | undefined;
  readonly slot: string | undefined;
  readonly loadState: string;
  readonly activeState: string;
  readonly subState: string;
  readonly result: string | undefined;
  readonly mainPid: number;
  /** When the unit entered its current active/inactive state (ISO). */
  readonly since: string | undefined;
  readonly restarts: number;
  /** False when a unit of that name exists but keel did not create it. */
  readonly keel: boolean;
  /** Both deployment slots (the active one and the rollback target), when rendered. */
  readonly deployments: ReadonlyArray<{
    readonly slot: string; readonly active: boolean; readonly image: string; readonly imageDigest: string; readonly renderedAt: string | undefined;
    /** Set when the deployment failed an update's health gate (keel rollback will not switch to it). */
    readonly failed?: { readonly at: string; readonly code: string; readonly message: string } | undefined;
  }>;
}

export interface StatusOptions {
  readonly root: string;
  readonly busAddress?: string | undefined;
  readonly recordDir?: string | undefined;
}

async function renderedNames(root: string): Promise<string[]> {
  try {
    return (await fs.readdir(rootPaths(root).containersRoot)).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}

async function imageOf(root: string, name: string, record: AppliedRecord | undefined): Promise<{ image?: string; digest?: string; slot?: string }> {
  if (record) return { image: record.image, digest: record.imageDigest, slot: record.slot };
  const bundle = await activeBundle(root, name).catch(() => undefined);
  if (bundle === undefined) return {};
  const br = await readBundleRecord(bundle).catch(() => undefined);
  if (br === undefined) return { slot: path.basename(bundle) };
  return { image: br.image.name, digest: br.image.digest, slot: path.basename(bundle) };
}

export async function containerStatus(options: StatusOptions, name?: string): Promise<ContainerStatus[]> {
  const records = (await listAppliedRecords(options.recordDir)).filter((r) => !r.removed);
  let names: string[];
  if (name !== undefined) names = [name];
  else names = [...new Set([...records.map((r) => r.name), ...(await renderedNames(options.root))])].sort();
  const client = await SystemdClient.connect({ address: options.busAddress });
  try {
    const out: ContainerStatus[] = [];
    for (const n of names) {
      const unit = `${n}.service`;
      const raw = await readAppliedRecord(n, options.recordDir);
      const record = raw?.removed ? undefined : raw;
      const state = await client.getUnitState(unit);
      const keel = state.loadState === 'not-found' || (state.transient && record !== undefined);
      const img = await imageOf(options.root, n, record);
      if (name !== undefined && (state.loadState === 'not-found' || !keel) && record === undefined && img.slot === undefined) {
        throw new KeelError('E_CONTAINER_NOT_FOUND', `keel has no system container named ${n}`, { hint: 'see keel status for the list' });
      }
      const since = ['active', 'activating', 'reloading', 'deactivating'].includes(state.activeState) ? state.activeEnterTimestamp : state.inactiveEnterTimestamp;
      out.push({
        name: n, unit, image: img.image, imageDigest: img.digest, slot: img.slot,
        loadState: state.loadState, activeState: state.activeState, subState: state.subState, result: state.result,
        mainPid: state.mainPid, since: since?.toISOString(), restarts: state.nRestarts, keel,
        deployments: await deploymentsOf(options.root, n),
      });
    }
    return out;
  } finally {
    await client.close();
  }
}
