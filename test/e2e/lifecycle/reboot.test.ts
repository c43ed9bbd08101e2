// Reboots, end to end: a `--persist` guest (scripts/testhost) with
// keel.service installed and enabled as a user's host has it, and a unit that
// holds network-online.target back (the slow network of a real boot).
//   1. cached containers come up at once, before the network is online;
//   2. with the registry down and one image missing, the cached container
//      still comes up at once and the boot does not fail; the missing one is
//      pulled in the background (its failures in the journal with their code)
//      and comes up by itself once the registry is back.
// Needs what test/e2e/apply needs.

import { strict as assert } from 'node:assert';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { KEEL, PROJECT, keelServiceUnit, ok, tearDown } from '../../helpers/guest.ts';
import { bootTestHost, type TestHost } from '../../helpers/testhost.ts';
import { pushApp } from './images.ts';

const ROOT = '/var/lib/keel-reboot';
const MANIFESTS = '/etc/keel/manifests.d';
const NAME = `reboot-${process.pid}`;
const HOLD_SEC = 20;

let host: TestHost | undefined;
let registry: Registry | undefined;
let work: string;
let persist: string;

function h(): TestHost {
  if (host === undefined) throw new Error('no guest');
  return host;
}

/** systemctl show values; monotonic timestamps parsed as BigInt (testing.md: they pass 2^31). */
async function monotonic(unit: string, prop: string): Promise<bigint> {
  const out = await ok(h().exec(['systemctl', 'show', '--value', '-p', prop, unit]), `show ${prop} ${unit}`);
  return BigInt(out.trim() || '0');
}

async function state(unit: string): Promise<string> {
  return (await h().exec(['systemctl', 'show', '--value', '-p', 'ActiveState', unit])).stdout.trim();
}

const sleeper = (name: string, image: string): string => `
name: ${name}
image: ${image}
command: [/bin/sh, -c, 'trap "exit 0" TERM; sleep 1000 & wait']
network: none
resources: { nofile: 1024 }
`;

// Holds network-online.target back for HOLD_SEC (testing.md), and a unit that wants the network.
const HOLD = `[Unit]
Description=test: a network that takes ${HOLD_SEC} s to come up
DefaultDependencies=no
Before=network-online.target
[Service]
Type=oneshot
ExecStart=/bin/sleep ${HOLD_SEC}
TimeoutStartSec=infinity
[Install]
WantedBy=network-online.target
`;
const WANTS_NETWORK = `[Unit]
Description=test: something on this host wants the network
Wants=network-online.target
After=network-online.target
[Service]
Type=oneshot
ExecStart=/bin/true
[Install]
WantedBy=multi-user.target
`;

before(async () => {
  work = await mkdtemp('/var/tmp/keel-e2e-reboot-');
  persist = join(work, 'guest');
  registry = await startRegistry();
});

after(() => tearDown({ host, registry, work }));

async function reboot(): Promise<void> {
  await h().shutdown();
  host = await bootTestHost(NAME, { binds: [PROJECT], persist, timeoutSec: 120 });
  console.log(`# rebooted in ${h().bootMs} ms`);
}

it('cached containers are up before the network is online, on a host whose network is slow', async () => {
  const reg = registry as Registry;
  const cached = await pushApp(work, reg.host, 'cached', '1', { version: 'c1', ok: true, healthy: true });
  host = await bootTestHost(NAME, { binds: [PROJECT], persist });
  const unit = await keelServiceUnit(ROOT, MANIFESTS);
  await ok(h().exec(['sh', '-c', 'cat > /etc/systemd/system/keel.service'], { input: unit }), 'install keel.service');
  await ok(h().exec(['sh', '-c', 'cat > /etc/systemd/system/hold-network.service'], { input: HOLD }), 'install hold-network.service');
  await ok(h().exec(['sh', '-c', 'cat > /etc/systemd/system/wants-network.service'], { input: WANTS_NETWORK }), 'install wants-network.service');
  await ok(h().exec(['sh', '-c', 'systemctl daemon-reload && systemctl enable keel.service hold-network.service wants-network.service']), 'enable');
  await ok(h().exec(['sh', '-c', `mkdir -p ${MANIFESTS} && cat > ${MANIFESTS}/cached.yaml`], { input: sleeper('cached', cached) }), 'manifest');
  await ok(h().exec([KEEL, '--root', ROOT, 'apply']), 'keel apply');

  await reboot();
  assert.equal(await state('keel.service'), 'active');
  assert.equal(await state('cached.service'), 'active');
  const containerUp = await monotonic('cached.service', 'ActiveEnterTimestampMonotonic');
  const networkUp = await monotonic('network-online.target', 'ActiveEnterTimestampMonotonic');
  const keelDone = await monotonic('keel.service', 'ActiveEnterTimestampMonotonic');
  assert.ok(networkUp > 0n, 'network-online.target was not reached (the hold unit did not run?)');
  assert.ok(containerUp < networkUp, `cached.service came up at ${containerUp} µs, after network-online.target (${networkUp} µs)`);
  assert.ok(keelDone < networkUp, 'keel.service waited for the network');
  console.log(`# cached.service active ${(Number(networkUp - containerUp) / 1e6).toFixed(1)} s before network-online.target`);
});

it('with the registry down and an image missing, the cached container comes up at once and the other by itself once the registry is back', async () => {
  const reg = registry as Registry;
  const port = Number(reg.host.split(':')[1]);
  const lateRef = `${reg.host}/late:1`; // never pushed while the guest runs: not in the store
  await ok(h().exec(['sh', '-c', `cat > ${MANIFESTS}/late.yaml`], { input: sleeper('late', lateRef) }), 'late manifest');
  await reg.stop();
  registry = undefined;

  await reboot();
  assert.equal(await state('keel.service'), 'active', (await h().exec(['journalctl', '--no-pager', '-b', '-u', 'keel.service'])).stdout);
  assert.equal(await state('cached.service'), 'active');
  assert.notEqual(await state('late.service'), 'active');
  const boot = (await h().exec(['journalctl', '--no-pager', '-b', '-u', 'keel.service'])).stdout;
  assert.match(boot, /late\.service: image \S+late:1 is not in the store; keel-pull-late\.service pulls it once the network is up/);
  // The background pull waits for the network, then fails with a code, and retries.
  const deadline = Date.now() + 60_000;
  let pullLog = '';
  while (Date.now() < deadline) {
    pullLog = (await h().exec(['journalctl', '--no-pager', '-b', '-u', 'keel-pull-late.service'])).stdout;
    if (/\[E_REGISTRY_UNREACHABLE\]; next try in/.test(pullLog)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  assert.match(pullLog, /pulling \S+late:1 for late failed on attempt 1: .*\[E_REGISTRY_UNREACHABLE\]; next try in [4-6] s/);

  registry = await startRegistry({ port });
  await pushApp(work, registry.host, 'late', '1', { version: 'l1', ok: true, healthy: true });
  const upBy = Date.now() + 120_000;
  while (Date.now() < upBy && (await state('late.service')) !== 'active') await new Promise((r) => setTimeout(r, 1000));
  pullLog = (await h().exec(['journalctl', '--no-pager', '-b', '-u', 'keel-pull-late.service'])).stdout;
  assert.equal(await state('late.service'), 'active', pullLog);
  assert.match(pullLog, /pulled \S+late:1 for late \(sha256:[0-9a-f]{64}\) on attempt \d+/);
  assert.equal(await state('cached.service'), 'active');
});
