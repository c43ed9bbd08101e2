// bench/boot.ts — how long `keel boot` (keel.service) takes to bring 20 cached
// containers back after a reboot, in a disposable systemd guest
// (scripts/testhost --persist: powered off and booted again over the same
// upper directory, /etc and /var kept). Not a test: nothing is asserted.
//
// Setup (untimed, once): keel.service from units/keel.service installed and
// enabled with ExecStart pointing at this checkout's bin/keel; 20 manifests of
// the busybox test image (a shell that exits on SIGTERM, network: none) in
// /etc/keel/manifests.d; `keel apply` (pulls the image once, renders 20
// bundles, starts 20 units; its wall time is printed as a side figure).
// Then the guest is rebooted N times. For each boot, from the guest's systemd
// (`systemctl show`, monotonic µs parsed as BigInt: they pass 2^31 after ~36
// min of uptime):
//   (a) keel.service's ExecMainStartTimestampMonotonic (the moment systemd
//       started `keel boot`, Node start-up included) to the last of the 20
//       container units entering active (max ActiveEnterTimestampMonotonic),
//       and to the first;
//   (b) keel.service's run time: ExecMainExitTimestampMonotonic - ExecMainStart
//       (keel also waits for every unit's start job and watches the started
//       units for a short window, so (b) > (a));
//   plus keel's CPU (CPUUsageNSec, when systemd accounts it), when keel
//   started after the guest's PID 1, and the guest's boot wall time.
// After the N boots the loopback registry is stopped and the guest booted
// --offline-runs more times (default 1): the images are cached, boot never
// reaches the network, so it must make no difference.
// Per boot, the 20 units' timeline is printed too (when each start job began
// running, InactiveExitTimestampMonotonic, and when each went active). Last, as
// a diagnostic and not a boot: `keel boot` run twice in the running guest with
// every container already active (nothing to do) — keel's fixed cost (Node
// start-up, store, manifests, plan), wall and CPU.
// Medians are printed beside the per-boot figures, and a line against the goal
// (20 containers active within 3 s of `keel boot` starting).
//
//   node bench/boot.ts [--runs N] [--offline-runs M] [--containers C]
//   (needs root, a built dist/, and what test/e2e/apply needs)

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pushTestImages } from '../test/e2e/apply/images.ts';
import { startRegistry, type Registry } from '../test/helpers/registry.ts';
import { bootTestHost, type TestHost } from '../test/helpers/testhost.ts';

const PROJECT = path.resolve(import.meta.dirname, '..');
const KEEL = path.join(PROJECT, 'bin', 'keel');
const ROOT = '/var/lib/keel-bench-boot'; // inside the guest: on the persisted upper dir (host /var/tmp)
const MANIFESTS = '/etc/keel/manifests.d';
const GOAL_MS = 3000;
const WAS_MS = 24_600;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'offline-runs': { type: 'string', default: '1' },
    containers: { type: 'string', default: '20' },
  },
});
const RUNS = Number(values.runs);
const OFFLINE_RUNS = Number(values['offline-runs']);
const COUNT = Number(values.containers);
for (const [k, v] of [['runs', RUNS], ['offline-runs', OFFLINE_RUNS], ['containers', COUNT]] as const) {
  if (!Number.isSafeInteger(v) || v < 0 || (k !== 'offline-runs' && v < 1)) throw new Error(`--${k}: not a valid count`);
}
const NAMES = Array.from({ length: COUNT }, (_, i) => `bb${String(i + 1).padStart(2, '0')}`);
const GUEST = `bench-boot-${process.pid}`;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const manifest = (name: string, image: string): string => `
name: ${name}
image: ${image}
command: [/bin/sh, -c, 'trap "exit 0" TERM; sleep 1000 & wait']
network: none
resources: { nofile: 1024 }
`;

interface Boot {
  label: string;
  guestUpMs: number;
  /** keel.service ExecMainStart -> first / last container ActiveEnter. */
  firstActiveMs: number;
  lastActiveMs: number;
  /** keel.service ExecMainStart -> ExecMainExit. */
  keelRunMs: number;
  keelCpuMs: number | undefined;
  /** Guest PID 1 start (UserspaceTimestampMonotonic) -> keel.service ExecMainStart. */
  keelAfterPid1Ms: number;
  active: number;
  restarts: number;
  keelState: string;
  /** Per container, ms after keel boot started: its start job began running (InactiveExit), it went active. */
  jobsRan: number[];
  actives: number[];
  notes: string[];
}

let work: string | undefined;
let registry: Registry | undefined;
let host: TestHost | undefined;

function guest(): TestHost {
  if (host === undefined) throw new Error('no guest');
  return host;
}

async function sh(script: string, input?: string): Promise<string> {
  const r = await guest().exec(['sh', '-c', script], { timeoutMs: 300_000, ...(input !== undefined ? { input } : {}) });
  if (r.code !== 0) throw new Error(`guest: ${script}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `systemctl show -p … UNIT…` as one property map per unit (blocks separated by blank lines). */
async function show(units: readonly string[], props: readonly string[]): Promise<Map<string, Map<string, string>>> {
  const out = await sh(`systemctl show -p ${props.join(',')} ${units.join(' ')}`);
  const byUnit = new Map<string, Map<string, string>>();
  for (const block of out.split(/\n\s*\n/)) {
    const m = new Map<string, string>();
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
    }
    const id = m.get('Id');
    if (id !== undefined) byUnit.set(id, m);
  }
  return byUnit;
}

/** A monotonic µs value (64-bit safe); 0n when unset. */
function mono(m: Map<string, string> | undefined, prop: string): bigint {
  const v = m?.get(prop)?.trim() ?? '';
  return /^\d+$/.test(v) ? BigInt(v) : 0n;
}

const ms = (us: bigint): number => Number(us) / 1000;

async function reboot(): Promise<number> {
  await guest().shutdown();
  host = undefined;
  host = await bootTestHost(GUEST, { binds: [PROJECT], persist: path.join(work as string, 'guest'), timeoutSec: 120 });
  return host.bootMs;
}

async function measureBoot(label: string, guestUpMs: number): Promise<Boot> {
  const units = NAMES.map((n) => `${n}.service`);
  const notes: string[] = [];
  // The guest counts as up once the boot's jobs are done, keel.service included;
  // keel waits for the containers' start jobs, so they should be active already.
  const deadline = Date.now() + 60_000;
  let states = await show(['keel.service', ...units], ['Id', 'ActiveState']);
  const settled = (): boolean =>
    states.get('keel.service')?.get('ActiveState') !== 'activating' &&
    units.every((u) => states.get(u)?.get('ActiveState') === 'active');
  while (!settled() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    states = await show(['keel.service', ...units], ['Id', 'ActiveState']);
  }
  const props = ['Id', 'ActiveState', 'SubState', 'Result', 'ActiveEnterTimestampMonotonic', 'InactiveExitTimestampMonotonic', 'NRestarts',
    'ExecMainStartTimestampMonotonic', 'ExecMainExitTimestampMonotonic', 'ExecMainStatus', 'CPUUsageNSec'];
  const s = await show(['keel.service', ...units], props);
  const keel = s.get('keel.service');
  const manager = await sh('systemctl show --value -p UserspaceTimestampMonotonic');
  const pid1 = /^\d+$/.test(manager.trim()) ? BigInt(manager.trim()) : 0n;
  const keelStart = mono(keel, 'ExecMainStartTimestampMonotonic');
  const keelExit = mono(keel, 'ExecMainExitTimestampMonotonic');
  let first = 0n;
  let last = 0n;
  let active = 0;
  let restarts = 0;
  const jobsRan: number[] = [];
  const actives: number[] = [];
  for (const u of units) {
    const m = s.get(u);
    const state = m?.get('ActiveState') ?? 'not-found';
    const enter = mono(m, 'ActiveEnterTimestampMonotonic');
    const ran = mono(m, 'InactiveExitTimestampMonotonic');
    if (ran > 0n && keelStart > 0n) jobsRan.push(ms(ran - keelStart));
    if (enter > 0n && keelStart > 0n) actives.push(ms(enter - keelStart));
    restarts += Number(m?.get('NRestarts') ?? 0) || 0;
    if (state === 'active' && enter > 0n) {
      active++;
      if (first === 0n || enter < first) first = enter;
      if (enter > last) last = enter;
    } else {
      notes.push(`${u} ${state}/${m?.get('SubState') ?? '?'} result=${m?.get('Result') ?? '?'} status=${m?.get('ExecMainStatus') ?? '?'}`);
    }
  }
  const cpu = keel?.get('CPUUsageNSec')?.trim() ?? '';
  const journal = (await guest().exec(['journalctl', '--no-pager', '-b', '-o', 'cat', '-u', 'keel.service'])).stdout;
  for (const line of journal.split('\n')) {
    if (/pulling|error|warn|fail|E_[A-Z_]{3,}/i.test(line)) notes.push(`journal: ${line}`);
  }
  if (keelStart === 0n) notes.push('keel.service never started (ExecMainStartTimestampMonotonic unset)');
  return {
    label,
    guestUpMs,
    firstActiveMs: first > 0n ? ms(first - keelStart) : NaN,
    lastActiveMs: last > 0n ? ms(last - keelStart) : NaN,
    keelRunMs: keelExit > keelStart ? ms(keelExit - keelStart) : NaN,
    keelCpuMs: /^\d+$/.test(cpu) ? Number(BigInt(cpu) / 1000n) / 1000 : undefined,
    keelAfterPid1Ms: pid1 > 0n && keelStart > pid1 ? ms(keelStart - pid1) : NaN,
    active,
    restarts,
    keelState: `${keel?.get('ActiveState') ?? '?'}/${keel?.get('Result') ?? '?'} exit ${keel?.get('ExecMainStatus') ?? '?'}`,
    jobsRan: jobsRan.sort((a, b) => a - b),
    actives: actives.sort((a, b) => a - b),
    notes,
  };
}

const f0 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(0));

function printBoot(i: number, b: Boot): void {
  console.log(
    `boot ${i} (${b.label}): ${b.active}/${COUNT} active; keel boot start -> last active ${f0(b.lastActiveMs)} ms ` +
      `(first ${f0(b.firstActiveMs)} ms); keel.service run ${f0(b.keelRunMs)} ms, CPU ${f0(b.keelCpuMs)} ms, ${b.keelState}; ` +
      `keel started ${f0(b.keelAfterPid1Ms)} ms after guest PID 1; guest up in ${f0(b.guestUpMs)} ms; restarts ${b.restarts}`,
  );
  console.log(`    start jobs ran at (ms after keel start): ${b.jobsRan.map(f0).join(' ')}`);
  console.log(`    units active at   (ms after keel start): ${b.actives.map(f0).join(' ')}`);
  for (const n of b.notes) console.log(`    ${n}`);
}

function summary(label: string, boots: readonly Boot[]): void {
  if (boots.length === 0) return;
  const list = (pick: (b: Boot) => number | undefined): string => boots.map((b) => f0(pick(b))).join(' ');
  const med = (pick: (b: Boot) => number | undefined): string => {
    const xs = boots.map(pick).filter((x): x is number => x !== undefined && !Number.isNaN(x));
    return xs.length > 0 ? f0(median(xs)) : 'n/a';
  };
  console.log(`${label}, ${boots.length} boot(s):`);
  console.log(`  keel boot start -> all ${COUNT} active: median ${med((b) => b.lastActiveMs)} ms  [${list((b) => b.lastActiveMs)}]`);
  console.log(`  keel boot start -> first active:    median ${med((b) => b.firstActiveMs)} ms  [${list((b) => b.firstActiveMs)}]`);
  console.log(`  keel.service run time:              median ${med((b) => b.keelRunMs)} ms  [${list((b) => b.keelRunMs)}]`);
  console.log(`  keel.service CPU:                   median ${med((b) => b.keelCpuMs)} ms  [${list((b) => b.keelCpuMs)}]`);
  console.log(`  guest PID 1 -> keel boot start:     median ${med((b) => b.keelAfterPid1Ms)} ms  [${list((b) => b.keelAfterPid1Ms)}]`);
}

const online: Boot[] = [];
const offline: Boot[] = [];
try {
  work = await mkdtemp('/var/tmp/keel-bench-boot-');
  registry = await startRegistry();
  const images = await pushTestImages(work, registry.host);
  host = await bootTestHost(GUEST, { binds: [PROJECT], persist: path.join(work, 'guest'), timeoutSec: 120 });
  const unit = (await readFile(path.join(PROJECT, 'units/keel.service'), 'utf8'))
    .replace('ExecStart=/usr/bin/keel boot', `ExecStart=${KEEL} --root ${ROOT} --manifests ${MANIFESTS} boot`);
  if (!unit.includes(`ExecStart=${KEEL} `)) throw new Error('units/keel.service: no "ExecStart=/usr/bin/keel boot" line to point at this checkout');
  await sh('cat > /etc/systemd/system/keel.service && systemctl daemon-reload && systemctl enable --quiet keel.service', unit);
  await sh(`mkdir -p ${MANIFESTS}`);
  for (const n of NAMES) await sh(`cat > ${MANIFESTS}/${n}.yaml`, manifest(n, images.busybox));
  const t0 = performance.now();
  await sh(`${KEEL} --root ${ROOT} --manifests ${MANIFESTS} apply >/dev/null`);
  console.log(`setup: keel apply of ${COUNT} containers (one image pull, ${COUNT} bundles, ${COUNT} starts): ${(performance.now() - t0).toFixed(0)} ms wall, from the host`);

  for (let i = 0; i < RUNS; i++) {
    const b = await measureBoot('registry up', await reboot());
    online.push(b);
    printBoot(online.length, b);
  }
  if (OFFLINE_RUNS > 0) {
    await registry.stop();
    registry = undefined;
    for (let i = 0; i < OFFLINE_RUNS; i++) {
      const b = await measureBoot('registry down', await reboot());
      offline.push(b);
      printBoot(online.length + offline.length, b);
    }
  }
  // Diagnostic, not a boot: `keel boot` again with all containers already active (every one planned
  // unchanged) — what keel costs before it has anything to do: Node start-up, store, manifests, plan.
  const noop: string[] = [];
  for (let i = 0; i < 2; i++) {
    const out = await sh(`/usr/bin/time -f '%e %U %S' ${KEEL} --root ${ROOT} --manifests ${MANIFESTS} boot 2>&1 >/dev/null | tail -n 1`);
    const [wall, user, sys] = out.trim().split(' ').map(Number);
    noop.push(`${((wall ?? 0) * 1000).toFixed(0)} ms wall / ${(((user ?? 0) + (sys ?? 0)) * 1000).toFixed(0)} ms CPU`);
  }
  console.log(`diagnostic: keel boot with all ${COUNT} already active (nothing to do), in the running guest: ${noop.join('; ')}`);
  const last = online.length + offline.length > 0 ? (await guest().exec(['journalctl', '--no-pager', '-b', '-u', 'keel.service'])).stdout : '';
  console.log(`\njournalctl -b -u keel.service, last boot (tail):\n${last.trim().split('\n').slice(-8).map((l) => `    ${l}`).join('\n')}\n`);

  summary('registry up', online);
  summary('registry down', offline);
  const all = [...online, ...offline];
  const lasts = all.map((b) => b.lastActiveMs);
  const complete = all.every((b) => b.active === COUNT);
  const med = median(lasts.map((x) => (Number.isNaN(x) ? Infinity : x)));
  const worst = Math.max(...lasts.map((x) => (Number.isNaN(x) ? Infinity : x)));
  console.log(
    `goal: ${COUNT} cached containers active within ${GOAL_MS} ms of keel boot starting: ` +
      `${complete && worst <= GOAL_MS ? 'met' : complete && med <= GOAL_MS ? 'met by the median, not by every boot' : 'NOT met'} ` +
      `(median ${f0(med)} ms, worst ${f0(worst)} ms over ${all.length} boots${complete ? '' : '; some containers did not come up'}; was ${WAS_MS} ms)`,
  );
} finally {
  await host?.shutdown();
  await registry?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
}
