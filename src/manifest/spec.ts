// ContainerSpec: one validated system container, defaults applied, deeply
// frozen. Built only from a document the walk found no problem in, so the
// casts below rely on the key table's types having been checked.

import { parseReference, type ImageReference } from '../oci/reference.ts';
import {
  CAPABILITIES, CONTAINER_DEFAULT_CAPABILITIES, type Capability, type Propagation, type RestartPolicy, type StopSignal,
} from './constants.ts';
import { parseDuration, parseSize } from './units.ts';

export interface BindMount {
  readonly type: 'bind';
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
  readonly propagation: Propagation;
  /** Create the host source directory if it is missing. */
  readonly create: boolean;
  readonly allowSensitive: boolean;
}

export interface TmpfsMount {
  readonly type: 'tmpfs';
  readonly target: string;
  /** undefined: the kernel default. */
  readonly sizeBytes: number | undefined;
  readonly mode: number;
}

export type Mount = BindMount | TmpfsMount;

export interface UserSpec {
  /** Name or decimal uid, as written. */
  readonly user: string;
  /** Name or decimal gid, as written; undefined: the user's primary group. */
  readonly group: string | undefined;
}

export interface HealthCheckSpec {
  readonly command: readonly string[];
  readonly intervalSec: number;
  readonly timeoutSec: number;
  readonly retries: number;
}

/** A systemd credential: the unit loads it, the container reads /run/secrets/NAME. */
export interface CredentialSpec {
  readonly name: string;
  /** The host file; its content is never read by keel. */
  readonly file: string;
  /** true: made by `systemd-creds encrypt` (LoadCredentialEncrypted=). */
  readonly encrypted: boolean;
}

export interface ContainerSpec {
  readonly name: string;
  /** NAME.service */
  readonly unit: string;
  /** The image reference as written (after substitution). */
  readonly image: string;
  readonly reference: ImageReference;
  readonly description: string;
  /** undefined: the image's entrypoint / cmd. */
  readonly command: readonly string[] | undefined;
  readonly args: readonly string[] | undefined;
  readonly env: Readonly<Record<string, string>>;
  /** Host files of KEY=value lines read at render time, in order (later win; env wins over them). */
  readonly envFiles: readonly string[];
  readonly credentials: readonly CredentialSpec[];
  /** Run keel's init (tini) as PID 1 in front of the command. */
  readonly init: boolean;
  readonly workingDir: string | undefined;
  readonly user: UserSpec | undefined;
  readonly mounts: readonly Mount[];
  readonly readOnlyRootfs: boolean;
  readonly network: 'host' | 'none' | 'private';
  readonly pid: 'host' | 'private';
  readonly ipc: 'host' | 'private';
  /** Bind host /etc/hosts, /etc/resolv.conf (read-only) and use the host's hostname. */
  readonly hostFiles: boolean;
  /** The effective capability set (bounding = effective = permitted), in kernel order. */
  readonly capabilities: readonly Capability[];
  readonly resources: {
    /** undefined: no limit. */
    readonly memoryMaxBytes: number | undefined;
    readonly cpuWeight: number | undefined;
    readonly tasksMax: number | 'infinity' | undefined;
    readonly nofile: number;
  };
  readonly restart: { readonly policy: RestartPolicy; readonly delaySec: number };
  readonly notify: boolean;
  readonly stopSignal: StopSignal;
  readonly stopTimeoutSec: number;
  /** Unit names: container references are normalised to NAME.service. */
  readonly after: readonly string[];
  readonly before: readonly string[];
  readonly requires: readonly string[];
  readonly wants: readonly string[];
  readonly pull: 'missing' | 'always' | 'never';
  /** Run by `keel update` inside the new deployment; undefined: only the unit's state gates an update. */
  readonly healthCheck: HealthCheckSpec | undefined;
  /** `keel update --auto` (keel-update.timer) may update it. */
  readonly autoUpdate: boolean;
  /** Where the document starts. */
  readonly source: { readonly file: string; readonly line: number };
  /** Which defaults the document overrode (not rendered; lets apply warn only about what a manifest asked for). */
  readonly given: { readonly nofile: boolean };
}

type Raw = Record<string, unknown>;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function toUnitName(ref: string): string {
  return ref.includes('.') ? ref : `${ref}.service`;
}

function effectiveCapabilities(raw: Raw | undefined): Capability[] {
  const add = (raw?.['add'] as string[] | undefined) ?? [];
  const drop = (raw?.['drop'] as string[] | undefined) ?? [];
  const set = new Set<string>(drop.includes('ALL') ? [] : CONTAINER_DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c)));
  for (const c of add.includes('ALL') ? CAPABILITIES : add) set.add(c);
  return CAPABILITIES.filter((c) => set.has(c));
}

function toMount(m: Raw): Mount {
  if (m['type'] === 'tmpfs') {
    return {
      type: 'tmpfs',
      target: m['target'] as string,
      sizeBytes: typeof m['size'] === 'string' ? parseSize(m['size']) : undefined,
      mode: parseInt((m['mode'] as string | undefined) ?? '1777', 8),
    };
  }
  return {
    type: 'bind',
    source: m['source'] as string,
    target: m['target'] as string,
    readOnly: (m['readOnly'] as boolean | undefined) ?? true,
    propagation: (m['propagation'] as Propagation | undefined) ?? 'rprivate',
    create: (m['create'] as boolean | undefined) ?? false,
    allowSensitive: (m['allowSensitive'] as boolean | undefined) ?? false,
  };
}

function toCredential(c: Raw): CredentialSpec {
  const encrypted = c['encryptedFile'] !== undefined;
  return { name: c['name'] as string, file: (encrypted ? c['encryptedFile'] : c['file']) as string, encrypted };
}

function toUser(u: unknown): UserSpec | undefined {
  if (u === undefined) return undefined;
  const [user = '', group] = String(u).split(':');
  return { user, group };
}

function seconds(v: unknown, fallback: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return parseDuration(v) ?? fallback;
  return fallback;
}

function toHealthCheck(h: Raw | undefined): HealthCheckSpec | undefined {
  if (h === undefined) return undefined;
  return {
    command: h['command'] as string[],
    intervalSec: seconds(h['interval'], 5),
    timeoutSec: seconds(h['timeout'], 10),
    retries: (h['retries'] as number | undefined) ?? 3,
  };
}

export function buildSpec(raw: Raw, source: { file: string; line: number }): ContainerSpec {
  const name = raw['name'] as string;
  const network = (raw['network'] as ContainerSpec['network'] | undefined) ?? 'host';
  const res = (raw['resources'] as Raw | undefined) ?? {};
  const restart = (raw['restart'] as Raw | undefined) ?? {};
  const memoryMax = res['memoryMax'];
  const tasksMax = res['tasksMax'];
  const stopTimeout = raw['stopTimeout'] ?? 30;
  const list = (key: string): string[] => ((raw[key] as string[] | undefined) ?? []).map(toUnitName);
  const spec: ContainerSpec = {
    name,
    unit: `${name}.service`,
    image: raw['image'] as string,
    reference: parseReference(raw['image'] as string),
    description: (raw['description'] as string | undefined) ?? `keel system container ${name}`,
    command: raw['command'] as string[] | undefined,
    args: raw['args'] as string[] | undefined,
    env: Object.fromEntries(Object.entries((raw['env'] as Raw | undefined) ?? {})) as Record<string, string>,
    envFiles: (raw['envFiles'] as string[] | undefined) ?? [],
    credentials: ((raw['credentials'] as Raw[] | undefined) ?? []).map(toCredential),
    init: (raw['init'] as boolean | undefined) ?? false,
    workingDir: raw['workingDir'] as string | undefined,
    user: toUser(raw['user']),
    mounts: ((raw['mounts'] as Raw[] | undefined) ?? []).map(toMount),
    readOnlyRootfs: (raw['readOnlyRootfs'] as boolean | undefined) ?? true,
    network,
    pid: (raw['pid'] as 'host' | 'private' | undefined) ?? 'private',
    ipc: (raw['ipc'] as 'host' | 'private' | undefined) ?? 'private',
    hostFiles: (raw['hostFiles'] as boolean | undefined) ?? network === 'host',
    capabilities: effectiveCapabilities(raw['capabilities'] as Raw | undefined),
    resources: {
      memoryMaxBytes: typeof memoryMax === 'number' ? memoryMax : typeof memoryMax === 'string' ? parseSize(memoryMax) : undefined,
      cpuWeight: res['cpuWeight'] as number | undefined,
      // infinity is a value, not "unset": unset leaves systemd's DefaultTasksMax (15 % of the pid limit).
      tasksMax: typeof tasksMax === 'number' || tasksMax === 'infinity' ? tasksMax : undefined,
      nofile: (res['nofile'] as number | undefined) ?? 65536,
    },
    restart: {
      policy: (restart['policy'] as RestartPolicy | undefined) ?? 'on-failure',
      delaySec: (restart['delaySec'] as number | undefined) ?? 5,
    },
    notify: (raw['notify'] as boolean | undefined) ?? false,
    stopSignal: (raw['stopSignal'] as StopSignal | undefined) ?? 'SIGTERM',
    stopTimeoutSec: typeof stopTimeout === 'number' ? stopTimeout : (parseDuration(stopTimeout as string) ?? 30),
    after: list('after'),
    before: list('before'),
    requires: list('requires'),
    wants: list('wants'),
    pull: (raw['pull'] as ContainerSpec['pull'] | undefined) ?? 'missing',
    healthCheck: toHealthCheck(raw['healthCheck'] as Raw | undefined),
    autoUpdate: (raw['autoUpdate'] as boolean | undefined) ?? false,
    source: { file: source.file, line: source.line },
    given: { nofile: res['nofile'] !== undefined },
  };
  return deepFreeze(spec);
}
