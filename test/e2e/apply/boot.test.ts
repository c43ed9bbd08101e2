// A reboot, end to end: a `--persist` guest (scripts/testhost), keel.service
// installed and enabled in it, a container applied; then the guest is powered
// off, the loopback registry stopped, and the guest booted again over the
// same upper directory. keel.service must bring the container back from the
// store's cache alone. Needs what apply.test.ts needs.

import { strict as assert } from 'node:assert';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { KEEL, PROJECT, keelServiceUnit, ok, tearDown } from '../../helpers/guest.ts';
import { bootTestHost, type TestHost } from '../../helpers/testhost.ts';
import { pushTestImages } from './images.ts';

const ROOT = '/var/lib/keel-e2e';
const MANIFESTS = '/etc/keel/manifests.d';
const PORT = 24790 + (process.pid % 100) * 2;
const NAME = `boot-${process.pid}`;

let host: TestHost | undefined;
let registry: Registry | undefined;
let work: string;

before(async () => {
  work = await mkdtemp('/var/tmp/keel-e2e-boot-');
  registry = await startRegistry();
  await pushTestImages(work, registry.host);
});

after(() => tearDown({ host, registry, work }));

it('keel.service brings a container back after a reboot, from the cache, with the registry gone', async () => {
  const persist = join(work, 'guest');
  host = await bootTestHost(NAME, { binds: [PROJECT], persist });
  const g = host;
  // Install keel.service as shipped, pointing ExecStart at this checkout.
  const unit = await keelServiceUnit(ROOT, MANIFESTS);
  await writeFile(join(work, 'keel.service'), unit);
  await ok(g.exec(['sh', '-c', `mkdir -p ${MANIFESTS} && cat > /etc/systemd/system/keel.service && systemctl daemon-reload && systemctl enable keel.service`], { input: unit }), 'install keel.service');
  const manifest = `
name: kv
image: ${registry?.host}/etcd:3.4
command: [/usr/local/bin/etcd]
args: [--name=kv, --data-dir=/var/lib/etcd, --listen-client-urls=http://127.0.0.1:${PORT}, --advertise-client-urls=http://127.0.0.1:${PORT},
       --listen-peer-urls=http://127.0.0.1:${PORT + 1}, --initial-advertise-peer-urls=http://127.0.0.1:${PORT + 1}, --initial-cluster=kv=http://127.0.0.1:${PORT + 1}]
mounts: [{ type: bind, source: /var/lib/kv-e2e, target: /var/lib/etcd, readOnly: false, create: true }]
capabilities: { drop: [ALL] }
resources: { nofile: 16384 }
notify: true
`;
  await ok(g.exec(['sh', '-c', `cat > ${MANIFESTS}/kv.yaml`], { input: manifest }), 'write manifest');
  await ok(g.exec([KEEL, '--root', ROOT, 'apply']), 'keel apply (the default manifest dir)');
  await ok(g.exec(['etcdctl', `--endpoints=http://127.0.0.1:${PORT}`, 'put', 'boot', 'kept']), 'put');

  await g.shutdown();
  await registry?.stop();
  registry = undefined;
  host = await bootTestHost(NAME, { binds: [PROJECT], persist });
  const h = host;
  console.log(`# rebooted in ${h.bootMs} ms`);
  const keelState = (await h.exec(['systemctl', 'show', '-p', 'ActiveState,Result,ExecMainStatus', 'keel.service'])).stdout;
  assert.match(keelState, /ActiveState=active/, `${keelState}\n${(await h.exec(['journalctl', '--no-pager', '-u', 'keel.service'])).stdout}`);
  assert.equal((await h.exec(['systemctl', 'is-active', 'kv.service'])).stdout.trim(), 'active');
  const got = await ok(h.exec(['etcdctl', `--endpoints=http://127.0.0.1:${PORT}`, 'get', 'boot', '--print-value-only']), 'get after reboot');
  assert.equal(got.trim(), 'kept');
  const journal = (await h.exec(['journalctl', '--no-pager', '-b', '-u', 'keel.service'])).stdout;
  assert.doesNotMatch(journal, /pulling/, 'keel boot went to the network for a cached image');
});
