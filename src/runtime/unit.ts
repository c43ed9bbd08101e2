// The transient NAME.service keel registers for a system container: pure
// rendering of a validated ContainerSpec plus its active bundle into
// StartTransientUnit properties. docs/units.md says why each property is
// there. Invariants: the container id is the container's name; runc runs in
// the foreground as the unit's main process with the cgroupfs driver, inside
// the unit's cgroup (Delegate=yes; config.json's cgroupsPath is
// /system.slice/NAME.service/container, so the unit's Slice is pinned to
// system.slice); limits go on the unit, never into config.json; a stale runc
// state of the same id is removed before start and after stop (failures of
// that cleanup are ignored); the output order is fixed for a given input.

import { constants as osConstants } from 'node:os';
import type { ContainerSpec } from '../manifest/index.ts';
import { renderServiceProperties, type ServiceSettings, type UnitProperty } from '../systemd/index.ts';
import { deleteArgv, runArgv, type RuncOptions } from './runc.ts';

/** The slice every container unit lives in; config.json's cgroupsPath names it. */
export const CONTAINER_SLICE = 'system.slice';

/** Where runc puts the container's processes, below the unit's own cgroup. */
export function containerCgroupsPath(name: string): string {
  return `/${CONTAINER_SLICE}/${name}.service/container`;
}

export interface ContainerUnitOptions extends RuncOptions {
  /** The active bundle (absolute). */
  readonly bundleDir: string;
}

/** What runc exits with when the container's init dies of `signal` (128 + N). */
export function signalExitStatus(signal: string): number {
  const n = (osConstants.signals as Readonly<Record<string, number>>)[signal];
  return 128 + (n ?? 15);
}

export function containerServiceSettings(spec: ContainerSpec, o: ContainerUnitOptions): ServiceSettings {
  const r = spec.resources;
  // Only the paths go to systemd: it reads the files at each start into
  // /run/credentials/NAME.service, which config.json binds at /run/secrets.
  const plain = spec.credentials.filter((c) => !c.encrypted).map((c) => ({ id: c.name, path: c.file }));
  const encrypted = spec.credentials.filter((c) => c.encrypted).map((c) => ({ id: c.name, path: c.file }));
  return {
    description: spec.description,
    // notify: the container talks to systemd's notify socket itself (config.json
    // binds it, bundle/container-config.ts), so runc must NOT proxy it: runc
    // 1.1 waits for READY=1 before it reaps, and a payload that dies at start
    // then hangs the unit in "activating" until TimeoutStartSec (issue 8).
    // Without the proxy runc exits with the payload's status at once.
    execStart: spec.notify ? ['/usr/bin/env', '-u', 'NOTIFY_SOCKET', ...runArgv(o, spec.name, o.bundleDir)] : runArgv(o, spec.name, o.bundleDir),
    type: spec.notify ? 'notify' : 'simple',
    // The sender is the payload, inside the unit's cgroup but not its main pid (runc).
    ...(spec.notify ? { notifyAccess: 'all' as const } : {}),
    syslogIdentifier: spec.name,
    restart: spec.restart.policy,
    restartDelayMs: Math.round(spec.restart.delaySec * 1000),
    stopTimeout: Math.round(spec.stopTimeoutSec * 1000),
    killSignal: spec.stopSignal,
    killMode: 'mixed',
    // runc exits 128+N when the init dies of signal N: a stop is not a failure.
    successExitStatus: [...new Set([signalExitStatus('SIGTERM'), signalExitStatus(spec.stopSignal)])],
    slice: CONTAINER_SLICE,
    delegate: true,
    ...(r.memoryMaxBytes !== undefined ? { memoryMax: r.memoryMaxBytes } : {}),
    ...(r.cpuWeight !== undefined ? { cpuWeight: r.cpuWeight } : {}),
    ...(r.tasksMax !== undefined ? { tasksMax: r.tasksMax } : {}),
    limitNofile: r.nofile,
    ...(plain.length > 0 ? { loadCredential: plain } : {}),
    ...(encrypted.length > 0 ? { loadCredentialEncrypted: encrypted } : {}),
    requires: spec.requires,
    wants: spec.wants,
    after: spec.after,
    before: spec.before,
  };
}

/** ExecStartPre/ExecStopPost entries: a(sasb) with ignore-failure = true (systemd's "-" prefix). */
function ignoringFailure(argv: readonly string[]): [string, string[], boolean] {
  return [argv[0] as string, [...argv], true];
}

/** The full property list for StartTransientUnit(NAME.service). */
export function renderContainerUnit(spec: ContainerSpec, o: ContainerUnitOptions): UnitProperty[] {
  const props = renderServiceProperties(containerServiceSettings(spec, o));
  const cleanup = deleteArgv(o, spec.name);
  props.push(
    Object.freeze({ name: 'ExecStartPre', signature: 'a(sasb)', value: [ignoringFailure(cleanup)] }),
    Object.freeze({ name: 'ExecStopPost', signature: 'a(sasb)', value: [ignoringFailure(cleanup)] }),
  );
  return props;
}
