// Test images built with independent tools (umoci, GNU tar, dpkg) into one OCI image layout, and
// pushed with skopeo, so keel is checked against implementations nobody here wrote.
//
// Invariants:
// - The layout is built once per version of this file (and of umoci) under
//   /var/tmp/keel-fixtures-<hash>/; a build goes to a sibling temp dir that is renamed into place
//   with the marker file (fixtures.json) already written, so a dir with a marker is complete.
//   Concurrent test processes serialise on a lock dir; a lock whose owner is dead is taken over.
// - Each image is one tag of the layout; FIXTURE_IMAGES says what every registry tag must look like
//   (layer count, media types), and test/integration/fixtures.test.ts checks it against the registry.
// - referenceTree() is `umoci unpack`: the reference rootfs keel's extraction is compared with.

import { execFile, execFileSync } from 'node:child_process';
import { createHash, createCipheriv } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import {
  chmod, chown, copyFile, lutimes, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, link, utimes, writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

export const FIXTURE_REPO = 'fixtures';

export interface FixtureImage {
  /** Tag in the registry: `${host}/${FIXTURE_REPO}:${tag}`. */
  readonly tag: string;
  /** Tag in the OCI layout it is pushed from. */
  readonly layoutTag: string;
  /**
   * The manifest's media type in the registry (its Content-Type). umoci's OCI manifests have no
   * `mediaType` field (it is optional in OCI), so a client must go by Content-Type; the Docker
   * schema 2 manifest and the index written here do carry the field.
   */
  readonly manifestMediaType: string;
  /** Number of layers of the (each, for an index) image manifest. */
  readonly layers: number;
  /** Media type of every layer in the registry. */
  readonly layerMediaType: string;
  /** For an index: the platforms (`os/arch[/variant]`) and the layout tag of each manifest. */
  readonly platforms?: readonly { readonly platform: string; readonly layoutTag: string }[];
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** skopeo copy flags used to push it. */
  readonly pushFlags: readonly string[];
  readonly description: string;
}

export interface FixtureSet {
  /** Absolute path of the OCI image layout holding every layout tag. */
  readonly layout: string;
  readonly repo: string;
  /** Images that were built (an optional one that could not be built is absent; see `missing`). */
  readonly images: readonly FixtureImage[];
  /** Optional images that could not be built (e.g. `realistic` without Debian's archive), with why. */
  readonly missing: readonly { readonly tag: string; readonly reason: string }[];
  /** Wall time of the build that made this layout, in ms (0 when it was reused). */
  readonly buildMs: number;
  /** True when this call found a complete layout and reused it. */
  readonly reused: boolean;
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_GZIP = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const SINGLE_ENTRYPOINT = ['/bin/sh', '-c'] as const;
const SINGLE_CMD = ['echo keel-fixture-single'] as const;
const REALISTIC_ENTRYPOINT = ['/bin/bash', '-c'] as const;
const REALISTIC_CMD = ['ls / && echo keel-fixture-realistic'] as const;
const BUSYBOX_LINKS = ['sh', 'ls', 'cat', 'echo', 'true', 'sleep', 'env'] as const;

/** What every fixture tag is. Tests may rely on each field. */
export const FIXTURE_IMAGES: readonly FixtureImage[] = [
  {
    tag: 'single', layoutTag: 'single', manifestMediaType: OCI_MANIFEST, layers: 1, layerMediaType: OCI_GZIP,
    entrypoint: SINGLE_ENTRYPOINT, cmd: SINGLE_CMD, pushFlags: [],
    description: `one layer: /bin/busybox (static) + symlinks ${BUSYBOX_LINKS.join(',')} -> busybox, /etc/keel-fixture`,
  },
  {
    tag: 'multi', layoutTag: 'multi', manifestMediaType: OCI_MANIFEST, layers: 4, layerMediaType: OCI_GZIP,
    pushFlags: [],
    description: 'files; then whiteouts (file, dir), file->dir, dir->symlink, changed file; then rm -rf+mkdir '
      + '(umoci writes per-file .wh. entries, no opaque marker); then a GNU tar layer with .wh..wh..opq',
  },
  {
    tag: 'modes', layoutTag: 'modes', manifestMediaType: OCI_MANIFEST, layers: 1, layerMediaType: OCI_GZIP,
    pushFlags: [],
    description: 'hardlinks, symlinks (rel/abs/dangling), setuid/setgid/sticky, 0600/0000, owners, long and '
      + 'UTF-8 names, empty file/dir, FIFO, distinct mtimes',
  },
  {
    tag: 'big', layoutTag: 'big', manifestMediaType: OCI_MANIFEST, layers: 1, layerMediaType: OCI_GZIP,
    pushFlags: [], description: '/big.bin: 64 MiB of AES-256-CTR keystream (deterministic, incompressible)',
  },
  {
    tag: 'v2s2', layoutTag: 'single', manifestMediaType: DOCKER_MANIFEST, layers: 1, layerMediaType: DOCKER_GZIP,
    entrypoint: SINGLE_ENTRYPOINT, cmd: SINGLE_CMD, pushFlags: ['--format', 'v2s2'],
    description: 'single, pushed as a Docker schema 2 manifest with Docker media types',
  },
  {
    tag: 'zstd', layoutTag: 'zstd', manifestMediaType: OCI_MANIFEST, layers: 1, layerMediaType: OCI_ZSTD,
    entrypoint: SINGLE_ENTRYPOINT, cmd: SINGLE_CMD, pushFlags: ['--dest-compress-format', 'zstd'],
    description: 'single, recompressed by skopeo (oci: to a separate oci: layout, merged back) to tar+zstd',
  },
  {
    tag: 'multiarch', layoutTag: 'multiarch', manifestMediaType: OCI_INDEX, layers: 2, layerMediaType: OCI_GZIP,
    platforms: [
      { platform: 'linux/amd64', layoutTag: 'multiarch-amd64' },
      { platform: 'linux/arm64/v8', layoutTag: 'multiarch-arm64' },
    ],
    entrypoint: SINGLE_ENTRYPOINT, cmd: SINGLE_CMD, pushFlags: ['--all'],
    description: 'OCI index: linux/amd64 and linux/arm64/v8; each is single + /etc/keel-fixture-arch holding its arch',
  },
  {
    tag: 'realistic', layoutTag: 'realistic', manifestMediaType: OCI_MANIFEST, layers: 3, layerMediaType: OCI_GZIP,
    entrypoint: REALISTIC_ENTRYPOINT, cmd: REALISTIC_CMD, pushFlags: [],
    description: 'Debian packages via apt-get download + dpkg -x: libc6 | libtinfo6+bash | coreutils and its libraries',
  },
];

// ---------------------------------------------------------------------------------------------
// small process helpers

interface RunResult { stdout: string; stderr: string }

function run(cmd: string, args: readonly string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

const umoci = (...args: string[]): Promise<RunResult> => run('umoci', args);

// ---------------------------------------------------------------------------------------------
// building

/** The cache key: this file's text and the umoci version (which decides layer bytes). */
function builderHash(): string {
  const h = createHash('sha256');
  h.update(readFileSync(new URL(import.meta.url)));
  h.update(execFileSync('umoci', ['--version'], { encoding: 'utf8' }));
  return h.digest('hex').slice(0, 16);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** `umoci new` + `umoci unpack` into a fresh bundle dir; returns the rootfs. */
async function newBundle(layout: string, tag: string, bundles: string): Promise<{ bundle: string; rootfs: string }> {
  const bundle = join(bundles, tag);
  await umoci('new', '--image', `${layout}:${tag}`);
  await umoci('unpack', '--image', `${layout}:${tag}`, bundle);
  return { bundle, rootfs: join(bundle, 'rootfs') };
}

/** One more layer: the diff of the bundle's rootfs since the last unpack/repack. */
async function repack(layout: string, tag: string, bundle: string): Promise<void> {
  await umoci('repack', '--refresh-bundle', '--image', `${layout}:${tag}`, bundle);
}

async function put(root: string, rel: string, content: string | Buffer, mode = 0o644): Promise<string> {
  const p = join(root, rel);
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, content);
  await chmod(p, mode);
  return p;
}

async function addBusybox(rootfs: string): Promise<void> {
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  for (const name of BUSYBOX_LINKS) await symlink('busybox', join(rootfs, 'bin', name));
}

async function setEntrypoint(layout: string, tag: string, entrypoint: readonly string[], cmd: readonly string[]): Promise<void> {
  const args = ['config', '--image', `${layout}:${tag}`];
  for (const e of entrypoint) args.push('--config.entrypoint', e);
  for (const c of cmd) args.push('--config.cmd', c);
  args.push('--config.env', 'PATH=/usr/local/bin:/usr/bin:/bin');
  await umoci(...args);
}

async function buildSingle(layout: string, bundles: string, tag = 'single', extra?: (rootfs: string) => Promise<void>): Promise<string> {
  const { bundle, rootfs } = await newBundle(layout, tag, bundles);
  await addBusybox(rootfs);
  await put(rootfs, 'etc/keel-fixture', 'single\n');
  await repack(layout, tag, bundle);
  if (extra) {
    await extra(rootfs);
    await repack(layout, tag, bundle);
  }
  await setEntrypoint(layout, tag, SINGLE_ENTRYPOINT, SINGLE_CMD);
  return bundle;
}

/**
 * `single` with zstd layers. skopeo recompresses only when it cannot reuse the gzip blob, so it
 * copies into a layout of its own, whose blobs and tag are then merged into the main one.
 */
async function buildZstd(layout: string, work: string): Promise<void> {
  const other = join(work, 'zstd-layout');
  await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-compress', '--dest-compress-format', 'zstd',
    `oci:${layout}:single`, `oci:${other}:zstd`]);
  for (const blob of await readdir(join(other, 'blobs/sha256'))) {
    const dest = join(layout, 'blobs/sha256', blob);
    if (!(await exists(dest))) await copyFile(join(other, 'blobs/sha256', blob), dest);
  }
  const index = await readIndex(layout);
  index.manifests.push(findTag(await readIndex(other), 'zstd'));
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
}

async function buildMulti(layout: string, bundles: string, work: string): Promise<void> {
  const tag = 'multi';
  const { bundle, rootfs } = await newBundle(layout, tag, bundles);
  // layer 1: the lower tree
  await put(rootfs, 'etc/hello', 'hello from layer 1\n');
  await put(rootfs, 'del/file', 'deleted in layer 2\n');
  await put(rootfs, 'del/keep', 'kept\n');
  await put(rootfs, 'deldir/a/b/c', 'whole dir deleted in layer 2\n');
  await put(rootfs, 'f2d', 'a file that becomes a dir in layer 2\n');
  await put(rootfs, 'd2s/child', 'a dir that becomes a symlink in layer 2\n');
  await put(rootfs, 'keep/k', 'target of the d2s symlink\n');
  await put(rootfs, 'opq/x', 'x\n');
  await put(rootfs, 'opq/sub/z', 'z\n');
  await put(rootfs, 'opaque/a', 'hidden by the opaque whiteout of layer 4\n');
  await put(rootfs, 'opaque/b/c', 'hidden too\n');
  await repack(layout, tag, bundle);
  // layer 2: whiteouts and type changes
  await rm(join(rootfs, 'del/file'));
  await rm(join(rootfs, 'deldir'), { recursive: true });
  await rm(join(rootfs, 'f2d'));
  await put(rootfs, 'f2d/inner', 'now a dir\n');
  await rm(join(rootfs, 'd2s'), { recursive: true });
  await symlink('keep', join(rootfs, 'd2s'));
  await put(rootfs, 'etc/hello', 'hello from layer 2\n');
  await put(rootfs, 'etc/layer2', 'added in layer 2\n');
  await repack(layout, tag, bundle);
  // layer 3: replace a dir's whole contents (umoci emits opq/.wh.x, opq/.wh.sub, not .wh..wh..opq)
  await rm(join(rootfs, 'opq'), { recursive: true });
  await put(rootfs, 'opq/new', 'only file left in opq\n');
  await repack(layout, tag, bundle);
  // layer 4: a real opaque whiteout, written with GNU tar (umoci never emits one) and added verbatim
  const stage = join(work, 'opaque-layer');
  await put(stage, 'opaque/.wh..wh..opq', '', 0o644);
  await put(stage, 'opaque/fresh', 'only file left in opaque\n');
  const tarPath = join(work, 'opaque-layer.tar');
  await run('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '--format=pax',
    '--mtime=@1700000000', '-C', stage, '-cf', tarPath, 'opaque']);
  await umoci('raw', 'add-layer', '--image', `${layout}:${tag}`, tarPath);
}

/** Seconds since the epoch for the n-th entry of `modes`: distinct, whole seconds. */
const T = (n: number): number => 1_600_000_000 + n * 1000;

async function buildModes(layout: string, bundles: string): Promise<void> {
  const tag = 'modes';
  const { bundle, rootfs } = await newBundle(layout, tag, bundles);
  const r = (p: string): string => join(rootfs, p);
  let n = 0;
  const stamp = async (p: string, isLink = false): Promise<void> => {
    const t = T(++n);
    await (isLink ? lutimes(r(p), t, t) : utimes(r(p), t, t));
  };
  // hardlinks: a group of three names
  await put(rootfs, 'hard/a', 'one inode, three names\n');
  await link(r('hard/a'), r('hard/b'));
  await link(r('hard/a'), r('hard/c'));
  await stamp('hard/a');
  // symlinks
  await mkdir(r('sym'));
  await symlink('../hard/a', r('sym/rel'));
  await symlink('/hard/a', r('sym/abs'));
  await symlink('/does/not/exist', r('sym/dangling'));
  for (const s of ['sym/rel', 'sym/abs', 'sym/dangling']) await stamp(s, true);
  // special bits (chmod after chown: chown clears setuid/setgid)
  await put(rootfs, 'bits/setuid', '#!/bin/sh\n', 0o644);
  await chmod(r('bits/setuid'), 0o4755);
  await put(rootfs, 'bits/setgid', '#!/bin/sh\n', 0o644);
  await chmod(r('bits/setgid'), 0o2755);
  await mkdir(r('bits/sticky'));
  await chmod(r('bits/sticky'), 0o1777);
  await put(rootfs, 'bits/private', 'secret\n', 0o600);
  await put(rootfs, 'bits/none', 'unreadable\n', 0o000);
  for (const s of ['bits/setuid', 'bits/setgid', 'bits/sticky', 'bits/private', 'bits/none']) await stamp(s);
  // owners
  await put(rootfs, 'owners/user/file', 'owned by 1000\n');
  await chown(r('owners/user/file'), 1000, 1000);
  await chown(r('owners/user'), 1000, 1000);
  await put(rootfs, 'owners/nobody', 'owned by 65534\n');
  await chown(r('owners/nobody'), 65534, 65534);
  await put(rootfs, 'owners/setuid-user', 'setuid, owned by 1000\n');
  await chown(r('owners/setuid-user'), 1000, 1000);
  await chmod(r('owners/setuid-user'), 0o4750);
  for (const s of ['owners/user/file', 'owners/user', 'owners/nobody', 'owners/setuid-user']) await stamp(s);
  // names
  const long = `long-${'x'.repeat(195)}`; // 200 characters
  await put(rootfs, `names/${long}`, 'a 200-character name\n');
  await put(rootfs, 'names/dåtå/inside', 'under a UTF-8 dir name\n');
  await put(rootfs, 'names/日本語.txt', 'UTF-8 file name\n');
  await put(rootfs, 'names/with space', 'a space\n');
  for (const s of [`names/${long}`, 'names/dåtå/inside', 'names/dåtå', 'names/日本語.txt', 'names/with space']) await stamp(s);
  // empty things and a FIFO
  await put(rootfs, 'empty/file', '');
  await mkdir(r('empty/dir'));
  await run('mkfifo', ['-m', '0640', r('empty/fifo')]);
  for (const s of ['empty/file', 'empty/dir', 'empty/fifo']) await stamp(s);
  // directories last, so their mtimes survive the creation of their children
  for (const s of ['hard', 'sym', 'bits', 'owners', 'names', 'empty']) await stamp(s);
  await repack(layout, tag, bundle);
}

export const BIG_SIZE = 64 * 1024 * 1024;
const BIG_KEY = Buffer.alloc(32, 'keel-fixture-big');
const BIG_IV = Buffer.alloc(16, 7);

/** The exact bytes of `/big.bin` in the `big` image (AES-256-CTR keystream with a fixed key). */
export function bigFileStream(size = BIG_SIZE): Readable {
  const cipher = createCipheriv('aes-256-ctr', BIG_KEY, BIG_IV);
  const chunk = Buffer.alloc(1024 * 1024);
  let left = size;
  return Readable.from((function* () {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      yield cipher.update(chunk.subarray(0, n));
    }
  })());
}

async function buildBig(layout: string, bundles: string): Promise<void> {
  const tag = 'big';
  const { bundle, rootfs } = await newBundle(layout, tag, bundles);
  await pipeline(bigFileStream(), createWriteStream(join(rootfs, 'big.bin'), { mode: 0o644 }));
  await repack(layout, tag, bundle);
}

interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string>; platform?: Record<string, string> }
interface LayoutIndex { schemaVersion: number; manifests: Descriptor[] }

async function readIndex(layout: string): Promise<LayoutIndex> {
  return JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as LayoutIndex;
}

function findTag(index: LayoutIndex, tag: string): Descriptor {
  const d = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!d) throw new Error(`fixture layout has no tag ${tag}`);
  return d;
}

async function buildMultiarch(layout: string, bundles: string): Promise<void> {
  const arches = [
    { tag: 'multiarch-amd64', arch: 'amd64' },
    { tag: 'multiarch-arm64', arch: 'arm64', variant: 'v8' },
  ];
  for (const a of arches) {
    await buildSingle(layout, bundles, a.tag, async (rootfs) => {
      await put(rootfs, 'etc/keel-fixture-arch', `${a.arch}\n`);
    });
    await umoci('config', '--image', `${layout}:${a.tag}`, '--architecture', a.arch, '--os', 'linux');
  }
  // umoci cannot write an index: write it as a blob and tag it in index.json ourselves
  let index = await readIndex(layout);
  const manifests = arches.map((a) => {
    const d = findTag(index, a.tag);
    const platform: Record<string, string> = { architecture: a.arch, os: 'linux' };
    if (a.variant) platform['variant'] = a.variant;
    return { mediaType: d.mediaType, digest: d.digest, size: d.size, platform };
  });
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  const hex = createHash('sha256').update(body).digest('hex');
  await writeFile(join(layout, 'blobs/sha256', hex), body);
  index = await readIndex(layout);
  index.manifests.push({
    mediaType: OCI_INDEX, digest: `sha256:${hex}`, size: body.length,
    annotations: { 'org.opencontainers.image.ref.name': 'multiarch' },
  });
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
}

/** One layer per group of Debian packages: enough for `bash -c 'ls /'` to run in the rootfs. */
const REALISTIC_LAYERS = [
  ['libc6'],
  ['libtinfo6', 'bash'],
  ['libacl1', 'libattr1', 'libgmp10', 'libpcre2-8-0', 'libselinux1', 'coreutils'],
] as const;

async function buildRealistic(layout: string, bundles: string, work: string): Promise<void> {
  const tag = 'realistic';
  const debs = join(work, 'debs');
  await mkdir(debs, { recursive: true });
  await run('apt-get', ['download', '-q', ...REALISTIC_LAYERS.flat()], debs);
  const files = await readdir(debs);
  const { bundle, rootfs } = await newBundle(layout, tag, bundles);
  for (const pkgs of REALISTIC_LAYERS) {
    for (const pkg of pkgs) {
      const deb = files.find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download gave no .deb for ${pkg}`);
      await run('dpkg', ['-x', join(debs, deb), rootfs]);
    }
    await repack(layout, tag, bundle);
  }
  await setEntrypoint(layout, tag, REALISTIC_ENTRYPOINT, REALISTIC_CMD);
}

interface Marker { images: string[]; missing: { tag: string; reason: string }[]; buildMs: number }

async function buildInto(dir: string): Promise<Marker> {
  const started = Date.now();
  const layout = join(dir, 'layout');
  const bundles = join(dir, 'bundles');
  const work = join(dir, 'work');
  await mkdir(bundles, { recursive: true });
  await mkdir(work, { recursive: true });
  await umoci('init', '--layout', layout);
  await buildSingle(layout, bundles);
  await buildZstd(layout, work);
  await buildMulti(layout, bundles, work);
  await buildModes(layout, bundles);
  await buildBig(layout, bundles);
  await buildMultiarch(layout, bundles);
  const missing: { tag: string; reason: string }[] = [];
  if (process.env['KEEL_FIXTURES_NO_REALISTIC'] === '1') {
    missing.push({ tag: 'realistic', reason: 'KEEL_FIXTURES_NO_REALISTIC=1' });
  } else {
    try {
      await buildRealistic(layout, bundles, work);
    } catch (err) {
      // A fixture that cannot be built fails the run with its reason; nothing caches the failure
      // (the marker is written only after a complete build), so the next run tries again.
      throw new Error(`building the realistic fixture image (Debian packages from apt-get download) failed: ${String(err).slice(0, 500)}; KEEL_FIXTURES_NO_REALISTIC=1 leaves it out on purpose`, { cause: err });
    }
  }
  await rm(bundles, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
  const missingTags = new Set(missing.map((m) => m.tag));
  return {
    images: FIXTURE_IMAGES.filter((i) => !missingTags.has(i.tag)).map((i) => i.tag),
    missing,
    buildMs: Date.now() - started,
  };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const MARKER = 'fixtures.json';
const LOCK_STALE_MS = 20 * 60 * 1000;

async function acquireLock(lock: string, marker: string): Promise<boolean> {
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'owner'), `${process.pid}\n`);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await exists(marker)) return false;
    let stale = false;
    try {
      const owner = Number((await readFile(join(lock, 'owner'), 'utf8')).trim());
      const st = await stat(lock);
      stale = (owner > 0 && !pidAlive(owner)) || Date.now() - st.mtimeMs > LOCK_STALE_MS;
    } catch {
      // the owner file is not written yet, or the lock just went away: look again
      const st = await stat(lock).catch(() => undefined);
      stale = st !== undefined && Date.now() - st.mtimeMs > 10_000;
    }
    if (stale) await rm(lock, { recursive: true, force: true });
    else await new Promise((r) => setTimeout(r, 250));
  }
}

function toSet(dir: string, marker: Marker, reused: boolean): FixtureSet {
  const built = new Set(marker.images);
  return {
    layout: join(dir, 'layout'),
    repo: FIXTURE_REPO,
    images: FIXTURE_IMAGES.filter((i) => built.has(i.tag)),
    missing: marker.missing,
    buildMs: reused ? 0 : marker.buildMs,
    reused,
  };
}

/** Remove layouts of other builder versions untouched for an hour (they are never reused). */
async function pruneOldVersions(current: string): Promise<void> {
  const parent = dirname(current);
  for (const name of await readdir(parent)) {
    if (!/^keel-fixtures-[0-9a-f]{16}(\.build-.*)?$/.test(name) || join(parent, name) === current) continue;
    const st = await stat(join(parent, name)).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 3600_000) await rm(join(parent, name), { recursive: true, force: true });
  }
}

/** Where the fixture layout of this builder version lives (it may not exist yet). */
export function fixturesDir(): string {
  return `/var/tmp/keel-fixtures-${builderHash()}`;
}

/**
 * Build the fixture layout, or reuse the complete one this builder version made before.
 * Safe to call from several processes at once: one builds, the others wait for it.
 */
export async function buildFixtures(): Promise<FixtureSet> {
  const dir = fixturesDir();
  const marker = join(dir, MARKER);
  const read = async (): Promise<Marker> => JSON.parse(await readFile(marker, 'utf8')) as Marker;
  if (await exists(marker)) return toSet(dir, await read(), true);
  const lock = `${dir}.lock`;
  if (!(await acquireLock(lock, marker))) return toSet(dir, await read(), true);
  try {
    if (await exists(marker)) return toSet(dir, await read(), true);
    await rm(dir, { recursive: true, force: true });
    await pruneOldVersions(dir);
    const tmp = await mkdtemp(`${dir}.build-`);
    try {
      const m = await buildInto(tmp);
      await writeFile(join(tmp, MARKER), JSON.stringify(m, null, 2));
      await rename(tmp, dir);
      return toSet(dir, m, false);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

export interface PushOptions {
  /** Repository to push to (default FIXTURE_REPO). */
  repo?: string | undefined;
  /** Only these registry tags (default: every built image). */
  tags?: readonly string[] | undefined;
}

/** skopeo copy every fixture tag to `${registryHost}/${repo}:${tag}` over plain HTTP. */
export async function pushFixtures(fixtures: FixtureSet | string, registryHost: string, opts: PushOptions = {}): Promise<void> {
  const set = typeof fixtures === 'string' ? await setFromLayout(fixtures) : fixtures;
  const repo = opts.repo ?? set.repo;
  const images = set.images.filter((i) => opts.tags === undefined || opts.tags.includes(i.tag));
  for (const img of images) {
    await run('skopeo', [
      '--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', ...img.pushFlags,
      `oci:${set.layout}:${img.layoutTag}`, `docker://${registryHost}/${repo}:${img.tag}`,
    ]);
  }
}

async function setFromLayout(layout: string): Promise<FixtureSet> {
  const dir = dirname(layout);
  const m = JSON.parse(await readFile(join(dir, MARKER), 'utf8')) as Marker;
  return toSet(dir, m, true);
}

/**
 * The reference rootfs of a layout tag: `umoci unpack --image LAYOUT:TAG DIR` (as root, so owners
 * and modes are kept). DIR must not exist yet; returns DIR/rootfs. An index tag (multiarch) cannot
 * be unpacked by umoci: use its per-platform layout tags (multiarch-amd64, multiarch-arm64).
 */
export async function referenceTree(layout: FixtureSet | string, tag: string, dir: string): Promise<string> {
  const path = typeof layout === 'string' ? layout : layout.layout;
  await umoci('unpack', '--image', `${path}:${tag}`, dir);
  return join(dir, 'rootfs');
}
