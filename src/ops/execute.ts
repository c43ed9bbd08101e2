// The one executor: runs a plan (plan/) against the store, the bundles and
// systemd, and reports one outcome per container. Every command that changes
// containers hands its plan here. Order of work:
//   1. removals, dependents first: stop jobs for all of them queued at once,
//      then wait for systemd to collect the units, then delete files;
//   2. per container to (re)start: pull if the plan says so, render (the
//      pinned digest at boot), prepare the rootfs, write the record (pending);
//   3. units whose properties changed are stopped and collected;
//   4. every start/restart job is QUEUED in start order (a unit exists before
//      any unit that requires it is created), then all are awaited together:
//      systemd orders them by the manifests' After=/Requires=;
//   5. Type=simple units are watched for one shared settle window;
//   6. updates and rollbacks, one container at a time, each health-gated
//      (updates) and switched back on failure, dependents restarted after;
//   7. boot: containers waiting for an image get their background pull.
// Invariants: one container's failure never stops the others (those that
// require it are reported as failed by dependency, never started to fail);
// each outcome says what happened, not what was planned; a record is
// written before its unit is created and confirmed after its start settled.

import path from 'node:path';
import { KeelError, isKeelError } from '../errors.ts';
import { activeBundle, markDeploymentFailed, setActiveSlot, slotDir, type Slot } from '../bundle/index.ts';
import type { ContainerSpec } from '../manifest/index.ts';
import type { ActionKind, DesiredContainer, ObservedContainer, Plan, PlannedAction } from '../plan/index.ts';
import {
  readAppliedRecord, removeAppliedRecord, runcDelete, writeAppliedRecord, type AppliedRecord,
} from '../runtime/index.ts';
import type { Store } from '../store/index.ts';
import type { JobOutcome, PendingJob, SystemdClient, UnitProperties } from '../systemd/index.ts';
import type { SourceOptions } from '../transport/index.ts';
import { abortable } from '../util/abortable.ts';
import { mapLimit } from '../util/pool.ts';
import { enqueueCreate, enqueueCreates, enqueueStart, settle, stopUnits, waitCollected, withJournal } from './container-units.ts';
import { healthGate } from './health.ts';
import { containerUnitProperties, propertiesDigest, propertySettings } from './observe.ts';
import { prepareRootfs, removeContainerBundles, renderContainer, type RenderResult } from './render.ts';

export interface ExecuteContext {
  readonly store: Store;
  readonly client: SystemdClient;
  readonly runc: string;
  readonly runcRoot?: string | undefined;
  readonly recordDir?: string | undefined;
  readonly desired: ReadonlyMap<string, DesiredContainer>;
  readonly observed: ReadonlyMap<string, ObservedContainer>;
  /** Registry options, for the pulls a plan asks for (update). */
  readonly source?: SourceOptions | undefined;
  /** How long Type=simple units are watched after their start jobs, all at once (default 1000 ms). */
  readonly settleMs?: number | undefined;
  /** How long an updated container must stay up (default 5000 ms). */
  readonly windowMs?: number | undefined;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal | undefined;
  /** Boot: arrange the background pull of these containers' images. */
  readonly waitImage?: ((actions: readonly PlannedAction[], client: SystemdClient) => Promise<void>) | undefined;
}

export type OutcomeStatus = 'ok' | 'failed' | 'waiting';

export interface Outcome {
  readonly name: string;
  readonly unit: string;
  readonly action: ActionKind;
  readonly status: OutcomeStatus;
  /** What happened, in a few words: "created", "restarted", "rolled back to slot a". */
  readonly result: string;
  readonly activeState?: string | undefined;
  readonly mainPid?: number | undefined;
  readonly slot?: string | undefined;
  readonly imageDigest?: string | undefined;
  /** The image was pulled for it in this run. */
  readonly pulled?: boolean | undefined;
  readonly error?: { readonly code: string; readonly message: string; readonly hint?: string | undefined } | undefined;
}

interface Prepared {
  readonly action: PlannedAction;
  readonly spec: ContainerSpec;
  readonly props: UnitProperties;
  readonly rendered: RenderResult;
  readonly record: AppliedRecord;
}

const PAST: Readonly<Record<string, string>> = {
  create: 'created', recreate: 're-created', start: 'started', restart: 'restarted', update: 'updated', rollback: 'rolled back',
};

function errorOf(err: unknown): Outcome['error'] {
  if (isKeelError(err)) return { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  return { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function failed(a: PlannedAction, err: unknown, extra: Partial<Outcome> = {}): Outcome {
  return { name: a.name, unit: a.unit, action: a.action, status: 'failed', result: 'failed', error: errorOf(err), ...extra };
}

function specOf(ctx: ExecuteContext, a: PlannedAction): ContainerSpec {
  const d = ctx.desired.get(a.name);
  if (d === undefined) throw new KeelError('E_INTERNAL', `executePlan: no desired state for ${a.name} (${a.action})`);
  return d.spec;
}

async function stateOutcome(ctx: ExecuteContext, a: PlannedAction, result: string, status: OutcomeStatus = 'ok', extra: Partial<Outcome> = {}): Promise<Outcome> {
  const st = await ctx.client.getUnitState(a.unit).catch(() => undefined);
  const slot = await activeBundle(ctx.store.root, a.name).then((b) => (b === undefined ? undefined : path.basename(b)), () => undefined);
  return {
    name: a.name, unit: a.unit, action: a.action, status, result,
    activeState: st?.activeState, mainPid: st?.mainPid, slot, imageDigest: a.image?.to ?? a.image?.from, ...extra,
  };
}

/** Ctrl-C while systemd runs jobs keel queued: say which, and that the next run completes them. */
function interrupted(err: unknown, units: readonly string[], what: string): KeelError {
  const reason = isKeelError(err) ? err.message : 'interrupted';
  return new KeelError('E_INTERRUPTED', `${reason}: the ${what} jobs of ${units.join(', ')} were queued and continue in systemd; keel's records say they are pending`, {
    cause: err,
    hint: 'keel status shows where they are; running the same command again completes them',
  });
}

// ---- removal -------------------------------------------------------------

async function removeContainers(ctx: ExecuteContext, actions: readonly PlannedAction[]): Promise<Outcome[]> {
  const loaded = actions.filter((a) => {
    const u = ctx.observed.get(a.name)?.unit;
    return u === undefined || u.loadState !== 'not-found';
  });
  const out: Outcome[] = [];
  try {
    await abortable(stopUnits(ctx.client, loaded.map((a) => a.unit)), ctx.signal);
  } catch (err) {
    if (ctx.signal?.aborted) throw interrupted(err, loaded.map((a) => a.unit), 'stop');
    return actions.map((a) => failed(a, err));
  }
  for (const a of actions) {
    try {
      const collected = await waitCollected(ctx.client, a.unit);
      await runcDelete({ runc: ctx.runc, root: ctx.runcRoot }, a.name);
      await removeContainerBundles(ctx.store.root, a.name);
      if (collected === 'referenced') {
        const prev = await readAppliedRecord(a.name, ctx.recordDir);
        await writeAppliedRecord({
          ...(prev ?? { name: a.name, unit: a.unit, image: '', imageDigest: '', inputsDigest: '', bundleDir: '', slot: '', appliedAt: new Date().toISOString() }),
          removed: true, pending: true,
        }, ctx.recordDir);
      } else {
        await removeAppliedRecord(a.name, ctx.recordDir);
      }
      out.push({
        name: a.name, unit: a.unit, action: 'remove', status: 'ok',
        result: collected === 'gone' ? 'removed' : 'removed (the inactive unit stays loaded while another unit is ordered after it)',
      });
    } catch (err) {
      out.push(failed(a, err));
    }
  }
  return out;
}

// ---- render and register -------------------------------------------------

async function prepare(ctx: ExecuteContext, a: PlannedAction, pulled: Map<string, Promise<void>>): Promise<Prepared> {
  const spec = specOf(ctx, a);
  const d = ctx.desired.get(a.name) as DesiredContainer;
  if (a.image?.pull === true) {
    const image = a.image.name;
    let p = pulled.get(image);
    if (p === undefined) {
      // Set before the first await: containers prepared at once share one pull of their image.
      if (ctx.source === undefined) throw new KeelError('E_INTERNAL', 'executePlan: a pull without registry options');
      const source = ctx.source;
      ctx.log(`pulling ${spec.image} for ${spec.name}`);
      p = import('./pull.ts') // only when needed: a boot from the cache never loads the registry client
        .then(({ pullImage }) => pullImage(ctx.store, spec.image, { source, signal: ctx.signal })).then(() => undefined);
      p.catch(() => undefined); // awaited below by each container that needs it
      pulled.set(image, p);
    }
    await p;
  }
  const pinned = d.image.source === 'pinned' ? ctx.observed.get(a.name)?.active : undefined;
  const rendered = await renderContainer(ctx.store, spec, {
    signal: ctx.signal, cgroupsPath: `/system.slice/${spec.unit}/container`,
    ...(pinned !== undefined ? { digest: pinned.imageDigest, mediaType: pinned.mediaType } : d.image.source === 'registry' && d.image.digest ? { digest: d.image.digest } : {}),
  });
  await prepareRootfs(rendered.bundleDir);
  const props = containerUnitProperties(ctx, spec);
  const record: AppliedRecord = {
    name: spec.name, unit: spec.unit, image: spec.image, imageDigest: rendered.imageDigest, inputsDigest: rendered.inputsDigest,
    bundleDir: rendered.bundleDir, slot: rendered.slot, appliedAt: new Date().toISOString(),
    unitDigest: propertiesDigest(props), unitSettings: propertySettings(props), pending: true,
  };
  return { action: a, spec, props, rendered, record };
}

/** How many containers are rendered and prepared at once (files, hashing, a mount each). */
const PREPARE_CONCURRENCY = 4;

type Queued = { readonly p: Prepared; readonly job: PendingJob; readonly restartsBefore: number } | { readonly p: Prepared; readonly error: unknown };

function jobKind(p: Prepared): 'create' | 'start' | 'restart' {
  const a = p.action.action;
  return a === 'create' || a === 'recreate' ? 'create' : a === 'restart' ? 'restart' : 'start';
}

/**
 * Writes every record (pending), then queues every job in start order: runs
 * of creations go to systemd as one batch of calls sent back to back, a start
 * or restart of a registered unit between them in its place.
 */
async function queueJobs(ctx: ExecuteContext, list: readonly Prepared[]): Promise<Queued[]> {
  const written = await Promise.allSettled(list.map((p) => writeAppliedRecord(p.record, ctx.recordDir)));
  const out: Queued[] = [];
  let batch: Prepared[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const jobs = await enqueueCreates(ctx.client, batch.map((p) => ({ unit: p.spec.unit, props: p.props })));
    batch.forEach((p, i) => {
      const r = jobs[i] as PromiseSettledResult<PendingJob>;
      out.push(r.status === 'fulfilled' ? { p, job: r.value, restartsBefore: 0 } : { p, error: r.reason });
    });
    batch = [];
  };
  for (const [i, p] of list.entries()) {
    const w = written[i] as PromiseSettledResult<void>;
    if (w.status === 'rejected') {
      out.push({ p, error: w.reason });
      continue;
    }
    const kind = jobKind(p);
    if (kind === 'create') {
      batch.push(p);
      continue;
    }
    await flush();
    try {
      // enqueueStart resets the unit's failed state, which zeroes NRestarts: count from 0.
      out.push({ p, job: await enqueueStart(ctx.client, p.spec.unit, kind), restartsBefore: 0 });
    } catch (err) {
      out.push({ p, error: err });
    }
  }
  await flush();
  return out;
}

/** Creates, starts and restarts what the plan says, all jobs queued before any is awaited. */
async function startContainers(ctx: ExecuteContext, actions: readonly PlannedAction[], failedNames: Set<string>): Promise<Outcome[]> {
  const out: Outcome[] = [];
  const pulled = new Map<string, Promise<void>>();
  // Prepared several at once, in start order; one waits for the containers it
  // requires, and is not prepared when one of them failed.
  const ready = new Map(actions.map((a) => [a.name, Promise.withResolvers<boolean>()]));
  const preparing = await mapLimit(actions, PREPARE_CONCURRENCY, async (a): Promise<Prepared | undefined> => {
    const settled = ready.get(a.name) as PromiseWithResolvers<boolean>;
    try {
      const spec = specOf(ctx, a);
      let dep = spec.requires.find((u) => failedNames.has(u.replace(/\.service$/, '')));
      for (const u of spec.requires) {
        if (dep !== undefined) break;
        const r = ready.get(u.replace(/\.service$/, ''));
        if (r !== undefined && !(await r.promise)) dep = u;
      }
      if (dep !== undefined) {
        failedNames.add(a.name);
        out.push(failed(a, new KeelError('E_UNIT_DEPENDENCY', `${a.unit} was not started: it requires ${dep}, which failed`)));
        settled.resolve(false);
        return undefined;
      }
      const p = await prepare(ctx, a, pulled);
      settled.resolve(true);
      return p;
    } catch (err) {
      settled.resolve(false);
      if (isKeelError(err, 'E_INTERRUPTED') || ctx.signal?.aborted) throw err;
      failedNames.add(a.name);
      out.push(failed(a, err));
      return undefined;
    }
  }, ctx.signal);
  const prepared = preparing.filter((p): p is Prepared => p !== undefined);
  // Units whose properties changed: stopped and collected before they are registered again.
  const recreate = prepared.filter((p) => p.action.action === 'recreate');
  if (recreate.length > 0) {
    await stopUnits(ctx.client, [...recreate].reverse().map((p) => p.spec.unit));
    for (const p of recreate) {
      const collected = await waitCollected(ctx.client, p.spec.unit).catch((err: unknown) => err);
      if (collected !== 'gone') {
        const st = await ctx.client.getUnitState(p.spec.unit).catch(() => undefined);
        const holders = [...new Set([...(st?.before ?? []), ...(st?.wantedBy ?? []), ...(st?.requiredBy ?? [])])].filter((u) => !u.startsWith('keel-'));
        const err = collected instanceof Error ? collected : new KeelError('E_UNIT_EXISTS', `${p.spec.unit} cannot be re-created: systemd keeps the stopped unit loaded because ${holders.join(', ') || 'another unit'} refers to it`, {
          hint: `stop ${holders.join(' ') || 'the units that refer to it'} (or re-create them with keel apply), then apply again`,
        });
        failedNames.add(p.spec.name);
        out.push(failed(p.action, err));
      }
    }
  }
  // Queue every job in start order, then wait for all of them together.
  const started: Array<{ p: Prepared; job: PendingJob; restartsBefore: number }> = [];
  for (const q of await queueJobs(ctx, prepared.filter((p) => !failedNames.has(p.spec.name)))) {
    if ('job' in q) {
      started.push(q);
      continue;
    }
    failedNames.add(q.p.spec.name);
    out.push(failed(q.p.action, await withJournal(q.error, q.p.spec.unit)));
  }
  let results: Array<PromiseSettledResult<JobOutcome>>;
  try {
    results = await abortable(Promise.allSettled(started.map((s) => s.job.done)), ctx.signal);
  } catch (err) {
    throw interrupted(err, started.map((s) => s.p.spec.unit), 'start');
  }
  const settling: Array<{ s: (typeof started)[number]; ok: Promise<unknown> }> = [];
  started.forEach((s, i) => {
    const r = results[i] as PromiseSettledResult<JobOutcome>;
    if (r.status === 'rejected') {
      settling.push({ s, ok: Promise.reject(r.reason as Error) });
      return;
    }
    const settleMs = s.p.spec.notify ? 0 : (ctx.settleMs ?? 1000);
    settling.push({ s, ok: settleMs > 0 ? settle(ctx.client, s.p.spec.unit, settleMs, s.restartsBefore) : Promise.resolve() });
  });
  let settled: Array<PromiseSettledResult<unknown>>;
  try {
    settled = await abortable(Promise.allSettled(settling.map((x) => x.ok)), ctx.signal);
  } catch (err) {
    throw interrupted(err, started.map((s) => s.p.spec.unit), 'start');
  }
  // Records confirmed and outcomes read for all at once.
  out.push(...await Promise.all(settling.map(async ({ s }, i) => {
    const r = settled[i] as PromiseSettledResult<unknown>;
    if (r.status === 'rejected') {
      failedNames.add(s.p.spec.name);
      return failed(s.p.action, await withJournal(r.reason, s.p.spec.unit), { slot: s.p.rendered.slot, imageDigest: s.p.rendered.imageDigest });
    }
    await writeAppliedRecord({ ...s.p.record, pending: false }, ctx.recordDir);
    const pulled = ctx.desired.get(s.p.spec.name)?.image.source === 'registry';
    return stateOutcome(ctx, s.p.action, PAST[s.p.action.action] ?? s.p.action.action, 'ok', { imageDigest: s.p.rendered.imageDigest, ...(pulled ? { pulled } : {}) });
  })));
  return out;
}

// ---- update and rollback -------------------------------------------------

/** Restarts `names` (running ones only) unless systemd already restarted them since `since` (Requires= propagation). */
async function restartDependents(ctx: ExecuteContext, names: readonly string[], since: number): Promise<string[]> {
  const jobs: PendingJob[] = [];
  for (const name of names) {
    const unit = `${name}.service`;
    const st = await ctx.client.getUnitState(unit).catch(() => undefined);
    if (st === undefined || st.loadState === 'not-found') continue;
    if (st.activeEnterTimestamp !== undefined && st.activeEnterTimestamp.getTime() >= since && st.activeState === 'active') continue;
    if (!['active', 'activating', 'failed'].includes(st.activeState)) continue;
    jobs.push(await enqueueStart(ctx.client, unit, 'restart'));
  }
  const results = await Promise.allSettled(jobs.map((j) => j.done));
  return jobs.filter((_j, i) => results[i]?.status === 'rejected').map((j) => j.unit);
}

async function switchAndRestart(ctx: ExecuteContext, spec: ContainerSpec, slot: Slot): Promise<{ job: PendingJob; restartsBefore: number }> {
  await setActiveSlot(ctx.store.root, spec.name, slot);
  const bundle = slotDir(ctx.store.root, spec.name, slot);
  await prepareRootfs(bundle);
  const st = await ctx.client.getUnitState(spec.unit);
  if (st.loadState === 'not-found') return { job: await enqueueCreate(ctx.client, spec.unit, containerUnitProperties(ctx, spec)), restartsBefore: 0 };
  return { job: await enqueueStart(ctx.client, spec.unit, 'restart'), restartsBefore: 0 }; // the reset zeroes NRestarts
}

async function journalNote(unit: string, message: string): Promise<void> {
  // keel's own stderr reaches the journal when a unit runs it; from a shell it would not, so say it there too.
  const { execa } = await import('execa');
  await execa('systemd-cat', ['-t', 'keel', '-p', 'warning'], { input: `${unit}: ${message}\n`, reject: false, timeout: 5000 }).catch(() => undefined);
}

async function updateOne(ctx: ExecuteContext, a: PlannedAction): Promise<Outcome> {
  const spec = specOf(ctx, a);
  const o = ctx.observed.get(a.name);
  const oldSlot = o?.active?.slot;
  const t0 = Date.now();
  let p: Prepared;
  try {
    p = await prepare(ctx, a, new Map());
  } catch (err) {
    return failed(a, err);
  }
  if (oldSlot !== undefined && p.rendered.slot === oldSlot) {
    return stateOutcome(ctx, a, 'unchanged (the new image renders the same bundle)');
  }
  await writeAppliedRecord(p.record, ctx.recordDir);
  const st = await ctx.client.getUnitState(spec.unit);
  const restartsBefore = 0; // a new unit, or enqueueStart's reset, starts NRestarts at 0
  const job = st.loadState === 'not-found' ? await enqueueCreate(ctx.client, spec.unit, p.props) : await enqueueStart(ctx.client, spec.unit, 'restart');
  try {
    await healthGate(ctx.client, spec, job.done, restartsBefore, { windowMs: ctx.windowMs ?? 5000, runc: ctx.runc, runcRoot: ctx.runcRoot, signal: ctx.signal, log: ctx.log });
  } catch (err) {
    const cause = ctx.signal?.aborted === true
      ? new KeelError('E_INTERRUPTED', `${spec.unit}: interrupted during the health gate of the new deployment`)
      : await withJournal(err, spec.unit);
    const reason = isKeelError(cause) ? `${cause.message} [${cause.code}]` : String(cause);
    if (oldSlot === undefined) return failed(a, cause);
    ctx.log(`${spec.unit}: the update to ${a.image?.to ?? 'the new deployment'} failed its health gate; rolling back to slot ${oldSlot}`);
    if (!isKeelError(cause, 'E_INTERRUPTED')) await markDeploymentFailed(p.rendered.bundleDir, {
      at: new Date().toISOString(), code: isKeelError(cause) ? cause.code : 'E_INTERNAL', message: reason.split('\n')[0] ?? '',
    }).catch(() => undefined);
    await journalNote(spec.unit, `update failed its health gate and was rolled back to slot ${oldSlot} [E_UPDATE_ROLLED_BACK]: ${reason.split('\n')[0]}`);
    const back = await switchAndRestart(ctx, spec, oldSlot);
    const backOk = await back.job.done.then(() => true, () => false);
    const prev = o?.applied;
    await writeAppliedRecord({
      ...p.record, slot: oldSlot, bundleDir: slotDir(ctx.store.root, spec.name, oldSlot), imageDigest: o?.active?.imageDigest ?? '',
      inputsDigest: o?.active?.inputsDigest ?? prev?.inputsDigest ?? '', pending: !backOk,
    }, ctx.recordDir);
    const stuck = await restartDependents(ctx, a.restartDependents, t0);
    const restarted = a.restartDependents.filter((n) => !stuck.includes(`${n}.service`));
    return stateOutcome(ctx, a, `rolled back to slot ${oldSlot}${restarted.length > 0 ? `; restarted ${restarted.join(', ')}` : ''}`, 'failed', {
      error: {
        code: isKeelError(cause, 'E_INTERRUPTED') ? 'E_INTERRUPTED' : 'E_UPDATE_ROLLED_BACK',
        message: `${spec.unit}: the new deployment failed its health gate, so keel switched back to slot ${oldSlot}${backOk ? '' : ' (which did not start either)'}${stuck.length > 0 ? `; ${stuck.join(', ')} did not restart` : ''}: ${reason}`,
        hint: `see journalctl -u ${spec.unit}; fix the image or the manifest and run keel update again (the same image is not tried again without --retry-failed)`,
      },
    });
  }
  await writeAppliedRecord({ ...p.record, pending: false }, ctx.recordDir);
  const stuck = await restartDependents(ctx, a.restartDependents, t0);
  if (stuck.length > 0) {
    return stateOutcome(ctx, a, 'updated', 'failed', { error: { code: 'E_UNIT_FAILED', message: `${spec.unit} was updated, but ${stuck.join(', ')} did not restart after it` } });
  }
  return stateOutcome(ctx, a, a.restartDependents.length > 0 ? `updated; restarted ${a.restartDependents.join(', ')}` : 'updated');
}

async function rollbackOne(ctx: ExecuteContext, a: PlannedAction): Promise<Outcome> {
  const o = ctx.observed.get(a.name) as ObservedContainer;
  const target = o.previous as NonNullable<ObservedContainer['previous']>;
  const t0 = Date.now();
  const spec = ctx.desired.get(a.name)?.spec;
  const unit = a.unit;
  try {
    let job: PendingJob;
    if (spec !== undefined) {
      ({ job } = await switchAndRestart(ctx, spec, target.slot));
    } else {
      // No manifest at hand: the unit is registered, so a restart on the switched `active` link does it.
      await setActiveSlot(ctx.store.root, a.name, target.slot);
      await prepareRootfs(slotDir(ctx.store.root, a.name, target.slot));
      job = await enqueueStart(ctx.client, unit, 'restart');
    }
    await job.done;
    const rec = await readAppliedRecord(a.name, ctx.recordDir);
    if (rec !== undefined) {
      await writeAppliedRecord({
        ...rec, slot: target.slot, bundleDir: slotDir(ctx.store.root, a.name, target.slot), imageDigest: target.imageDigest,
        inputsDigest: target.inputsDigest, pending: false, appliedAt: new Date().toISOString(),
      }, ctx.recordDir);
    }
  } catch (err) {
    return failed(a, await withJournal(err, unit));
  }
  const stuck = await restartDependents(ctx, a.restartDependents, t0);
  if (stuck.length > 0) return stateOutcome(ctx, a, `rolled back to slot ${target.slot}`, 'failed', { error: { code: 'E_UNIT_FAILED', message: `${stuck.join(', ')} did not restart` } });
  return stateOutcome(ctx, a, `rolled back to slot ${target.slot}${a.restartDependents.length > 0 ? `; restarted ${a.restartDependents.join(', ')}` : ''}`);
}

// ---- the executor --------------------------------------------------------

export async function executePlan(plan: Plan, ctx: ExecuteContext): Promise<Outcome[]> {
  if (plan.problems.length > 0) throw new KeelError('E_INTERNAL', 'executePlan: a plan with problems must not be executed');
  const outcomes = new Map<string, Outcome>();
  const failedNames = new Set<string>();
  const byKind = (...kinds: ActionKind[]): PlannedAction[] => plan.actions.filter((a) => kinds.includes(a.action));

  const removals = byKind('remove');
  if (removals.length > 0) for (const o of await removeContainers(ctx, removals)) outcomes.set(o.name, o);

  for (const a of byKind('fail')) {
    failedNames.add(a.name);
    outcomes.set(a.name, failed(a, new KeelError((a.code ?? 'E_INTERNAL') as never, a.reasons.join('; '))));
  }
  for (const a of byKind('keep', 'skip')) outcomes.set(a.name, await stateOutcome(ctx, a, a.action === 'keep' ? 'unchanged' : `skipped: ${a.reasons.join('; ')}`));

  const work = byKind('create', 'recreate', 'start', 'restart');
  if (work.length > 0) for (const o of await startContainers(ctx, work, failedNames)) outcomes.set(o.name, o);

  for (const a of byKind('update')) {
    ctx.signal?.throwIfAborted();
    const o = await updateOne(ctx, a);
    if (o.status === 'failed') failedNames.add(a.name);
    outcomes.set(a.name, o);
  }
  for (const a of byKind('rollback')) {
    ctx.signal?.throwIfAborted();
    outcomes.set(a.name, await rollbackOne(ctx, a));
  }

  const waiting = byKind('wait-image');
  if (waiting.length > 0) {
    try {
      await ctx.waitImage?.(waiting, ctx.client);
      for (const a of waiting) outcomes.set(a.name, { name: a.name, unit: a.unit, action: a.action, status: 'waiting', result: `waiting for image ${a.image?.name ?? ''}` });
    } catch (err) {
      for (const a of waiting) outcomes.set(a.name, failed(a, err));
    }
  }
  for (const a of byKind('blocked')) {
    const byFailure = [...failedNames].some((n) => (ctx.desired.get(a.name)?.spec.requires ?? []).includes(`${n}.service`));
    outcomes.set(a.name, byFailure
      ? failed(a, new KeelError('E_UNIT_DEPENDENCY', `${a.unit} was not started: ${a.reasons.join('; ')}`))
      : { name: a.name, unit: a.unit, action: a.action, status: 'waiting', result: a.reasons.join('; ') });
  }
  return plan.actions.map((a) => outcomes.get(a.name) as Outcome).filter((o) => o !== undefined);
}
