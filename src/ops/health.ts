// The health gate of an update (greenboot/bootc style): the new deployment's
// start job must end "done" (ready, for notify containers), the unit must then
// stay up — no exit, no restart, the same main pid — for a stability window,
// and the manifest's healthCheck, if any, must pass inside the container.
// Throws the reason as a KeelError; the executor switches back on a throw.

import { KeelError } from '../errors.ts';
import type { ContainerSpec } from '../manifest/index.ts';
import { execArgv } from '../runtime/index.ts';
import type { JobOutcome, SystemdClient } from '../systemd/index.ts';
import { hasFailed } from './container-units.ts';

/** execa is loaded on first use: most commands never spawn anything (start-up time matters at boot). */
async function loadExeca(): Promise<typeof import('execa').execa> {
  return (await import('execa')).execa;
}

export interface GateOptions {
  /** How long the unit must stay up after its start job (default 5000 ms). */
  readonly windowMs: number;
  readonly runc: string;
  readonly runcRoot?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly log: (line: string) => void;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs the manifest's health check until one attempt passes; throws E_HEALTH_CHECK_FAILED after `retries`. */
export async function runHealthCheck(spec: ContainerSpec, options: GateOptions): Promise<void> {
  const check = spec.healthCheck;
  if (check === undefined) return;
  let last = '';
  for (let attempt = 1; attempt <= check.retries; attempt++) {
    await sleep(check.intervalSec * 1000, options.signal);
    const [cmd, ...args] = execArgv({ runc: options.runc, root: options.runcRoot }, spec.name, check.command);
    const r = await (await loadExeca())(cmd as string, args, { reject: false, timeout: check.timeoutSec * 1000, all: true, stdin: 'ignore' });
    if (r.exitCode === 0) return;
    const output = (r.all ?? '').trim().split('\n').slice(-3).join(' | ');
    last = r.timedOut ? `timed out after ${check.timeoutSec} s` : `exit status ${r.exitCode ?? `signal ${r.signal ?? '?'}`}${output ? `: ${output}` : ''}`;
    options.log(`${spec.unit}: health check attempt ${attempt}/${check.retries} failed (${last})`);
  }
  throw new KeelError('E_HEALTH_CHECK_FAILED', `${spec.unit}: health check ${JSON.stringify(check.command.join(' '))} failed ${check.retries} times (last: ${last})`, {
    detail: { unit: spec.unit, command: check.command, retries: check.retries, last },
  });
}

/**
 * Waits for the start `job`, then the stability window, then the health
 * check. `restartsBefore`: the unit's NRestarts before the start.
 */
export async function healthGate(client: SystemdClient, spec: ContainerSpec, job: Promise<JobOutcome>, restartsBefore: number, options: GateOptions): Promise<void> {
  await job;
  const first = await client.getUnitState(spec.unit);
  const deadline = Date.now() + options.windowMs;
  let state = first;
  for (;;) {
    if (hasFailed(state, restartsBefore) || !['active', 'reloading'].includes(state.activeState) || (first.mainPid > 0 && state.mainPid !== first.mainPid)) {
      const status = state.execMainStatus ? ` (exit status ${state.execMainStatus})` : '';
      throw new KeelError('E_UNIT_FAILED', `${spec.unit} did not stay up for ${Math.round(options.windowMs / 1000)} s after it started: it is ${state.activeState}/${state.subState}${status}`, {
        detail: { unit: spec.unit, activeState: state.activeState, subState: state.subState, result: state.result, execMainStatus: state.execMainStatus },
      });
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(250, Math.max(1, deadline - Date.now())), options.signal);
    state = await client.getUnitState(spec.unit);
  }
  await runHealthCheck(spec, options);
}
