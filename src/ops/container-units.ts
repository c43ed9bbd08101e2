// The systemd side of a container, as the executor drives it: registering
// NAME.service together with its keep-alive slice, watching units settle,
// stopping and waiting for systemd to collect them, and adding the journal's
// last lines to a failure. Invariants: the service and its keep-alive slice
// are created in ONE call with the slice started first (its Wants= names the
// service), so systemd can never collect a service whose process exits at
// once — it stays registered and startable; removal stops the slice and the
// service, resets a failed state, and accepts a unit that stays loaded only
// because another unit is ordered after it (a tombstone record keeps the name
// keel's); a failed start carries the journal's last lines.

import { KeelError, isKeelError } from '../errors.ts';
import { journalTail } from '../runtime/index.ts';
import {
  keepAliveSliceName, renderKeepAliveProperties, type PendingJob, type SystemdClient, type UnitProperties, type UnitState,
} from '../systemd/index.ts';

/** Registers `unit` with `props` and its keep-alive slice, and queues its start. */
export async function enqueueCreate(client: SystemdClient, unit: string, props: UnitProperties): Promise<PendingJob> {
  return client.enqueueStartWithKeepAlive(unit, props, keepAliveSliceName(unit), renderKeepAliveProperties(unit), { mode: 'fail' });
}

/** enqueueCreate for several units, sent back to back in this order (one failure is that unit's only). */
export async function enqueueCreates(
  client: SystemdClient, units: ReadonlyArray<{ readonly unit: string; readonly props: UnitProperties }>,
): Promise<Array<PromiseSettledResult<PendingJob>>> {
  return client.enqueueStartsWithKeepAlive(units.map((u) => ({
    service: u.unit, properties: u.props, slice: keepAliveSliceName(u.unit), sliceProperties: renderKeepAliveProperties(u.unit),
  })), { mode: 'fail' });
}

/**
 * Queues a start or restart of a registered unit. Its keep-alive slice is
 * made active first (a new one if systemd collected it), so the unit cannot
 * be collected in between — not even when its failed state and start rate
 * counter are reset here.
 */
export async function enqueueStart(client: SystemdClient, unit: string, kind: 'start' | 'restart'): Promise<PendingJob> {
  const slice = keepAliveSliceName(unit);
  const s = await client.getUnitState(slice);
  if (!s.transient) await client.startTransientUnit(slice, renderKeepAliveProperties(unit), { mode: 'fail' });
  else if (s.activeState !== 'active') await client.startUnit(slice);
  // keel's own starts are deliberate, not a crash loop: reset the failed state and the start
  // rate counter, or a few updates and rollbacks within StartLimitIntervalSec= (10 s) hit
  // start-limit-hit and leave the container down. The reset also zeroes NRestarts: callers
  // watch for restarts from 0.
  await resetFailed(client, unit);
  return client.enqueue(kind, unit);
}

/** Adds the journal's last lines (and the exit status) to a failed job's error. */
export async function withJournal(err: unknown, unit: string): Promise<unknown> {
  if (!(err instanceof KeelError) || !err.code.startsWith('E_UNIT_')) return err;
  const tail = await journalTail(unit, 15);
  const parts = [err.message];
  const d = err.detail as Record<string, unknown>;
  const facts = ['jobResult', 'activeState', 'subState', 'result', 'execMainStatus']
    .filter((k) => d[k] !== undefined)
    .map((k) => `${k}=${String(d[k])}`);
  if (facts.length > 0) parts.push(`(${facts.join(' ')})`);
  if (tail !== '') parts.push(`\nlast lines of journalctl -u ${unit}:\n${tail.split('\n').map((l) => `  ${l}`).join('\n')}`);
  return new KeelError(err.code, parts.join(' '), {
    cause: err,
    detail: { ...d, journal: tail },
    hint: err.hint ?? `see journalctl -u ${unit}; fix the manifest and run keel apply again`,
  });
}

function startFailed(unit: string, state: UnitState, what: string): KeelError {
  const status = state.execMainStatus !== undefined && state.execMainStatus !== 0 ? ` with status ${state.execMainStatus}` : '';
  return new KeelError('E_UNIT_FAILED', `${unit} ${what}: its container exited${status}`, {
    detail: {
      unit, jobResult: 'done', activeState: state.activeState, subState: state.subState, result: state.result,
      execMainStatus: state.execMainStatus, nRestarts: state.nRestarts,
    },
  });
}

/** True when the unit's container has failed since `before` (restarts counted then). */
export function hasFailed(state: UnitState, restartsBefore: number): boolean {
  return state.activeState === 'failed' || state.subState === 'auto-restart' || state.nRestarts > restartsBefore
    || (state.activeState === 'inactive' && state.result !== undefined && state.result !== 'success');
}

/**
 * After a start job is "done", a Type=simple service may still fail a moment
 * later (runc cannot exec the command). Watches it for `settleMs`; callers
 * watch many units at once, so the window is paid once per command.
 */
export async function settle(client: SystemdClient, unit: string, settleMs: number, restartsBefore: number, what = 'started'): Promise<UnitState> {
  const deadline = Date.now() + settleMs;
  let state = await client.getUnitState(unit);
  for (;;) {
    if (hasFailed(state, restartsBefore)) throw startFailed(unit, state, `${what} but`);
    if (Date.now() >= deadline) return state;
    await new Promise((r) => setTimeout(r, 100));
    state = await client.getUnitState(unit);
  }
}

/** Resets a failed unit (ignoring one that is gone); needed before systemd collects it, or to start it afresh. */
export async function resetFailed(client: SystemdClient, unit: string): Promise<void> {
  await client.resetFailedUnit(unit).catch((err: unknown) => {
    if (!isKeelError(err, 'E_UNIT_NOT_FOUND') && !isKeelError(err, 'E_SYSTEMD_REFUSED')) throw err;
  });
}

async function enqueueStopIgnoringMissing(client: SystemdClient, unit: string): Promise<PendingJob | undefined> {
  try {
    return await client.enqueue('stop', unit);
  } catch (err) {
    if (isKeelError(err, 'E_UNIT_NOT_FOUND')) return undefined;
    throw err;
  }
}

/** Queues the stop of each unit's keep-alive slice and of the unit, all at once (systemd orders them). */
export async function stopUnits(client: SystemdClient, units: readonly string[]): Promise<void> {
  const jobs: PendingJob[] = [];
  for (const unit of units) {
    const slice = await enqueueStopIgnoringMissing(client, keepAliveSliceName(unit));
    const service = await enqueueStopIgnoringMissing(client, unit);
    for (const j of [slice, service]) if (j !== undefined) jobs.push(j);
  }
  const results = await Promise.allSettled(jobs.map((j) => j.done));
  const failed = results.find((r) => r.status === 'rejected' && !isKeelError(r.reason, 'E_UNIT_NOT_FOUND') && !isKeelError(r.reason, 'E_UNIT_CANCELED'));
  if (failed?.status === 'rejected') throw failed.reason;
}

/** How a stopped unit ended: collected by systemd, or kept loaded (inactive) by another unit's reference. */
export type Collected = 'gone' | 'referenced';

/**
 * Waits until systemd collected the stopped unit and its slice. A unit still
 * loaded but inactive after `waitMs` is kept by a reference from another unit
 * (After=, Wants=): that is reported, not an error. Still active: E_UNIT_EXISTS.
 */
export async function waitCollected(client: SystemdClient, unit: string, waitMs = 5000): Promise<Collected> {
  const slice = keepAliveSliceName(unit);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const [s, u] = await Promise.all([client.getUnitState(slice), client.getUnitState(unit)]);
    // Gone: the service is not-found; the slice is not-found or a file-less, non-transient stand-in
    // (LoadUnit itself loads any slice name).
    const sliceGone = s.loadState === 'not-found' || !s.transient;
    if (sliceGone && u.loadState === 'not-found') return 'gone';
    for (const st of [s, u]) if (st.loadState !== 'not-found' && st.activeState === 'failed') await resetFailed(client, st.name);
    if (Date.now() >= deadline) {
      if (sliceGone && ['inactive', 'failed'].includes(u.activeState) && !u.hasJob) return 'referenced';
      const left = [sliceGone ? undefined : s, u].filter((x) => x !== undefined && x.loadState !== 'not-found') as UnitState[];
      throw new KeelError('E_UNIT_EXISTS', `${left.map((x) => `${x.name} (${x.activeState})`).join(' and ')} did not stop`, {
        detail: { unit },
        hint: `see systemctl status ${unit} and systemctl list-jobs`,
      });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
