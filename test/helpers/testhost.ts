// bootTestHost: a disposable systemd guest for end-to-end tests, a thin
// wrapper over scripts/testhost (systemd-nspawn over an overlay of /, see
// ../shared/docs/testing.md). Needs root and systemd-container.
// Invariants: boot leftovers of the same name are torn down first (the
// script does it); shutdown() is idempotent; exec() never throws on a
// non-zero exit status, it reports it.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const TESTHOST_SCRIPT = fileURLToPath(new URL('../../scripts/testhost', import.meta.url));

export interface TestHostOptions {
  /** Host directories bind-mounted at the same path in the guest (e.g. the project). */
  binds?: readonly string[] | undefined;
  /** Keep the overlay's upper dir in DIR (a second boot over it is a reboot). */
  persist?: string | undefined;
  /** Extra units to mask (docker-registry, etcd and postgresql are masked already). */
  mask?: readonly string[] | undefined;
  /** Seconds to wait for the guest to be up (default 90). */
  timeoutSec?: number | undefined;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestHost {
  readonly name: string;
  /** Host pid of the guest's PID 1 (systemd). */
  readonly pid: number;
  /** unix:path=/proc/PID/root/run/dbus/system_bus_socket — the guest's system bus, from the host. */
  readonly busAddress: string;
  /** Milliseconds from `scripts/testhost up` to the guest being running/degraded. */
  readonly bootMs: number;
  /** Runs argv inside the guest (all its namespaces); resolves with the exit status. */
  exec(cmd: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  shutdown(): Promise<void>;
}

function run(args: readonly string[], input: string | undefined, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(TESTHOST_SCRIPT, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`scripts/testhost ${args.join(' ')}: no exit after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

export async function bootTestHost(name: string, options: TestHostOptions = {}): Promise<TestHost> {
  const args = ['up', name];
  for (const dir of options.binds ?? []) args.push('--bind', dir);
  for (const unit of options.mask ?? []) args.push('--mask', unit);
  if (options.persist !== undefined) args.push('--persist', options.persist);
  const timeoutSec = options.timeoutSec ?? 90;
  args.push('--timeout', String(timeoutSec));
  const started = performance.now();
  const up = await run(args, undefined, (timeoutSec + 60) * 1000);
  const bootMs = Math.round(performance.now() - started);
  const pid = Number(up.stdout.trim());
  if (up.code !== 0 || !Number.isSafeInteger(pid) || pid <= 1) {
    throw new Error(`booting test host ${name} failed (exit ${up.code}):\n${up.stderr}${up.stdout}`);
  }
  let down: Promise<void> | undefined;
  return {
    name,
    pid,
    busAddress: `unix:path=/proc/${pid}/root/run/dbus/system_bus_socket`,
    bootMs,
    exec: (cmd, o = {}) => run(['exec', name, '--', ...cmd], o.input, o.timeoutMs ?? 120_000),
    shutdown: () =>
      (down ??= run(['down', name], undefined, 60_000).then((r) => {
        if (r.code !== 0) throw new Error(`shutting down test host ${name} failed (exit ${r.code}): ${r.stderr}`);
      })),
  };
}
