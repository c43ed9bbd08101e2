// Pure rendering of keel's desired unit settings into the D-Bus `a(sv)`
// property array that StartTransientUnit takes. No I/O, no dbus-next: each
// property is a plain { name, signature, value } so tests can compare goldens.
// Invariants: every value is checked against what systemd 252 accepts BEFORE
// anything is sent (a bad value is E_UNIT_PROPERTY_INVALID, never a D-Bus
// error after a half-done apply); 64-bit values are BigInt; durations go out
// in microseconds; the output order is fixed for a given input.

import { constants as osConstants } from 'node:os';
import { KeelError } from '../errors.ts';
import { escapeUnitComponent, parseUnitName } from './unit-name.ts';

/** One entry of StartTransientUnit's `a(sv)`: the variant's signature and value. */
export interface UnitProperty {
  readonly name: string;
  readonly signature: string;
  readonly value: unknown;
}
export type UnitProperties = readonly UnitProperty[];

/** systemd's "infinity" for t-typed limits and durations (UINT64_MAX). */
export const UINT64_MAX = (1n << 64n) - 1n;

export type Duration = number /* milliseconds */ | 'infinity';
export type Limit = number | 'infinity';
export type ServiceType = 'simple' | 'exec' | 'notify' | 'oneshot';
export type RestartPolicy = 'no' | 'on-success' | 'on-failure' | 'on-abnormal' | 'on-watchdog' | 'on-abort' | 'always';
export type NotifyAccess = 'none' | 'main' | 'exec' | 'all';
export type KillMode = 'control-group' | 'mixed' | 'process' | 'none';
export type CollectMode = 'inactive' | 'inactive-or-failed';

/** What keel wants a service unit to be; rendered by renderServiceProperties. */
export interface ServiceSettings {
  readonly description: string;
  /** argv; argv[0] is an absolute, normalized path. */
  readonly execStart: readonly string[];
  readonly type?: ServiceType | undefined;
  readonly notifyAccess?: NotifyAccess | undefined;
  readonly syslogIdentifier?: string | undefined;
  readonly restart?: RestartPolicy | undefined;
  readonly restartDelayMs?: number | undefined;
  readonly startTimeout?: Duration | undefined;
  readonly stopTimeout?: Duration | undefined;
  /** A signal name ("SIGTERM", "TERM") or number 1..64. */
  readonly killSignal?: string | number | undefined;
  readonly killMode?: KillMode | undefined;
  /** Exit statuses (0..255) that count as success, e.g. 143 for a payload that dies of SIGTERM under runc. */
  readonly successExitStatus?: readonly number[] | undefined;
  readonly remainAfterExit?: boolean | undefined;
  /** Bytes. */
  readonly memoryMax?: Limit | undefined;
  /** 1..10000. */
  readonly cpuWeight?: number | undefined;
  readonly tasksMax?: Limit | undefined;
  /** Soft and hard RLIMIT_NOFILE. */
  readonly limitNofile?: Limit | undefined;
  readonly after?: readonly string[] | undefined;
  readonly before?: readonly string[] | undefined;
  readonly requires?: readonly string[] | undefined;
  readonly wants?: readonly string[] | undefined;
  readonly bindsTo?: readonly string[] | undefined;
  readonly environment?: Readonly<Record<string, string>> | undefined;
  readonly workingDirectory?: string | undefined;
  /** The slice the service's cgroup lives in (default system.slice). */
  readonly slice?: string | undefined;
  /** Delegate=yes: the unit's cgroup subtree may be managed by its processes (runc). */
  readonly delegate?: boolean | undefined;
  readonly collectMode?: CollectMode | undefined;
  /** LoadCredential=ID:PATH, in order: systemd copies each file into $CREDENTIALS_DIRECTORY/ID at start. */
  readonly loadCredential?: readonly Credential[] | undefined;
  /** LoadCredentialEncrypted=ID:PATH: the same for files made by `systemd-creds encrypt`. */
  readonly loadCredentialEncrypted?: readonly Credential[] | undefined;
}

/** A credential's id (a file name in the unit's credentials directory) and the host path systemd reads it from. */
export interface Credential {
  readonly id: string;
  readonly path: string;
}

const SERVICE_TYPES: readonly ServiceType[] = ['simple', 'exec', 'notify', 'oneshot'];
const RESTART_POLICIES: readonly RestartPolicy[] = ['no', 'on-success', 'on-failure', 'on-abnormal', 'on-watchdog', 'on-abort', 'always'];
const NOTIFY_ACCESS: readonly NotifyAccess[] = ['none', 'main', 'exec', 'all'];
const KILL_MODES: readonly KillMode[] = ['control-group', 'mixed', 'process', 'none'];
const COLLECT_MODES: readonly CollectMode[] = ['inactive', 'inactive-or-failed'];
/** CGROUP_WEIGHT_MIN/MAX. */
const CPU_WEIGHT_MIN = 1;
const CPU_WEIGHT_MAX = 10000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SYSLOG_IDENTIFIER = /^[A-Za-z0-9_.@:+-]{1,128}$/;
/** systemd's credential_name_valid(): a valid file name (no "/", not "." or ".."); ":" would split ID:PATH. */
const CREDENTIAL_ID = /^(?!\.\.?$)[^/:\x00-\x1f\x7f]{1,255}$/;

function bad(setting: string, message: string, value: unknown): KeelError {
  let shown: string;
  try {
    shown = typeof value === 'bigint' ? `${value}` : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  return new KeelError('E_UNIT_PROPERTY_INVALID', `unit setting ${setting}: ${message} (got ${shown.slice(0, 200)})`, {
    detail: { setting },
  });
}

/** D-Bus strings must be valid UTF-8 without NUL; systemd also rejects most control characters. */
function checkText(setting: string, value: unknown, opts: { allowTabNewline?: boolean; allowEmpty?: boolean } = {}): string {
  if (typeof value !== 'string') throw bad(setting, 'must be a string', value);
  if (!opts.allowEmpty && value.length === 0) throw bad(setting, 'must not be empty', value);
  if (!value.isWellFormed()) throw bad(setting, 'must be valid Unicode (no lone surrogates)', value);
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (code === 0) throw bad(setting, 'must not contain NUL', value);
    if ((code < 0x20 || code === 0x7f) && !(opts.allowTabNewline && (ch === '\t' || ch === '\n'))) {
      throw bad(setting, 'must not contain control characters', value);
    }
  }
  return value;
}

function checkAbsolutePath(setting: string, value: unknown): string {
  const path = checkText(setting, value);
  if (!path.startsWith('/')) throw bad(setting, 'must be an absolute path', value);
  if (path.length > 4095) throw bad(setting, 'is longer than PATH_MAX', value);
  const parts = path.split('/').slice(1);
  if (path !== '/' && parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw bad(setting, 'must be normalized (no //, ., .. or trailing /)', value);
  }
  return path;
}

function pick<T extends string>(setting: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw bad(setting, `must be one of ${allowed.join(', ')}`, value);
  }
  return value as T;
}

function checkInteger(setting: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw bad(setting, `must be an integer from ${min} to ${max}`, value);
  }
  return value;
}

/** Milliseconds (or "infinity") to systemd microseconds. */
export function durationToUsec(setting: string, value: Duration): bigint {
  if (value === 'infinity') return UINT64_MAX;
  return BigInt(checkInteger(setting, value, 0, Number.MAX_SAFE_INTEGER)) * 1000n;
}

function limit(setting: string, value: Limit, min: number): bigint {
  if (value === 'infinity') return UINT64_MAX;
  return BigInt(checkInteger(setting, value, min, Number.MAX_SAFE_INTEGER));
}

/** A signal name or number to the number systemd's KillSignal (i) takes. */
export function signalNumber(setting: string, value: string | number): number {
  if (typeof value === 'number') return checkInteger(setting, value, 1, 64);
  const name = typeof value === 'string' ? value.toUpperCase() : '';
  const full = name.startsWith('SIG') ? name : `SIG${name}`;
  const signals = osConstants.signals as Readonly<Record<string, number>>;
  const num = Object.hasOwn(signals, full) ? signals[full] : undefined;
  if (num === undefined) throw bad(setting, 'must be a signal name such as SIGTERM or a number 1..64', value);
  return num;
}

function unitList(setting: string, names: readonly string[]): string[] {
  if (!Array.isArray(names)) throw bad(setting, 'must be a list of unit names', names);
  const seen = new Set<string>();
  for (const name of names) {
    parseUnitName(name, {}, `${setting} entry`);
    seen.add(name);
  }
  return [...seen];
}

function prop(name: string, signature: string, value: unknown): UnitProperty {
  return Object.freeze({ name, signature, value });
}

/**
 * Renders a service's settings into StartTransientUnit properties.
 * Throws E_UNIT_PROPERTY_INVALID on the first value systemd 252 would refuse.
 */
export function renderServiceProperties(s: ServiceSettings): UnitProperty[] {
  const out: UnitProperty[] = [];
  out.push(prop('Description', 's', checkText('Description', s.description)));

  if (!Array.isArray(s.execStart) || s.execStart.length === 0) {
    throw bad('ExecStart', 'must be a non-empty argv list', s.execStart);
  }
  const argv = s.execStart.map((arg, i) => checkText(`ExecStart[${i}]`, arg, { allowEmpty: i > 0, allowTabNewline: i > 0 }));
  const path = checkAbsolutePath('ExecStart[0]', argv[0]);
  // (path, argv including argv[0], ignore-failure): a(sasb), as systemd-run sends it
  out.push(prop('ExecStart', 'a(sasb)', [[path, argv, false]]));

  const type = s.type === undefined ? 'simple' : pick('Type', s.type, SERVICE_TYPES);
  out.push(prop('Type', 's', type));
  if (s.notifyAccess !== undefined) {
    const access = pick('NotifyAccess', s.notifyAccess, NOTIFY_ACCESS);
    if (type !== 'notify' && access !== 'none') throw bad('NotifyAccess', 'only makes sense with Type=notify', access);
    out.push(prop('NotifyAccess', 's', access));
  }
  if (s.remainAfterExit !== undefined) out.push(prop('RemainAfterExit', 'b', s.remainAfterExit === true));
  if (s.syslogIdentifier !== undefined) {
    const id = checkText('SyslogIdentifier', s.syslogIdentifier);
    if (!SYSLOG_IDENTIFIER.test(id)) throw bad('SyslogIdentifier', 'must be 1-128 of A-Z a-z 0-9 _ . @ : + -', id);
    out.push(prop('SyslogIdentifier', 's', id));
  }
  if (s.workingDirectory !== undefined) out.push(prop('WorkingDirectory', 's', checkAbsolutePath('WorkingDirectory', s.workingDirectory)));
  if (s.environment !== undefined) {
    const env: string[] = [];
    for (const key of Object.keys(s.environment).sort()) {
      if (!ENV_NAME.test(key)) throw bad('Environment', 'variable names must match [A-Za-z_][A-Za-z0-9_]*', key);
      const value = checkText(`Environment ${key}`, s.environment[key], { allowEmpty: true, allowTabNewline: true });
      env.push(`${key}=${value}`);
    }
    out.push(prop('Environment', 'as', env));
  }

  if (s.restart !== undefined) {
    const restart = pick('Restart', s.restart, RESTART_POLICIES);
    if (type === 'oneshot' && (restart === 'always' || restart === 'on-success')) {
      throw bad('Restart', 'always and on-success are not allowed with Type=oneshot', restart);
    }
    out.push(prop('Restart', 's', restart));
  }
  if (s.restartDelayMs !== undefined) out.push(prop('RestartUSec', 't', durationToUsec('RestartUSec', s.restartDelayMs)));
  if (s.startTimeout !== undefined) out.push(prop('TimeoutStartUSec', 't', durationToUsec('TimeoutStartUSec', s.startTimeout)));
  if (s.stopTimeout !== undefined) out.push(prop('TimeoutStopUSec', 't', durationToUsec('TimeoutStopUSec', s.stopTimeout)));
  if (s.killSignal !== undefined) out.push(prop('KillSignal', 'i', signalNumber('KillSignal', s.killSignal)));
  if (s.killMode !== undefined) out.push(prop('KillMode', 's', pick('KillMode', s.killMode, KILL_MODES)));
  if (s.successExitStatus !== undefined) {
    if (!Array.isArray(s.successExitStatus)) throw bad('SuccessExitStatus', 'must be a list of exit statuses', s.successExitStatus);
    const statuses = [...new Set(s.successExitStatus.map((n) => checkInteger('SuccessExitStatus', n, 0, 255)))];
    // (exit statuses, signals)
    out.push(prop('SuccessExitStatus', '(aiai)', [statuses, []]));
  }

  if (s.slice !== undefined) {
    parseUnitName(s.slice, { types: ['slice'] }, 'Slice');
    out.push(prop('Slice', 's', s.slice));
  }
  if (s.delegate !== undefined) out.push(prop('Delegate', 'b', s.delegate === true));
  if (s.memoryMax !== undefined) out.push(prop('MemoryMax', 't', limit('MemoryMax', s.memoryMax, 1)));
  if (s.cpuWeight !== undefined) out.push(prop('CPUWeight', 't', BigInt(checkInteger('CPUWeight', s.cpuWeight, CPU_WEIGHT_MIN, CPU_WEIGHT_MAX))));
  if (s.tasksMax !== undefined) out.push(prop('TasksMax', 't', limit('TasksMax', s.tasksMax, 1)));
  if (s.limitNofile !== undefined) {
    const n = limit('LimitNOFILE', s.limitNofile, 1);
    // LimitNOFILE is the hard limit, LimitNOFILESoft the soft one; systemd-run sends both too.
    out.push(prop('LimitNOFILE', 't', n), prop('LimitNOFILESoft', 't', n));
  }

  for (const [setting, list] of [
    ['Requires', s.requires],
    ['BindsTo', s.bindsTo],
    ['Wants', s.wants],
    ['After', s.after],
    ['Before', s.before],
  ] as const) {
    if (list !== undefined && list.length > 0) out.push(prop(setting, 'as', unitList(setting, list)));
  }
  for (const [setting, list] of [['LoadCredential', s.loadCredential], ['LoadCredentialEncrypted', s.loadCredentialEncrypted]] as const) {
    if (list === undefined || list.length === 0) continue;
    // a(ss): (id, path), as systemd 252's bus_set_transient_load_credential reads it.
    out.push(prop(setting, 'a(ss)', list.map((c) => {
      const id = checkText(`${setting} id`, c.id);
      if (!CREDENTIAL_ID.test(id)) throw bad(`${setting} id`, 'must be a file name (no "/" or ":", not "." or "..", at most 255 bytes)', id);
      return [id, checkAbsolutePath(`${setting} ${id}`, c.path)];
    })));
  }
  if (s.collectMode !== undefined) out.push(prop('CollectMode', 's', pick('CollectMode', s.collectMode, COLLECT_MODES)));
  return out;
}

/**
 * The transient slice that keeps a stopped transient service loaded: systemd
 * garbage-collects an inactive transient service unless an active unit
 * references it, and a slice's Wants= does (targets cannot be transient).
 * "etcd.service" -> "keel-etcd.slice"; dashes are escaped ("kube-proxy" ->
 * "keel-kube\x2dproxy.slice") because a dash in a slice name means a parent.
 */
export function keepAliveSliceName(service: string): string {
  parseUnitName(service, { types: ['service'] }, 'service name');
  const stem = service.slice(0, -'.service'.length);
  const name = `keel-${escapeUnitComponent(stem)}.slice`;
  parseUnitName(name, { types: ['slice'] }, 'keep-alive slice name');
  return name;
}

export function renderKeepAliveProperties(service: string): UnitProperty[] {
  parseUnitName(service, { types: ['service'] }, 'service name');
  return [
    prop('Description', 's', `keel: keeps ${service} loaded while it is stopped`),
    prop('Wants', 'as', [service]),
  ];
}
