// bench/apply.ts — time from `keel apply` of a cached image to the unit being
// active, against a raw `systemd-run … runc run` of the same bundle, inside a
// disposable systemd guest (scripts/testhost). Not a test.
//
// The payload is etcd 3.4 (scripts/images/build-etcd) with notify: true, so
// both contenders return when etcd has sent READY=1 (keel waits for the start
// job; systemd-run, without --no-block, waits for it too). Each keel run is a
// fresh create (the unit and bundle are removed between runs, untimed) of an
// image already in the store: validate, render, register, start. The raw run
// uses a copy of keel's own config.json and the same shared rootfs, with
// the properties a careful admin would give by hand (Type=notify,
// NotifyAccess=all, Delegate=yes, KillMode=mixed), and the same notify
// mechanism as keel's unit: config.json binds /run/systemd/notify into the
// container and sets NOTIFY_SOCKET, and runc is started under
// `/usr/bin/env -u NOTIFY_SOCKET` so it does not proxy the socket — etcd's
// READY=1 goes straight to systemd (NotifyAccess=all, since the sender is not
// the main pid). keel's unit also has ExecStartPre=-runc delete --force (a
// stale state left by a killed runc); the raw one does not. Runs are interleaved
// (keel, raw, keel, raw …); times are measured inside the guest with
// date +%s%N around the command; medians and their ratio are printed.
//
//   node bench/apply.ts [--runs N]        (needs root, a built dist/, and what test/e2e/apply needs)

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pushTestImages } from '../test/e2e/apply/images.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { bootTestHost } from '../test/helpers/testhost.ts';

const PROJECT = path.resolve(import.meta.dirname, '..');
const KEEL = path.join(PROJECT, 'bin', 'keel');
const ROOT = '/var/tmp/keel-bench-root';
const PORT = 25790;
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(values.runs);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const work = await mkdtemp('/var/tmp/keel-bench-apply-');
const registry = await startRegistry();
const host = await (async () => {
  const images = await pushTestImages(work, registry.host);
  const manifest = `
name: benchkv
image: ${images.etcd}
command: [/usr/local/bin/etcd]
args: [--name=b, --data-dir=/var/lib/etcd, --listen-client-urls=http://127.0.0.1:${PORT}, --advertise-client-urls=http://127.0.0.1:${PORT},
       --listen-peer-urls=http://127.0.0.1:${PORT + 1}, --initial-advertise-peer-urls=http://127.0.0.1:${PORT + 1}, --initial-cluster=b=http://127.0.0.1:${PORT + 1}]
mounts: [{ type: bind, source: /var/tmp/benchkv-data, target: /var/lib/etcd, readOnly: false, create: true }]
capabilities: { drop: [ALL] }
resources: { nofile: 16384 }
notify: true
`;
  await writeFile(path.join(work, 'benchkv.yaml'), manifest);
  return bootTestHost(`bench-apply-${process.pid}`, { binds: [PROJECT, work] });
})();

async function sh(script: string): Promise<string> {
  const r = await host.exec(['sh', '-c', script], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`guest: ${script}\nexit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function timed(cmd: string): Promise<number> {
  const out = await sh(`s=$(date +%s%N); ${cmd} >/dev/null 2>&1 || exit 9; e=$(date +%s%N); echo $(( (e - s) / 1000 ))`);
  return Number(out.trim()) / 1000; // ms
}

try {
  const manifest = path.join(work, 'benchkv.yaml');
  const keel = `${KEEL} --root ${ROOT}`;
  // Warm up: pull into the store, and keep a copy of the rendered bundle for the raw runs.
  await sh(`${keel} apply ${manifest}`);
  await sh(`mkdir -p /var/tmp/raw-bundle && cp ${ROOT}/containers/benchkv/active/config.json /var/tmp/raw-bundle/ && ${keel} remove benchkv`);
  const raw = [
    'systemd-run --quiet --unit=benchkv.service -p Type=notify -p NotifyAccess=all -p Delegate=yes -p KillMode=mixed',
    '-p SuccessExitStatus=143 -p LimitNOFILE=16384',
    '/usr/bin/env -u NOTIFY_SOCKET /usr/sbin/runc --root /run/keel/runc run --bundle /var/tmp/raw-bundle --no-new-keyring benchkv',
  ].join(' ');
  // The copied config.json must carry keel's notify wiring, or the raw run would not be the same container.
  const config = JSON.parse(await sh('cat /var/tmp/raw-bundle/config.json')) as { process?: { env?: string[] }; mounts?: { destination?: string }[] };
  if (!config.process?.env?.includes('NOTIFY_SOCKET=/run/systemd/notify') || !config.mounts?.some((m) => m.destination === '/run/systemd/notify')) {
    throw new Error('keel\'s config.json for benchkv has no NOTIFY_SOCKET env or /run/systemd/notify bind: the raw contender would differ');
  }
  // A stopped transient unit is collected asynchronously: wait until the name is free, so the next
  // keel apply does not find the raw unit still loaded (E_UNIT_EXISTS).
  const gone = 'for i in $(seq 100); do [ "$(systemctl show --value -p LoadState benchkv.service)" = not-found ] && exit 0; sleep 0.05; done; exit 1';
  const keelMs: number[] = [];
  const rawMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    keelMs.push(await timed(`${keel} apply ${manifest}`));
    await sh(`${keel} remove benchkv`);
    rawMs.push(await timed(raw));
    await sh('systemctl stop benchkv.service; systemctl reset-failed benchkv.service 2>/dev/null; true');
    await sh(gone);
  }
  const k = median(keelMs);
  const r = median(rawMs);
  console.log(`keel apply (cached image) -> active: median ${k.toFixed(0)} ms  [${keelMs.map((x) => x.toFixed(0)).join(' ')}]`);
  console.log(`systemd-run ... runc run  -> active: median ${r.toFixed(0)} ms  [${rawMs.map((x) => x.toFixed(0)).join(' ')}]`);
  console.log(`ratio keel/raw: ${(k / r).toFixed(2)} (difference ${(k - r).toFixed(0)} ms: Node start-up, validation, render, D-Bus)`);
  console.log(`goal: keel within 100 ms of raw: ${k - r <= 100 ? 'met' : 'NOT met'} (+${(k - r).toFixed(0)} ms; was +419 ms)`);
} finally {
  await host.shutdown();
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
