// Renders one container into its deployment slots (slots.ts) from an image
// already in the store: the shared tree (shared-rootfs.ts), config.json
// (container-config.ts) and the slot record (bundle-record.ts).
//
// Contract: deterministic and idempotent. The inputs digest covers the spec
// (less its source position), the image manifest digest, the renderer version
// and the host facts used (which host files exist, cgroupsPath, the shared
// tree's path, a digest of the envFiles' variables, the init binary's path).
// Fields a spec leaves at their default for keys added later (envFiles,
// credentials, init) are left out, so a keel upgrade that adds a key does not
// change the digest of a container that does not use it. If the active slot holds the same inputs digest and an intact
// config.json, nothing is written and `changed` is false. Otherwise the
// inactive slot (or `a` for a first render) is rendered from scratch, record
// last, and `active` is flipped to it with one rename. Mount sources are
// checked before anything is written. The caller serialises renders of one
// container (two concurrent renders of the same name may race on the slot).

import type { StackLayer } from '../layer/index.ts';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { KeelError, fsError } from '../errors.ts';
import type { ContainerSpec } from '../manifest/index.ts';
import { digestOf, type Digest } from '../oci/digest.ts';
import type { ImageConfig } from '../oci/types.ts';
import { BUNDLE_RECORD, readBundleRecord, serializeBundleRecord, type BundleRecord } from './bundle-record.ts';
import { INIT_BINARY, NOTIFY_SOCKET, renderContainerConfig, userString, wantedHostFiles } from './container-config.ts';
import { envFilesFact, readEnvFiles } from './env-files.ts';
import { fsyncDir, readIfExists, writeIfChanged } from './fs-util.ts';
import { ensureMountPoint, type MountPointKind } from './mount-point.ts';
import { checkMountSources, createMountSources, type SourceState } from './mount-sources.ts';
import { releaseRootfs } from './overlay.ts';
import { BUNDLE_FORMAT, RENDERER_VERSION } from './renderer-version.ts';
import { serializeRuntimeConfig, type RuntimeSpec } from './runtime-config.ts';
import { ensureSharedRootfs, sharedRootfsDir } from './shared-rootfs.ts';
import { activeSlot, containerDir, containersRoot, otherSlot, setActiveSlot, slotDir, type Slot } from './slots.ts';
import { resolveUser } from './user.ts';

export interface RenderImage {
  /** The store name (annotation only). */
  readonly name: string;
  /** The platform manifest's digest: keys the shared tree. */
  readonly digest: Digest;
  /** The manifest's media type, kept in the slot record so a pinned digest can be read back. */
  readonly mediaType?: string | undefined;
  readonly config: ImageConfig;
  /** The extracted layers, bottom first (directory + the directories each did not list). */
  readonly layers: readonly StackLayer[];
}

export interface RenderOptions {
  readonly signal?: AbortSignal | undefined;
  /**
   * linux.cgroupsPath. Default `/system.slice/NAME.service/container` (runc's
   * cgroupfs driver puts the container inside the unit's cgroup); null: none.
   */
  readonly cgroupsPath?: string | null | undefined;
  /** Which of HOST_FILES exist on the host (a seam for tests); default: stat(2). */
  readonly hostFileExists?: ((file: string) => Promise<boolean>) | undefined;
  /** The init binary for `init: true` (a seam for tests); default INIT_BINARY. */
  readonly initBinary?: string | undefined;
}

export interface RenderResult {
  readonly name: string;
  readonly slot: Slot;
  readonly bundleDir: string;
  readonly changed: boolean;
  readonly inputsDigest: Digest;
  readonly imageDigest: Digest;
}

/** JSON with object keys sorted at every level: the canonical form hashed for the inputs digest. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The spec as it is rendered: everything but where its document was found and which defaults it overrode. */
export function specInputs(spec: ContainerSpec): Record<string, unknown> {
  const { source: _source, given: _given, envFiles, credentials, init, ...rest } = spec;
  return {
    ...rest,
    ...(envFiles.length > 0 ? { envFiles } : {}),
    ...(credentials.length > 0 ? { credentials } : {}),
    ...(init ? { init } : {}),
  } as unknown as Record<string, unknown>;
}

/**
 * The host-side inputs of envFiles and init, checked and read before
 * anything is written: the merged env files (E_ENV_FILE) and the init binary
 * (E_INIT_MISSING). `facts` goes into the inputs digest (absent keys for a
 * spec that uses neither, see the file header).
 */
export async function hostInputs(spec: ContainerSpec, options: RenderOptions): Promise<{ fileEnv: Record<string, string>; initBinary: string; facts: Record<string, unknown> }> {
  const fileEnv = await readEnvFiles(spec.envFiles);
  const initBinary = options.initBinary ?? INIT_BINARY;
  if (spec.init) {
    const ok = await fs.stat(initBinary).then((st) => st.isFile() && (st.mode & 0o111) !== 0, () => false);
    if (!ok) {
      throw new KeelError('E_INIT_MISSING', `container ${spec.name} has init: true, but the init binary ${initBinary} is not an executable file on this host`, {
        detail: { container: spec.name, path: initBinary }, hint: 'install it: apt install tini (or remove init: true from the manifest)',
      });
    }
  }
  const facts: Record<string, unknown> = {
    ...(spec.envFiles.length > 0 ? { envFiles: envFilesFact(fileEnv) } : {}),
    ...(spec.init ? { initBinary } : {}),
  };
  return { fileEnv, initBinary, facts };
}

export function inputsDigestOf(spec: ContainerSpec, imageDigest: Digest, host: Readonly<Record<string, unknown>>): Digest {
  return digestOf(canonicalJson({ format: BUNDLE_FORMAT, renderer: RENDERER_VERSION, image: imageDigest, spec: specInputs(spec), host }));
}

/**
 * The inputs digest renderBundle would give `spec` on `image` now, without
 * reading the image or writing anything: the planner compares it with the
 * active slot's record to decide keep / restart without rendering.
 */
export async function plannedInputsDigest(
  root: string, spec: ContainerSpec, image: { readonly name: string; readonly digest: Digest }, options: RenderOptions = {},
): Promise<Digest> {
  const exists = options.hostFileExists ?? defaultExists;
  const hostFiles: string[] = [];
  for (const f of wantedHostFiles(spec)) if (await exists(f)) hostFiles.push(f);
  const cgroupsPath = options.cgroupsPath === null ? undefined : (options.cgroupsPath ?? `/system.slice/${spec.unit}/container`);
  const { facts } = await hostInputs(spec, options);
  return inputsDigestOf(spec, image.digest, { hostFiles, cgroupsPath, sharedRootfs: sharedRootfsDir(path.resolve(root), image.digest), imageName: image.name, ...facts });
}

function under(p: string, base: string): boolean {
  return base === '/' || p === base || p.startsWith(`${base}/`);
}

/**
 * The mount points runc would create in root.path: each mount destination not
 * inside an earlier mount, then the cwd if not inside a mount. Files for binds
 * of files, directories otherwise. Deterministic order.
 */
export function mountPointsOf(config: RuntimeSpec, sources: ReadonlyMap<string, SourceState['kind']>): Array<{ path: string; kind: MountPointKind }> {
  const out: Array<{ path: string; kind: MountPointKind }> = [];
  const seen: string[] = [];
  for (const m of config.mounts) {
    const dest = m['destination'] as string;
    if (!seen.some((s) => s !== dest && under(dest, s))) {
      const src = m['source'] as string;
      const kind: MountPointKind = m['type'] === 'bind' && sources.get(src) === 'file' ? 'file' : 'dir';
      out.push({ path: dest, kind });
    }
    seen.push(dest);
  }
  const cwd = config.process['cwd'] as string;
  if (cwd !== '/' && !seen.some((s) => under(cwd, s))) out.push({ path: cwd, kind: 'dir' });
  return out;
}

async function defaultExists(file: string): Promise<boolean> {
  return fs.stat(file).then((st) => st.isFile(), () => false);
}

/** Renders `spec` from `image` under keel root `root`; see the file header for the contract. */
export async function renderBundle(root: string, spec: ContainerSpec, image: RenderImage, options: RenderOptions = {}): Promise<RenderResult> {
  const keelRoot = path.resolve(root);
  const home = containerDir(keelRoot, spec.name);
  if (image.layers.length !== image.config.rootfs.diff_ids.length) {
    throw new KeelError('E_INTERNAL', `image ${image.name}: ${image.layers.length} layer directories for ${image.config.rootfs.diff_ids.length} diff_ids`);
  }
  // 1. Host-side checks first: nothing is written for a spec keel refuses.
  const sourceStates = await checkMountSources(spec, keelRoot);
  const sources = new Map<string, SourceState['kind']>(sourceStates.map((s) => [s.source, s.kind]));
  const exists = options.hostFileExists ?? defaultExists;
  const hostFiles: string[] = [];
  for (const f of wantedHostFiles(spec)) if (await exists(f)) hostFiles.push(f);
  for (const f of hostFiles) sources.set(f, 'file');
  if (spec.notify) sources.set(NOTIFY_SOCKET, 'file');
  const { fileEnv, initBinary, facts } = await hostInputs(spec, options);
  if (spec.init) sources.set(initBinary, 'file');

  // 2. The shared tree, then everything that depends on the image's content.
  const shared = await ensureSharedRootfs(keelRoot, image.digest, image.config.rootfs.diff_ids, image.layers, { signal: options.signal });
  const user = await resolveUser(shared.dir, userString(image.config, spec));
  const writable = !spec.readOnlyRootfs;
  const cgroupsPath = options.cgroupsPath === null ? undefined : (options.cgroupsPath ?? `/system.slice/${spec.unit}/container`);
  const config = renderContainerConfig({
    image: image.config, spec, user, hostFiles, cgroupsPath, fileEnv, initBinary,
    rootPath: writable ? 'rootfs' : shared.dir,
    annotations: { 'io.keel.container.name': spec.name, 'io.keel.image.digest': image.digest, 'org.opencontainers.image.ref.name': image.name },
  });
  const configBytes = serializeRuntimeConfig(config);
  const mountPoints = writable ? [] : mountPointsOf(config, sources);
  const inputsDigest = inputsDigestOf(spec, image.digest, { hostFiles, cgroupsPath, sharedRootfs: shared.dir, imageName: image.name, ...facts });
  const createSources = sourceStates.filter((s) => s.kind === 'missing').map((s) => s.source);
  const allCreate = spec.mounts.flatMap((m) => (m.type === 'bind' && m.create ? [path.resolve(m.source)] : []));
  for (const mp of mountPoints) await ensureMountPoint(shared.dir, mp.path, mp.kind);

  // 3. Unchanged? Then the active slot stays as it is, byte for byte.
  const active = await activeSlot(keelRoot, spec.name);
  if (active !== undefined) {
    const dir = slotDir(keelRoot, spec.name, active);
    const current = await readBundleRecord(dir);
    const onDisk = await readIfExists(path.join(dir, 'config.json'));
    if (current?.inputsDigest === inputsDigest && onDisk !== undefined && digestOf(onDisk) === current.configDigest) {
      await createMountSources(createSources);
      return { name: spec.name, slot: active, bundleDir: dir, changed: false, inputsDigest, imageDigest: image.digest };
    }
  }

  // 4. Render the inactive slot from scratch, record last, then flip.
  const slot: Slot = active === undefined ? 'a' : otherSlot(active);
  const dir = slotDir(keelRoot, spec.name, slot);
  const record: BundleRecord = {
    format: BUNDLE_FORMAT, keelVersion: RENDERER_VERSION, name: spec.name, inputsDigest, configDigest: digestOf(configBytes),
    image: { name: image.name, digest: image.digest, diffIds: [...image.config.rootfs.diff_ids], ...(image.mediaType ? { mediaType: image.mediaType } : {}) },
    sharedRootfs: shared.dir, writable, createSources: allCreate, mountPoints, spec: JSON.parse(canonicalJson(specInputs(spec))) as Record<string, unknown>,
  };
  try {
    await fs.mkdir(containersRoot(keelRoot), { recursive: true, mode: 0o700 });
    await fs.mkdir(home, { recursive: true, mode: 0o700 });
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fsError(`creating ${dir}`, err);
  }
  await releaseRootfs(dir);
  await fs.rm(path.join(dir, BUNDLE_RECORD), { force: true });
  for (const name of await fs.readdir(dir)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  await writeIfChanged(path.join(dir, 'config.json'), configBytes);
  if (writable) for (const d of ['rootfs', 'upper', 'work']) await fs.mkdir(path.join(dir, d), { mode: 0o755 });
  await writeIfChanged(path.join(dir, BUNDLE_RECORD), serializeBundleRecord(record));
  await fsyncDir(dir);
  await createMountSources(createSources);
  await setActiveSlot(keelRoot, spec.name, slot);
  return { name: spec.name, slot, bundleDir: dir, changed: true, inputsDigest, imageDigest: image.digest };
}
