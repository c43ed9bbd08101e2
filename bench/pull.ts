// bench/pull.ts — keel pull + keel unpack against skopeo copy + umoci unpack,
// podman pull (when it works here), and the unchecked floor `curl | tar -xz`.
//
// Every run is cold (fresh store and target, in /var/tmp). Contenders run
// interleaved (keel, peer, keel, peer, ..., in an order that rotates from run to
// run: see benchImage) and medians are reported, with
// user+sys CPU beside wall time, because wall times on shared machines vary
// 3-4x while CPU time stays within a few percent.
//
// Images: ~100 MB of 5 layers, a Debian-based one of many small files, and
// ~1 GiB of 8 layers; plus the cost of a second image that shares all but one
// layer with a cached one.
//
//   npm run bench:pull -- [--runs N] [--big-mib N] [--skip-big] [--keel-before DIR]
//
// --keel-before DIR adds another built keel checkout (an older commit, say) as
// the contender `keel-before`, so a change is measured before and after in one run.

import { execFile as execFileCb, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { startRegistry } from '../test/helpers/registry.ts';

const execFile = promisify(execFileCb);
const ROOT = path.resolve(import.meta.dirname, '..');
const KEEL = path.join(ROOT, 'bin', 'keel');
const WORK = '/var/tmp/keel-bench';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'big-mib': { type: 'string', default: '1024' },
    'skip-big': { type: 'boolean', default: false },
    /** Another keel checkout (built) to run as the contender `keel-before`, interleaved with this one. */
    'keel-before': { type: 'string' },
  },
});
const KEEL_BEFORE = values['keel-before'] === undefined ? undefined : path.join(path.resolve(values['keel-before']), 'bin', 'keel');
const RUNS = Number(values.runs);
const BIG_MIB = Number(values['big-mib']);

interface Sample {
  wallMs: number;
  cpuMs: number;
  maxRssKb: number;
}

/** Runs a shell command under GNU time; returns wall, user+sys CPU and peak RSS. */
async function measure(script: string): Promise<Sample> {
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '%U %S %M', 'bash', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (code !== 0) throw new Error(`benchmark command failed (${code}): ${script}\n${stderr}`);
  const last = stderr.trim().split('\n').at(-1) ?? '';
  const [user, sys, rss] = last.split(' ').map(Number);
  return { wallMs, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000, maxRssKb: rss ?? 0 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * Builds a benchmark image with umoci: `layers` layers of `mib` MiB in all,
 * half incompressible data and half text-like data (so gzip has real work, as
 * with binaries), with many small files as well as big ones.
 */
async function buildImage(layout: string, tag: string, mib: number, layers: number): Promise<void> {
  const marker = path.join(layout, `.built-${tag}`);
  if (existsSync(marker)) return;
  if (!existsSync(path.join(layout, 'oci-layout'))) await execFile('umoci', ['init', '--layout', layout]);
  await execFile('umoci', ['new', '--image', `${layout}:${tag}`]);
  const bundle = await mkdtemp(path.join(WORK, 'bundle-'));
  await rm(bundle, { recursive: true });
  await execFile('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  const perLayer = Math.ceil((mib << 20) / layers);
  for (let l = 0; l < layers; l++) {
    const dir = path.join(bundle, 'rootfs', `layer${l}`);
    await mkdir(dir, { recursive: true });
    let written = 0;
    let n = 0;
    while (written < perLayer) {
      const size = n % 10 === 0 ? Math.min(8 << 20, perLayer - written) : Math.min(64 << 10, perLayer - written);
      const seed = createHash('sha256').update(`${tag}/${l}/${n}`).digest();
      const buf = Buffer.alloc(size);
      if (n % 2 === 0) {
        for (let off = 0; off < size; off += 32) createHash('sha256').update(seed).update(String(off)).digest().copy(buf, off);
      } else {
        const words = ['etcd', 'kubelet', 'flannel', 'systemd', 'runc', 'container', 'layer', 'digest', '\n'];
        let off = 0;
        let i = seed[0] ?? 0;
        while (off < size) off += buf.write(`${words[(i = (i * 31 + 7) % words.length)]} `, off);
      }
      await writeFile(path.join(dir, `f${n}`), buf);
      written += size;
      n++;
    }
    await execFile('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:${tag}`, bundle], { maxBuffer: 1 << 26 });
  }
  await execFile('umoci', ['config', '--image', `${layout}:${tag}`, '--config.cmd', '/bin/true']);
  await rm(bundle, { recursive: true, force: true });
  await writeFile(marker, '');
}

/**
 * A Debian-based image of 4 layers and many small files (libraries, coreutils,
 * perl, the python standard library), the last layer one 64 MiB file: the
 * shape of a real distribution image, where per-file costs dominate.
 */
const DEBIAN_LAYERS = [
  ['libc6', 'libgcc-s1', 'libstdc++6', 'zlib1g', 'libssl3'],
  ['bash', 'coreutils', 'dash', 'grep', 'sed', 'tar', 'gzip', 'findutils', 'diffutils'],
  ['perl-base', 'libpython3.11-minimal', 'python3.11-minimal', 'libpython3.11-stdlib'],
] as const;

async function buildDebianImage(layout: string, tag: string): Promise<void> {
  const marker = path.join(layout, `.built-${tag}`);
  if (existsSync(marker)) return;
  if (!existsSync(path.join(layout, 'oci-layout'))) await execFile('umoci', ['init', '--layout', layout]);
  await execFile('umoci', ['new', '--image', `${layout}:${tag}`]);
  const work = await mkdtemp(path.join(WORK, 'debian-'));
  const bundle = path.join(work, 'bundle');
  const debs = path.join(work, 'debs');
  await mkdir(debs);
  await execFile('apt-get', ['download', '-q', ...DEBIAN_LAYERS.flat()], { cwd: debs, maxBuffer: 1 << 24 });
  const files = await readdir(debs);
  await execFile('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  for (const pkgs of DEBIAN_LAYERS) {
    for (const pkg of pkgs) {
      const deb = files.find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
      if (deb === undefined) throw new Error(`apt-get download gave no .deb for ${pkg}`);
      await execFile('dpkg', ['-x', path.join(debs, deb), path.join(bundle, 'rootfs')]);
    }
    await execFile('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:${tag}`, bundle], { maxBuffer: 1 << 26 });
  }
  const big = Buffer.alloc(64 << 20);
  for (let off = 0; off < big.length; off += 32) createHash('sha256').update(`${tag}/${off}`).digest().copy(big, off);
  await writeFile(path.join(bundle, 'rootfs', 'opt-data.bin'), big);
  await execFile('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:${tag}`, bundle], { maxBuffer: 1 << 26 });
  await execFile('umoci', ['config', '--image', `${layout}:${tag}`, '--config.cmd', '/bin/true']);
  await rm(work, { recursive: true, force: true });
  await writeFile(marker, '');
}

/** `tag` = the layers of `base` plus one small layer (a configuration change on top of a cached image). */
async function buildChildImage(layout: string, base: string, tag: string): Promise<void> {
  const marker = path.join(layout, `.built-${tag}`);
  if (existsSync(marker)) return;
  const bundle = await mkdtemp(path.join(WORK, 'child-'));
  await rm(bundle, { recursive: true });
  await execFile('umoci', ['unpack', '--image', `${layout}:${base}`, bundle], { maxBuffer: 1 << 26 });
  await mkdir(path.join(bundle, 'rootfs', 'etc', 'app'), { recursive: true });
  const conf = Buffer.alloc(1 << 20);
  for (let off = 0; off < conf.length; off += 32) createHash('sha256').update(`${tag}/${off}`).digest().copy(conf, off);
  await writeFile(path.join(bundle, 'rootfs', 'etc', 'app', 'config.bin'), conf);
  await execFile('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:${tag}`, bundle], { maxBuffer: 1 << 26 });
  await rm(bundle, { recursive: true, force: true });
  await writeFile(marker, '');
}

/**
 * The cost of a second image that shares all but one layer with a cached one:
 * keel pulls `base` (untimed), then `child` is timed; skopeo copies into an OCI
 * layout that already holds `base` (it skips the blobs it has). Both should do
 * work for the one new layer only.
 */
async function benchSecondImage(registry: string, repo: string, base: string, child: string): Promise<void> {
  const keelSamples: Sample[] = [];
  const skopeoSamples: Sample[] = [];
  let summary = '';
  for (let run = 0; run < RUNS; run++) {
    const dir = await mkdtemp(path.join(WORK, 'second-'));
    try {
      await execFile(KEEL, ['--root', `${dir}/store`, 'pull', '-q', `${registry}/${repo}:${base}`]);
      await execFile('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${registry}/${repo}:${base}`, `oci:${dir}/layout:${base}`]);
      await execFile('sync');
      keelSamples.push(await measure(`${KEEL} --root ${dir}/store pull ${registry}/${repo}:${child} 2>${dir}/keel.err >/dev/null`));
      skopeoSamples.push(await measure(`skopeo copy -q --src-tls-verify=false docker://${registry}/${repo}:${child} oci:${dir}/layout:${child}`));
      summary = (await readFile(`${dir}/keel.err`, 'utf8')).trim().split('\n').at(-1) ?? '';
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  console.log(`\nsecond image ${repo}:${child} (the layers of ${base} cached, one 1 MiB layer new), ${RUNS} runs, medians:`);
  console.log(`keel pull            ${(median(keelSamples.map((s) => s.wallMs)) / 1000).toFixed(2)} s wall, ${(median(keelSamples.map((s) => s.cpuMs)) / 1000).toFixed(2)} s CPU   (${summary})`);
  console.log(`skopeo copy (layout) ${(median(skopeoSamples.map((s) => s.wallMs)) / 1000).toFixed(2)} s wall, ${(median(skopeoSamples.map((s) => s.cpuMs)) / 1000).toFixed(2)} s CPU`);
}

async function layerUrls(registry: string, repo: string, tag: string): Promise<string[]> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const manifest = (await res.json()) as { layers: Array<{ digest: string }> };
  return manifest.layers.map((l) => `http://${registry}/v2/${repo}/blobs/${l.digest}`);
}

async function podmanWorks(): Promise<boolean> {
  try {
    await execFile('podman', ['--version']);
    return true;
  } catch {
    return false;
  }
}

async function benchImage(registry: string, repo: string, tag: string, sizeLabel: string): Promise<void> {
  const ref = `${registry}/${repo}:${tag}`;
  const urls = await layerUrls(registry, repo, tag);
  const contenders: Record<string, (dir: string) => string> = {
    keel: (d) =>
      `${KEEL} --root ${d}/store pull -q --json --timings ${ref} >${d}/pull.json && ` +
      `/usr/bin/time -o ${d}/unpack.time -f '%e %U %S' ${KEEL} --root ${d}/store unpack ${ref} ${d}/bundle >/dev/null`,
    'skopeo+umoci': (d) =>
      `skopeo copy -q --src-tls-verify=false docker://${ref} oci:${d}/layout:${tag} && umoci unpack --image ${d}/layout:${tag} ${d}/bundle >/dev/null`,
    'curl|tar': (d) => `mkdir -p ${d}/rootfs && ${urls.map((u) => `curl -sf ${u} | tar -xz -C ${d}/rootfs`).join(' && ')}`,
  };
  if (KEEL_BEFORE !== undefined) {
    contenders['keel-before'] = (d) => `${KEEL_BEFORE} --root ${d}/store pull -q ${ref} >/dev/null && ${KEEL_BEFORE} --root ${d}/store unpack ${ref} ${d}/bundle >/dev/null`;
  }
  if (await podmanWorks()) {
    contenders.podman = (d) =>
      `podman --root ${d}/podman --runroot ${d}/run --storage-driver vfs pull -q --tls-verify=false ${ref} >/dev/null`;
  }
  const samples = new Map<string, Sample[]>(Object.keys(contenders).map((k) => [k, []]));
  const phases: PhaseSample[] = [];
  for (let run = 0; run < RUNS; run++) {
    // The order rotates from run to run: on this VM's ext4 (mounted with discard), creating
    // files soon after a large tree was removed costs up to 40x more than usual (~200 us
    // against ~5 us per file, measured with a bare loop), so whoever runs right after the
    // previous contender's cleanup pays for it; with a fixed order keel always followed
    // podman's vfs trees, the largest.
    const entries = Object.entries(contenders);
    const first = run % entries.length;
    for (const [name, script] of [...entries.slice(first), ...entries.slice(0, first)]) {
      const dir = await mkdtemp(path.join(WORK, `${name.replace(/\W/g, '')}-`));
      await execFile('sync');
      try {
        samples.get(name)?.push(await measure(script(dir)));
        if (name === 'keel') phases.push(await readPhases(dir));
      } catch (err) {
        console.error(`${name}: ${(err as Error).message}`);
        samples.delete(name);
        delete contenders[name];
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  const keel = samples.get('keel') ?? [];
  const kWall = median(keel.map((s) => s.wallMs));
  const kCpu = median(keel.map((s) => s.cpuMs));
  console.log(`\n${sizeLabel} image ${ref}, ${urls.length} layers, ${RUNS} cold runs each, medians:`);
  console.log('contender       wall(s)  cpu(s)  keel wall/peer  keel cpu/peer  peak RSS');
  for (const [name, list] of samples) {
    const wall = median(list.map((s) => s.wallMs));
    const cpu = median(list.map((s) => s.cpuMs));
    const rss = Math.max(...list.map((s) => s.maxRssKb));
    console.log(
      `${name.padEnd(14)} ${(wall / 1000).toFixed(2).padStart(8)} ${(cpu / 1000).toFixed(2).padStart(7)}  ${(kWall / wall).toFixed(2).padStart(14)}  ${(kCpu / cpu).toFixed(2).padStart(13)}  ${(rss / 1024).toFixed(0).padStart(5)} MB`,
    );
  }
  printPhases(phases);
}

/** keel pull --timings of one run, plus the unpack's wall and CPU. */
interface PhaseSample {
  readonly pull: { wallMs: number; phases: Record<string, { ms: number; count: number }>; cpuMs: Record<string, number> };
  readonly unpack: { wallMs: number; cpuMs: number };
}

async function readPhases(dir: string): Promise<PhaseSample> {
  const pulled = JSON.parse(await readFile(`${dir}/pull.json`, 'utf8')) as { images: { timings: PhaseSample['pull'] }[] };
  const [wall, user, sys] = (await readFile(`${dir}/unpack.time`, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number);
  return { pull: pulled.images[0]!.timings, unpack: { wallMs: (wall ?? 0) * 1000, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000 } };
}

/** Where keel's time went (medians over the runs): the pull's phases, its CPU by thread, then the unpack. */
function printPhases(samples: readonly PhaseSample[]): void {
  if (samples.length === 0) return;
  const s = (ms: number): string => (ms / 1000).toFixed(2);
  const names = [...new Set(samples.flatMap((x) => Object.keys(x.pull.phases)))];
  const phase = names.map((n) => `${n} ${s(median(samples.map((x) => x.pull.phases[n]?.ms ?? 0)))}`).join(', ');
  const cpu = ['main', 'extract', 'pool', 'v8', 'other'].map((k) => `${k} ${s(median(samples.map((x) => x.pull.cpuMs[k] ?? 0)))}`).join(', ');
  console.log(`keel pull: wall ${s(median(samples.map((x) => x.pull.wallMs)))} s; phases (s, summed over layers; waits are wall time): ${phase}`);
  console.log(`keel pull CPU by thread (s): ${cpu}; keel unpack: ${s(median(samples.map((x) => x.unpack.wallMs)))} s wall, ${s(median(samples.map((x) => x.unpack.cpuMs)))} s CPU`);
}

async function main(): Promise<void> {
  await mkdir(WORK, { recursive: true });
  const layout = path.join(WORK, 'images');
  console.log('building benchmark images (cached in /var/tmp/keel-bench/images)...');
  await buildImage(layout, 'medium', 100, 5);
  await buildChildImage(layout, 'medium', 'medium-child');
  await buildDebianImage(layout, 'debian');
  if (!values['skip-big']) await buildImage(layout, 'big', BIG_MIB, 8);
  const registry = await startRegistry();
  try {
    const tags = values['skip-big'] ? ['medium', 'medium-child', 'debian'] : ['medium', 'medium-child', 'debian', 'big'];
    for (const tag of tags) {
      await execFile('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://${registry.host}/bench:${tag}`]);
    }
    await benchImage(registry.host, 'bench', 'medium', '~100 MB');
    await benchImage(registry.host, 'bench', 'debian', 'Debian-based (many small files)');
    await benchSecondImage(registry.host, 'bench', 'medium', 'medium-child');
    if (!values['skip-big']) await benchImage(registry.host, 'bench', 'big', `~${BIG_MIB} MiB`);
  } finally {
    await registry.stop();
  }
}

await main();
