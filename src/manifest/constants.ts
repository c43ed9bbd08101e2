// Closed vocabularies of the manifest format: capabilities, signals, restart
// policies, unit suffixes, and the patterns names and paths must match.
// Patterns are anchored, flag-free and valid with the `u` flag, because they
// are copied verbatim into manifests/schema.json.

/** Container names: they become `NAME.service` and directory names, so no '/', '.', '@', whitespace. */
export const NAME = /^[a-z][a-z0-9-]{0,62}$/;
/** Names that would collide with keel's own units. */
export const RESERVED_NAMES: readonly string[] = ['keel'];

/** A normalised absolute path: no '.', '..' or empty components, no trailing '/', no control characters. */
export const ABSOLUTE_PATH = /^(?:\/|(?:\/(?!\.\.?(?:\/|$))[^/\x00-\x1f\x7f]+)+)$/;

export const UNIT_SUFFIXES = ['service', 'socket', 'device', 'mount', 'automount', 'swap', 'target', 'path', 'timer', 'slice', 'scope'] as const;
/** A host systemd unit name (templates allowed: getty@tty1.service). */
export const HOST_UNIT = new RegExp(String.raw`^[-A-Za-z0-9:_.\\]+(?:@[-A-Za-z0-9:_.\\]*)?\.(?:` + UNIT_SUFFIXES.join('|') + ')$');
/** An ordering reference: a system container name or a host unit name. */
export const UNIT_REFERENCE = new RegExp(`${NAME.source}|${HOST_UNIT.source}`);

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** user or uid, optionally :group or :gid. */
export const USER = /^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})(?::(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10}))?$/;
export const OCTAL_MODE = /^[0-7]{3,4}$/;
/** One line of printable text (goes into the unit's Description=). */
export const ONE_LINE = /^[^\x00-\x1f\x7f]*$/;

export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/**
 * The set a system container starts from before its manifest's
 * capabilities.drop and .add (podman's default): enough for a daemon that
 * drops to its own user and binds low ports. (Not the set of the config.json
 * `keel unpack` writes for an image alone: that is UNPACK_CAPABILITIES.)
 */
export const CONTAINER_DEFAULT_CAPABILITIES: readonly Capability[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETFCAP',
  'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT',
];

export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGKILL', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGPWR', 'SIGABRT', 'SIGALRM'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

export const RESTART_POLICIES = ['no', 'on-success', 'on-failure', 'on-abnormal', 'on-watchdog', 'on-abort', 'always'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export const PROPAGATIONS = ['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared'] as const;
export type Propagation = (typeof PROPAGATIONS)[number];

/**
 * Host paths a bind mount may not use as (or under) its source unless the
 * mount says `allowSensitive: true`: the whole host, kernel interfaces, the
 * D-Bus socket, and keel's default store. The bundle renderer enforces the
 * same rule against the real --root.
 */
export const SENSITIVE_SOURCES: readonly string[] = ['/', '/proc', '/sys', '/run/dbus', '/var/run/dbus', '/var/lib/keel'];

/** keel's default store: a bind source that contains it (/var, /var/lib) would expose the store too. */
export const DEFAULT_STORE_ROOT = '/var/lib/keel';

function under(p: string, base: string): boolean {
  return p === base || (base !== '/' && p.startsWith(`${base}/`));
}

/**
 * The sensitive host path a bind source is, is under, or contains (keel's
 * store: binding /var would expose the files every container shares through
 * hard links); undefined if none. The one rule the manifest validator and the
 * renderer (with the real --root added) both apply.
 */
export function sensitiveSource(source: string, storeRoots: readonly string[] = [DEFAULT_STORE_ROOT]): string | undefined {
  const hit = SENSITIVE_SOURCES.find((s) => under(source, s));
  if (hit !== undefined) return hit;
  return storeRoots.find((r) => under(r, source) || under(source, r));
}

export const MAX_FILE_BYTES = 1024 * 1024;
/** Nesting of [ ] and { } (counted naively, strings included) above which a file is refused unparsed. */
export const MAX_FLOW_DEPTH = 64;
/** yaml's own per-document alias expansion cap (toJS maxAliasCount). */
export const MAX_ALIAS_COUNT = 16;
/** Nodes visited per document, aliases expanded: a second fence against expansion bombs. */
export const MAX_NODES_PER_DOCUMENT = 20_000;
