// Renders an OCI runtime config (config.json) from an image config. Pure and
// deterministic: the same inputs give the same bytes. The defaults are the
// conservative ones `runc spec` uses (private namespaces, three capabilities,
// masked /proc paths, no new privileges) with `terminal: false`.

import path from 'node:path';
import type { ImageConfig } from '../oci/types.ts';
import type { ResolvedUser } from './user.ts';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The capabilities of the config.json `keel unpack` writes for an image
 * alone (runc spec's three). A system container's set comes from its
 * manifest instead (CONTAINER_DEFAULT_CAPABILITIES in src/manifest/constants.ts).
 */
export const UNPACK_CAPABILITIES: readonly string[] = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

export interface RuntimeConfigOptions {
  readonly rootfs?: string | undefined;
  readonly readonlyRootfs?: boolean | undefined;
  readonly hostname?: string | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

export interface RuntimeSpec {
  readonly ociVersion: string;
  readonly process: Record<string, unknown>;
  readonly root: { readonly path: string; readonly readonly: boolean };
  /** Absent when the container shares the host's UTS namespace. */
  readonly hostname?: string;
  readonly mounts: readonly Record<string, unknown>[];
  readonly linux: Record<string, unknown>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Image Env with PATH guaranteed, later duplicates winning (as docker does). */
export function imageEnv(image: ImageConfig): string[] {
  const env = new Map<string, string>();
  for (const entry of image.config.Env ?? []) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    env.set(entry.slice(0, eq), entry);
  }
  if (!env.has('PATH')) env.set('PATH', `PATH=${DEFAULT_PATH}`);
  return [...env.values()];
}

export function imageArgs(image: ImageConfig): string[] {
  return [...(image.config.Entrypoint ?? []), ...(image.config.Cmd ?? [])];
}

export function defaultMounts(): Record<string, unknown>[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

export function renderImageRuntimeConfig(image: ImageConfig, user: ResolvedUser, options: RuntimeConfigOptions = {}): RuntimeSpec {
  const caps = [...UNPACK_CAPABILITIES];
  const process: Record<string, unknown> = {
    terminal: false,
    user: user.additionalGids.length > 0
      ? { uid: user.uid, gid: user.gid, additionalGids: [...user.additionalGids] }
      : { uid: user.uid, gid: user.gid },
    args: imageArgs(image),
    env: imageEnv(image),
    // absolute and normalised even for a config not made by parseImageConfig
    cwd: path.posix.resolve('/', image.config.WorkingDir ?? ''),
    capabilities: { bounding: caps, effective: caps, permitted: caps },
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
    noNewPrivileges: true,
  };
  const spec: RuntimeSpec = {
    ociVersion: '1.0.2',
    process,
    root: { path: options.rootfs ?? 'rootfs', readonly: options.readonlyRootfs ?? true },
    hostname: options.hostname ?? 'keel',
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
    ...(options.annotations ? { annotations: { ...options.annotations } } : {}),
  };
  return spec;
}

/** The exact bytes written to config.json. */
export function serializeRuntimeConfig(spec: RuntimeSpec): string {
  return `${JSON.stringify(spec, null, '\t')}\n`;
}
