import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseManifestText, type ContainerSpec } from '../../../src/manifest/index.ts';
import { containerCgroupsPath, renderContainerUnit, signalExitStatus } from '../../../src/runtime/index.ts';
import type { UnitProperty } from '../../../src/systemd/index.ts';

function spec(yaml: string): ContainerSpec {
  const { specs, problems } = parseManifestText(yaml, 'test.yaml', { builtins: { HOSTNAME: 'h', MACHINE_ID: '0'.repeat(32) } });
  assert.deepEqual(problems, []);
  return specs[0] as ContainerSpec;
}

function byName(props: readonly UnitProperty[]): Map<string, UnitProperty> {
  return new Map(props.map((p) => [p.name, p]));
}

const BASE = 'name: etcd\nimage: example.com/etcd:3.4\n';
const OPTS = { runc: '/usr/sbin/runc', bundleDir: '/var/lib/keel/containers/etcd/active' };

describe('renderContainerUnit', () => {
  it('runs runc in the foreground on the active bundle, with cleanup of a stale state before start and after stop', () => {
    const p = byName(renderContainerUnit(spec(BASE), OPTS));
    assert.deepEqual(p.get('ExecStart')?.value, [[
      '/usr/sbin/runc',
      ['/usr/sbin/runc', '--root', '/run/keel/runc', 'run', '--bundle', '/var/lib/keel/containers/etcd/active', '--no-new-keyring', 'etcd'],
      false,
    ]]);
    const cleanup = [['/usr/sbin/runc', ['/usr/sbin/runc', '--root', '/run/keel/runc', 'delete', '--force', 'etcd'], true]];
    assert.deepEqual(p.get('ExecStartPre'), { name: 'ExecStartPre', signature: 'a(sasb)', value: cleanup });
    assert.deepEqual(p.get('ExecStopPost'), { name: 'ExecStopPost', signature: 'a(sasb)', value: cleanup });
  });

  it('keeps the container inside the unit: cgroupfs driver, Delegate=yes, system.slice, KillMode=mixed', () => {
    const p = byName(renderContainerUnit(spec(BASE), OPTS));
    assert.equal(p.get('Delegate')?.value, true);
    assert.equal(p.get('Slice')?.value, 'system.slice');
    assert.equal(p.get('KillMode')?.value, 'mixed');
    assert.ok(!JSON.stringify(p.get('ExecStart')?.value).includes('systemd-cgroup'));
    assert.equal(containerCgroupsPath('etcd'), '/system.slice/etcd.service/container');
  });

  it('tasksMax: infinity reaches the unit as TasksMax=infinity (unset leaves systemd\'s default)', () => {
    const inf = byName(renderContainerUnit(spec(`${BASE}resources: { tasksMax: infinity }\n`), OPTS));
    assert.equal(inf.get('TasksMax')?.value, 2n ** 64n - 1n);
    assert.equal(byName(renderContainerUnit(spec(BASE), OPTS)).has('TasksMax'), false);
  });

  it('maps the manifest: description, identifier, restart, timeouts, signal, limits, ordering', () => {
    const p = byName(renderContainerUnit(spec(`${BASE}description: the store
restart: { policy: always, delaySec: 2 }
stopSignal: SIGINT
stopTimeout: 45s
resources: { memoryMax: 1G, cpuWeight: 300, tasksMax: 64, nofile: 4096 }
after: [network-online.target, flannel.service]
before: [kubelet.service]
requires: [dbus.service]
wants: [network-online.target]
`), OPTS));
    assert.equal(p.get('Description')?.value, 'the store');
    assert.equal(p.get('SyslogIdentifier')?.value, 'etcd');
    assert.equal(p.get('Type')?.value, 'simple');
    assert.equal(p.has('NotifyAccess'), false);
    assert.equal(p.get('Restart')?.value, 'always');
    assert.equal(p.get('RestartUSec')?.value, 2_000_000n);
    assert.equal(p.get('TimeoutStopUSec')?.value, 45_000_000n);
    assert.equal(p.get('KillSignal')?.value, 2);
    assert.deepEqual(p.get('SuccessExitStatus')?.value, [[143, 130], []]);
    assert.equal(p.get('MemoryMax')?.value, 1024n ** 3n);
    assert.equal(p.get('CPUWeight')?.value, 300n);
    assert.equal(p.get('TasksMax')?.value, 64n);
    assert.equal(p.get('LimitNOFILE')?.value, 4096n);
    assert.equal(p.get('LimitNOFILESoft')?.value, 4096n);
    assert.deepEqual(p.get('After')?.value, ['network-online.target', 'flannel.service']);
    assert.deepEqual(p.get('Before')?.value, ['kubelet.service']);
    assert.deepEqual(p.get('Requires')?.value, ['dbus.service']);
    assert.deepEqual(p.get('Wants')?.value, ['network-online.target']);
  });

  it('notify: Type=notify, NotifyAccess=all, and runc started without NOTIFY_SOCKET (the payload talks to systemd itself)', () => {
    const p = byName(renderContainerUnit(spec(`${BASE}notify: true\n`), OPTS));
    assert.equal(p.get('Type')?.value, 'notify');
    assert.equal(p.get('NotifyAccess')?.value, 'all');
    const [[, argv]] = p.get('ExecStart')?.value as [[string, string[], boolean]];
    assert.deepEqual(argv.slice(0, 3), ['/usr/bin/env', '-u', 'NOTIFY_SOCKET']);
    const plain = byName(renderContainerUnit(spec(BASE), OPTS));
    assert.equal(plain.get('Type')?.value, 'simple');
    assert.equal(plain.has('NotifyAccess'), false);
  });

  it('leaves limits out when the manifest has none, and renders the same bytes twice', () => {
    const s = spec(BASE);
    const p = byName(renderContainerUnit(s, OPTS));
    for (const k of ['MemoryMax', 'CPUWeight', 'TasksMax']) assert.equal(p.has(k), false, k);
    const enc = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}` : x));
    assert.equal(enc(renderContainerUnit(s, OPTS)), enc(renderContainerUnit(s, OPTS)));
  });

  it('signalExitStatus is 128 + the signal number', () => {
    assert.equal(signalExitStatus('SIGTERM'), 143);
    assert.equal(signalExitStatus('SIGKILL'), 137);
  });
});
