// Whatever apply refuses about a manifest's content, validate refuses too,
// from the same rule (manifest/constants.ts sensitiveSource): this walks every
// bind source the renderer's check (bundle/mount-sources.ts) refuses for
// keel's default root, and asserts the validator reports each of them — and
// that both accept the same ordinary sources. (Refusals that depend on the
// host — a missing source, a symlink into the store, a custom --root — are
// apply's alone: they are facts of the host, not of the manifest.)

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { checkBindSource } from '../../../src/bundle/index.ts';
import { isKeelError } from '../../../src/errors.ts';
import { DEFAULT_STORE_ROOT, SENSITIVE_SOURCES } from '../../../src/manifest/index.ts';
import { check, doc } from './helpers.ts';

const REFUSED = [
  ...SENSITIVE_SOURCES,
  '/proc/1', '/sys/fs/cgroup', '/run/dbus/system_bus_socket', '/var/run/dbus', '/var/lib/keel/blobs',
  // They contain the store: binding them would expose it.
  '/var', '/var/lib',
];
const ACCEPTED = ['/var/lib/etcd', '/srv/data', '/etc/kubernetes', '/var/lib/keelish', '/run/flannel'];

function manifestWith(source: string): string {
  return doc(`mounts:\n  - type: bind\n    source: ${source}\n    target: /data\n    create: true\n`);
}

test('every bind source apply refuses for its content, validate refuses too (with where and why)', async () => {
  for (const source of REFUSED) {
    const rendered = await checkBindSource({ type: 'bind', source, target: '/data', readOnly: true, propagation: 'rprivate', create: true, allowSensitive: false }, DEFAULT_STORE_ROOT)
      .then(() => 'accepted', (err: unknown) => (isKeelError(err, 'E_MOUNT_SOURCE') ? 'refused' : `threw ${String(err)}`));
    assert.equal(rendered, 'refused', `apply's check accepted ${source}`);
    const problems = check(manifestWith(source)).problems;
    assert.equal(problems.length, 1, `validate accepted ${source}`);
    assert.equal(problems[0]?.path, 'mounts[0].source');
    assert.match(problems[0]?.message ?? '', /a host path a container may not see by default/);
  }
});

test('allowSensitive: true lets both accept; ordinary sources pass both', async () => {
  for (const source of ['/var', '/var/lib/keel']) {
    assert.deepEqual(check(manifestWith(source).replace('create: true', 'create: true\n    allowSensitive: true')).problems, []);
  }
  for (const source of ACCEPTED) {
    assert.deepEqual(check(manifestWith(source)).problems, [], source);
    await checkBindSource({ type: 'bind', source, target: '/data', readOnly: true, propagation: 'rprivate', create: true, allowSensitive: false }, DEFAULT_STORE_ROOT);
  }
});
