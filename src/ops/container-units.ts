// The systemd side of a container, shared by apply, remove and boot: who owns
// a unit, registering NAME.service plus its keep-alive slice, restarting in
// place, and unregistering both. Invariants: keel only touches a unit that is
// transient AND has keel's applied record (a host unit of the same name, or
// someone else's transient unit, is E_UNIT_EXISTS); the service is started
// before its keep-alive slice (the slice's Wants= would start it anyway);
// removal stops the slice first, then the service, then resets a failed
// state so systemd collects both; a failed start carries the journal's last
// lines.

import { createHash } from 'node:crypto';
import { KeelError, isKeelError } from '../errors.ts';
import {
  keepAliveSliceName, renderKeepAliveProperties, type SystemdClient, type UnitProperties, type UnitState,
} from '../systemd/index.ts';
import { journalTail, readAppliedRecord, type AppliedRecord } from '../runtime/index.ts';

export interface Owned {
  readonly state: UnitState;
  readonly record: AppliedRecord | undefined;
}

/** The unit's state and keel's record; E_UNIT_EXISTS when a unit of that name is not keel's. */
export async function ownedUnit(client: SystemdClient, name: string, unit: string, recordDir: string | undefined): Promise<Owned> {
  const state = await client.getUnitState(unit);
  const record = await readAppliedRecord(name, recordDir);
  if (state.loadState === 'not-found') return { state, record };
  if (!state.transient || record === undefined || record.unit !== unit) {
    const what = state.loadState === 'masked' ? 'is masked' : state.transient ? 'is a transient unit keel did not create' : `is a unit file on this host (${state.fragmentPath || state.loadState})`;
    throw new KeelError('E_UNIT_EXISTS', `${unit} ${what}; keel will not replace it`, {
      detail: { unit, loadState: state.loadState, transient: state.transient, fragmentPath: state.fragmentPath },
      hint: `rename the container, or stop and disable the host's ${unit} (systemctl disable --now ${unit}; systemctl unmask ${unit} if masked)`,
    });
  }
  return { state, record };
}

/** A stable digest of a unit's properties (what cannot change without re-creating the transient unit). */
export function propertiesDigest(props: UnitProperties): string {
  const json = JSON.stringify(props, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  return `sha256:${createHash('sha256').update(json).digest('hex')}`;
}

/** Adds the journal's last lines to a failed job's error. */
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

/** Starts the keep-alive slice unless it is already active. */
export async function ensureKeepAlive(client: SystemdClient, unit: string): Promise<void> {
  const slice = keepAliveSliceName(unit);
  const state = await client.getUnitState(slice);
  // LoadUnit shows any slice name as "loaded" (slices need no file); only a transient one is keel's.
  if (state.transient && state.activeState === 'active') return;
  if (state.transient) {
    await client.startUnit(slice);
    return;
  }
  await client.startTransientUnit(slice, renderKeepAliveProperties(unit), { mode: 'fail' });
}

/**
 * After a start job is "done", a Type=simple service may still fail a moment
 * later (runc cannot exec the command). Watches it for `settleMs`.
 */
export async function settle(client: SystemdClient, unit: string, settleMs: number, restartsBefore: number): Promise<UnitState> {
  const deadline = Date.now() + settleMs;
  let state = await client.getUnitState(unit);
  for (;;) {
    const failed = state.activeState === 'failed' || state.subState === 'auto-restart' || state.nRestarts > restartsBefore
      || (state.activeState === 'inactive' && state.result !== 'success');
    if (failed) {
      throw new KeelError('E_UNIT_FAILED', `${unit} started but its container exited at once`, {
        detail: {
          unit, jobResult: 'done', activeState: state.activeState, subState: state.subState, result: state.result,
          execMainStatus: state.execMainStatus, nRestarts: state.nRestarts,
        },
      });
    }
    if (Date.now() >= deadline) return state;
    await new Promise((r) => setTimeout(r, 100));
    state = await client.getUnitState(unit);
  }
}

async function stopIgnoringMissing(client: SystemdClient, unit: string): Promise<void> {
  try {
    await client.stopUnit(unit, { mode: 'replace' });
  } catch (err) {
    if (!isKeelError(err, 'E_UNIT_NOT_FOUND')) throw err;
  }
}

/** Stops the keep-alive slice and the service, resets a failed state, and waits until systemd collected both. */
export async function unregister(client: SystemdClient, unit: string, waitMs = 10_000): Promise<void> {
  const slice = keepAliveSliceName(unit);
  await stopIgnoringMissing(client, slice);
  await stopIgnoringMissing(client, unit);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const [s, u] = await Promise.all([client.getUnitState(slice), client.getUnitState(unit)]);
    // Gone: the service is not-found; the slice is not-found or a file-less, non-transient stand-in
    // (LoadUnit itself loads any slice name).
    const sliceGone = s.loadState === 'not-found' || !s.transient;
    if (sliceGone && u.loadState === 'not-found') return;
    for (const st of [s, u]) {
      if (st.loadState !== 'not-found' && st.activeState === 'failed') await client.resetFailedUnit(st.name).catch(() => undefined);
    }
    if (Date.now() >= deadline) {
      const left = [sliceGone ? undefined : s, u].filter((x) => x !== undefined && x.loadState !== 'not-found') as UnitState[];
      const names = left.map((x) => `${x.name} (${x.activeState})`);
      throw new KeelError('E_UNIT_EXISTS', `${names.join(' and ')} stayed loaded after being stopped: another unit still refers to it`, {
        detail: { unit },
        hint: `see systemctl list-dependencies --reverse ${unit}; stop or remove the units that require it, then apply again`,
      });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
