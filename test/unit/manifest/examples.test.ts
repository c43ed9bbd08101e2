// The shipped examples load from the manifests/ directory as a user would
// point keel at it, and say what their comments promise.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadManifests, type ContainerSpec } from '../../../src/manifest/index.ts';
import { startOrder } from '../../../src/plan/index.ts';
import { BUILTINS } from './helpers.ts';

const DIR = fileURLToPath(new URL('../../../manifests/', import.meta.url));

async function load(set?: Record<string, string>): Promise<Map<string, ContainerSpec>> {
  const r = await loadManifests([DIR], { builtins: BUILTINS, set });
  assert.deepEqual(r.problems, []);
  return new Map(r.specs.map((s) => [s.name, s]));
}

test('the manifests/ directory validates and starts etcd, flannel, kubelet in that order', async () => {
  const specs = await load();
  assert.deepEqual([...specs.keys()], ['etcd', 'flannel', 'kubelet']);
  assert.deepEqual(startOrder([...specs.keys()].reverse(), [...specs.values()]), ['etcd', 'flannel', 'kubelet'], 'the plan starts them in dependency order');
});

test('etcd: host network with host files, state bind-mounted and created, notify, the builtin hostname', async () => {
  const etcd = (await load()).get('etcd');
  assert.ok(etcd);
  assert.equal(etcd.image, 'quay.io/coreos/etcd:v3.5.17');
  assert.equal(etcd.network, 'host');
  assert.equal(etcd.hostFiles, true);
  assert.equal(etcd.notify, true);
  assert.deepEqual(etcd.capabilities, []);
  assert.ok(etcd.args?.includes('--name=node1'));
  assert.ok(etcd.args?.includes('--initial-cluster=node1=http://127.0.0.1:2380'));
  assert.deepEqual(etcd.mounts[0], { type: 'bind', source: '/var/lib/etcd', target: '/var/lib/etcd', readOnly: false, propagation: 'rprivate', create: true, allowSensitive: false });
  assert.equal(etcd.stopTimeoutSec, 60);
});

test('etcd: --set overrides the image default', async () => {
  const etcd = (await load({ ETCD_IMAGE: '127.0.0.1:5000/etcd:test' })).get('etcd');
  assert.equal(etcd?.image, '127.0.0.1:5000/etcd:test');
  assert.equal(etcd?.reference.transport, 'registry');
});

test('flannel: after and requiring etcd, NET_ADMIN, /run/flannel', async () => {
  const flannel = (await load()).get('flannel');
  assert.ok(flannel);
  assert.ok(flannel.after.includes('etcd.service'));
  assert.deepEqual(flannel.requires, ['etcd.service']);
  assert.ok(flannel.capabilities.includes('CAP_NET_ADMIN'));
  assert.ok(flannel.mounts.some((m) => m.type === 'bind' && m.source === '/run/flannel' && !m.readOnly && m.create));
});

test('kubelet: after flannel, host namespaces, the host mounts a kubelet needs', async () => {
  const kubelet = (await load()).get('kubelet');
  assert.ok(kubelet);
  assert.ok(kubelet.after.includes('flannel.service'));
  assert.equal(kubelet.pid, 'host');
  assert.equal(kubelet.capabilities.length, 41);
  const bind = new Map(kubelet.mounts.flatMap((m) => (m.type === 'bind' ? [[m.target, m] as const] : [])));
  assert.equal(bind.get('/var/lib/kubelet')?.propagation, 'rshared');
  for (const t of ['/etc/kubernetes', '/var/log', '/sys', '/run', '/dev']) assert.ok(bind.has(t), t);
  assert.equal(bind.get('/sys')?.allowSensitive, true);
});
