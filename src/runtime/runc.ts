// runc as keel drives it: argv builders (pure) for the unit's ExecStart,
// ExecStartPre/ExecStopPost and `keel exec`, and a few direct calls (state,
// delete) through execa. Invariants: every runc call names keel's own state
// root (--root RUNC_ROOT), so keel never sees or touches containers of other
// runc users (docker, podman, containerd); container id = the container's
// name; the cgroupfs driver is used (no --systemd-cgroup), so the container
// stays inside its unit's cgroup (docs/systemd.md).

import { existsSync } from 'node:fs';
import { KeelError } from '../errors.ts';

/** execa is loaded on first use: most commands never spawn anything (start-up time matters at boot). */
async function loadExeca(): Promise<typeof import('execa').execa> {
  return (await import('execa')).execa;
}

/** runc's state directory for keel's containers: a tmpfs, so a reboot leaves no stale state. */
export const RUNC_ROOT = '/run/keel/runc';

const RUNC_CANDIDATES = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'];

/** The absolute path of runc ($KEEL_RUNC, else the first of the usual places that exists). */
export function runcPath(): string {
  const forced = process.env['KEEL_RUNC'];
  if (forced !== undefined && forced !== '') return forced;
  const found = RUNC_CANDIDATES.find((p) => existsSync(p));
  if (found === undefined) {
    throw new KeelError('E_RUNC_FAILED', 'runc was not found in /usr/sbin, /usr/bin, /usr/local/sbin or /usr/local/bin');
  }
  return found;
}

export interface RuncOptions {
  /** Absolute path of the runc binary. */
  readonly runc: string;
  /** runc --root (default RUNC_ROOT). */
  readonly root?: string | undefined;
}

function base(o: RuncOptions): string[] {
  return [o.runc, '--root', o.root ?? RUNC_ROOT];
}

/** `runc run` in the foreground: the unit's main process; stdout/stderr go to the journal. */
export function runArgv(o: RuncOptions, id: string, bundleDir: string): string[] {
  return [...base(o), 'run', '--bundle', bundleDir, '--no-new-keyring', id];
}

/** Removes a stale state of the same id (a crashed runc leaves one behind); fails harmlessly if none. */
export function deleteArgv(o: RuncOptions, id: string): string[] {
  return [...base(o), 'delete', '--force', id];
}

export function execArgv(o: RuncOptions, id: string, command: readonly string[], env: readonly string[] = []): string[] {
  const out = [...base(o), 'exec'];
  for (const e of env) out.push('--env', e);
  return [...out, id, ...command];
}

export interface RuncState {
  readonly id: string;
  readonly pid: number;
  readonly status: string;
  readonly bundle: string;
}

/** `runc state ID`, or undefined when runc has no container of that id. */
export async function runcState(o: RuncOptions, id: string): Promise<RuncState | undefined> {
  const r = await (await loadExeca())(o.runc, ['--root', o.root ?? RUNC_ROOT, 'state', id], { reject: false, timeout: 30_000 });
  if (r.exitCode !== 0) return undefined;
  try {
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    return { id: String(s['id']), pid: Number(s['pid']), status: String(s['status']), bundle: String(s['bundle']) };
  } catch {
    return undefined;
  }
}

/** `runc delete --force ID`; true when something was deleted. */
export async function runcDelete(o: RuncOptions, id: string): Promise<boolean> {
  if ((await runcState(o, id)) === undefined) return false;
  const [cmd, ...args] = deleteArgv(o, id);
  const r = await (await loadExeca())(cmd as string, args, { reject: false, timeout: 60_000 });
  if (r.exitCode !== 0 && (await runcState(o, id)) !== undefined) {
    throw new KeelError('E_RUNC_FAILED', `runc delete --force ${id} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  }
  return true;
}
