// config.json for a system container: the image config overlaid with the
// ContainerSpec. Pure and deterministic: the same inputs give the same object,
// and serializeRuntimeConfig gives the same bytes. Host-side facts (which host
// files exist, where the rootfs is) are inputs, never looked up here.
//
// Decisions (docs/bundles.md): command replaces Entrypoint and args replaces
// Cmd, as in Kubernetes (command without args drops Cmd too); spec env wins
// over image env; HOME comes from the image's passwd entry unless set; image
// Volumes are ignored (no host path is ever derived from the image); the
// capability set is bounding = effective = permitted, with no inheritable and
// no ambient set (a non-root user holds none after exec, as with docker);
// host network + hostFiles shares the host's UTS namespace (the hostname
// follows the host's, read-only to the container without CAP_SYS_ADMIN).

import path from 'node:path';
import { KeelError } from '../errors.ts';
import type { ContainerSpec } from '../manifest/index.ts';
import type { ImageConfig } from '../oci/types.ts';
import { MASKED_PATHS, READONLY_PATHS, defaultMounts, imageEnv, type RuntimeSpec } from './runtime-config.ts';
import type { ResolvedUser } from './user.ts';

/**
 * systemd's notify socket, bound into a `notify: true` container at the same
 * path with NOTIFY_SOCKET pointing at it: the payload's READY=1 goes straight
 * to systemd (NotifyAccess=all accepts any process of the unit's cgroup).
 */
export const NOTIFY_SOCKET = '/run/systemd/notify';

/**
 * Where a container with credentials finds them (the path docker and podman
 * use): the unit's credentials directory, bound read-only. systemd fills it
 * before ExecStart, so it exists when runc mounts it; keel never reads it.
 */
export const SECRETS_DIR = '/run/secrets';

/** The unit's credentials directory on the host (systemd's $CREDENTIALS_DIRECTORY for NAME.service). */
export function credentialsDirOf(unit: string): string {
  return `/run/credentials/${unit}`;
}

/** The host's static tini (Debian's tini package), bound into `init: true` containers. */
export const INIT_BINARY = '/usr/bin/tini-static';

/**
 * Where the init is bound in the container. Under /run because images do
 * not ship content there (it is a runtime tmpfs on a booted system, FHS
 * 3.15) and under keel's own name, so no image file is shadowed and no image
 * is likely to have one at that path (podman uses /run/podman-init for the
 * same reason).
 */
export const INIT_PATH = '/run/keel/init';

/** The host files a host-network container gets, read-only. */
export const HOST_FILES: readonly string[] = ['/etc/hosts', '/etc/resolv.conf'];

export interface ContainerConfigInput {
  readonly image: ImageConfig;
  readonly spec: ContainerSpec;
  readonly user: ResolvedUser;
  /** root.path: absolute (the shared tree) or bundle-relative ('rootfs', an overlay). */
  readonly rootPath: string;
  /** Of HOST_FILES, those that exist on the host and no spec mount covers. */
  readonly hostFiles: readonly string[];
  readonly cgroupsPath?: string | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  /** The variables of the spec's envFiles, merged (bundle/env-files.ts); default none. */
  readonly fileEnv?: Readonly<Record<string, string>> | undefined;
  /** Host path of the init binary bound at INIT_PATH when spec.init; default INIT_BINARY. */
  readonly initBinary?: string | undefined;
}

/** Kubernetes semantics: command replaces Entrypoint (and drops Cmd unless args is set); args replaces Cmd. */
export function containerArgs(image: ImageConfig, spec: ContainerSpec): string[] {
  const entrypoint = spec.command ?? image.config.Entrypoint ?? [];
  const cmd = spec.args ?? (spec.command !== undefined ? [] : (image.config.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new KeelError('E_MANIFEST_INVALID', `container ${spec.name}: neither the manifest (command/args) nor the image (Entrypoint/Cmd) says what to run`, {
      hint: 'set command: [/path/to/binary] in the manifest',
    });
  }
  return args;
}

/**
 * Image env (PATH guaranteed), then the envFiles' variables, then the spec's
 * env (each replacing same names in place, new names appended), then HOME if
 * unset; NOTIFY_SOCKET and CREDENTIALS_DIRECTORY are keel's.
 */
export function containerEnv(image: ImageConfig, spec: ContainerSpec, user: ResolvedUser, fileEnv: Readonly<Record<string, string>> = {}): string[] {
  const env = new Map<string, string>();
  for (const entry of imageEnv(image)) env.set(entry.slice(0, entry.indexOf('=')), entry);
  for (const [k, v] of Object.entries(fileEnv)) env.set(k, `${k}=${v}`);
  for (const [k, v] of Object.entries(spec.env)) env.set(k, `${k}=${v}`);
  if (!env.has('HOME')) env.set('HOME', `HOME=${user.home !== undefined && user.home.startsWith('/') ? user.home : '/'}`);
  if (spec.notify) env.set('NOTIFY_SOCKET', `NOTIFY_SOCKET=${NOTIFY_SOCKET}`);
  if (spec.credentials.length > 0) env.set('CREDENTIALS_DIRECTORY', `CREDENTIALS_DIRECTORY=${SECRETS_DIR}`);
  return [...env.values()];
}

/**
 * `init: true`: tini as PID 1 runs the command as its child, forwards the
 * stop signal to it and reaps zombies (as `podman run --init`). With the
 * host's PID namespace it is not PID 1, so -s makes it a subreaper.
 */
export function initArgs(spec: ContainerSpec, args: readonly string[]): string[] {
  return [INIT_PATH, ...(spec.pid === 'host' ? ['-s'] : []), '--', ...args];
}

/** The working directory inside the container: spec, then image, then `/`; always absolute and normalised. */
export function containerCwd(image: ImageConfig, spec: ContainerSpec): string {
  const wd = spec.workingDir ?? image.config.WorkingDir;
  return wd === undefined || wd === '' ? '/' : path.posix.resolve('/', wd);
}

function bindOptions(readOnly: boolean, propagation: string): string[] {
  return ['rbind', readOnly ? 'ro' : 'rw', propagation];
}

/**
 * The spec's mounts and the host files, in config.json form and order. The
 * credentials directory and the init come last, so that a spec mount (a
 * tmpfs on /run, say) cannot hide them.
 */
export function containerMounts(spec: ContainerSpec, hostFiles: readonly string[], initBinary: string = INIT_BINARY): Record<string, unknown>[] {
  const mounts = defaultMounts();
  if (spec.ipc === 'host') {
    const i = mounts.findIndex((m) => m['destination'] === '/dev/shm');
    mounts[i] = { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rw', 'rprivate', 'nosuid', 'nodev', 'noexec'] };
  }
  for (const f of hostFiles) mounts.push({ destination: f, type: 'bind', source: f, options: ['rbind', 'ro', 'rprivate', 'nosuid', 'nodev', 'noexec'] });
  if (spec.notify) mounts.push({ destination: NOTIFY_SOCKET, type: 'bind', source: NOTIFY_SOCKET, options: ['bind', 'rw', 'rprivate', 'nosuid', 'nodev', 'noexec'] });
  for (const m of spec.mounts) {
    if (m.type === 'bind') {
      mounts.push({ destination: m.target, type: 'bind', source: m.source, options: bindOptions(m.readOnly, m.propagation) });
    } else {
      const options = ['nosuid', 'nodev', `mode=${m.mode.toString(8).padStart(4, '0')}`];
      if (m.sizeBytes !== undefined) options.push(`size=${m.sizeBytes}`);
      mounts.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options });
    }
  }
  if (spec.credentials.length > 0) {
    mounts.push({ destination: SECRETS_DIR, type: 'bind', source: credentialsDirOf(spec.unit), options: ['rbind', 'ro', 'rprivate', 'nosuid', 'nodev', 'noexec'] });
  }
  if (spec.init) mounts.push({ destination: INIT_PATH, type: 'bind', source: initBinary, options: ['bind', 'ro', 'rprivate', 'nosuid', 'nodev'] });
  return mounts;
}

/** Of HOST_FILES, those a host-network container with hostFiles gets (no spec mount targets them). */
export function wantedHostFiles(spec: ContainerSpec): string[] {
  if (!spec.hostFiles) return [];
  return HOST_FILES.filter((f) => !spec.mounts.some((m) => m.target === f));
}

export function renderContainerConfig(input: ContainerConfigInput): RuntimeSpec {
  const { image, spec, user } = input;
  const caps = [...spec.capabilities];
  const shareUts = spec.network === 'host' && spec.hostFiles;
  const namespaces: Record<string, unknown>[] = [{ type: 'mount' }];
  if (spec.pid !== 'host') namespaces.push({ type: 'pid' });
  if (spec.network !== 'host') namespaces.push({ type: 'network' });
  if (spec.ipc !== 'host') namespaces.push({ type: 'ipc' });
  if (!shareUts) namespaces.push({ type: 'uts' });
  namespaces.push({ type: 'cgroup' });
  const linux: Record<string, unknown> = {
    ...(input.cgroupsPath !== undefined ? { cgroupsPath: input.cgroupsPath } : {}),
    resources: { devices: [{ allow: false, access: 'rwm' }] },
    namespaces,
    maskedPaths: [...MASKED_PATHS],
    readonlyPaths: [...READONLY_PATHS],
  };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: user.additionalGids.length > 0
        ? { uid: user.uid, gid: user.gid, additionalGids: [...user.additionalGids] }
        : { uid: user.uid, gid: user.gid },
      args: spec.init ? initArgs(spec, containerArgs(image, spec)) : containerArgs(image, spec),
      env: containerEnv(image, spec, user, input.fileEnv),
      cwd: containerCwd(image, spec),
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: spec.resources.nofile, soft: spec.resources.nofile }],
      noNewPrivileges: true,
    },
    root: { path: input.rootPath, readonly: spec.readOnlyRootfs },
    ...(shareUts ? {} : { hostname: spec.name }),
    mounts: containerMounts(spec, input.hostFiles, input.initBinary),
    linux,
    ...(input.annotations ? { annotations: { ...input.annotations } } : {}),
  };
}

/** The spec's user as resolveUser takes it (`user[:group]`), or the image's User. */
export function userString(image: ImageConfig, spec: ContainerSpec): string | undefined {
  if (spec.user === undefined) return image.config.User;
  return spec.user.group === undefined ? spec.user.user : `${spec.user.user}:${spec.user.group}`;
}
