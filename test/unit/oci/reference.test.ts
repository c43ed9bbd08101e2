import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { formatReference, isLoopbackRegistry, parseReference } from '../../../src/oci/reference.ts';

const HEX = 'a'.repeat(64);

test('Docker Hub short names are normalised', () => {
  assert.equal(formatReference(parseReference('etcd')), 'docker.io/library/etcd:latest');
  assert.equal(formatReference(parseReference('coreos/etcd:v3')), 'docker.io/coreos/etcd:v3');
  assert.equal(formatReference(parseReference('index.docker.io/library/busybox')), 'docker.io/library/busybox:latest');
  assert.equal(formatReference(parseReference('docker://etcd:3.5')), 'docker.io/library/etcd:3.5');
});

test('host, port, tag and digest', () => {
  const ref = parseReference(`127.0.0.1:5000/sys/etcd:v3.5@sha256:${HEX}`);
  assert.deepEqual({ ...ref }, { transport: 'registry', registry: '127.0.0.1:5000', repository: 'sys/etcd', tag: 'v3.5', digest: `sha256:${HEX}` });
  const pinned = parseReference(`quay.io/coreos/etcd@sha256:${HEX}`);
  assert.equal(pinned.transport === 'registry' && pinned.tag, undefined);
  assert.equal(formatReference(parseReference('localhost/etcd')), 'localhost/etcd:latest');
  assert.equal(formatReference(parseReference('localhost:5000/etcd')), 'localhost:5000/etcd:latest');
});

test('offline transports', () => {
  assert.deepEqual({ ...parseReference('oci:/srv/images:etcd') }, { transport: 'oci', path: '/srv/images', tag: 'etcd' });
  assert.deepEqual({ ...parseReference('oci:/srv/images') }, { transport: 'oci', path: '/srv/images', tag: undefined });
  assert.deepEqual({ ...parseReference('oci-archive:/m/e.tar:v1') }, { transport: 'oci-archive', path: '/m/e.tar', tag: 'v1' });
  assert.deepEqual({ ...parseReference('docker-archive:/m/e.tar') }, { transport: 'docker-archive', path: '/m/e.tar' });
});

for (const bad of ['', 'Etcd', 'etcd:bad tag', 'etcd@sha256:123', 'a//b', '../etc/passwd', 'etcd\n', 'host:99999999/x', 'UPPER/case', `etcd@md5:${HEX}`]) {
  test(`refuses ${JSON.stringify(bad)} with E_REFERENCE_INVALID`, () => {
    assert.throws(() => parseReference(bad), (err) => isKeelError(err, 'E_REFERENCE_INVALID'));
  });
}

test('loopback detection', () => {
  assert.ok(isLoopbackRegistry('127.0.0.1:5000'));
  assert.ok(isLoopbackRegistry('localhost'));
  assert.ok(isLoopbackRegistry('[::1]:5000'));
  assert.ok(!isLoopbackRegistry('127.example.com'));
  assert.ok(!isLoopbackRegistry('10.0.0.1:5000'));
});

test('store names of offline sources', async () => {
  const { storeName } = await import('../../../src/oci/reference.ts');
  assert.equal(storeName(parseReference('oci:/var/tmp/etcd-layout:3.4')), 'localhost/etcd-layout:3.4');
  assert.equal(storeName(parseReference('oci-archive:/usb/etcd.tar:quay.io/coreos/etcd:v3.5')), 'quay.io/coreos/etcd:v3.5');
  assert.equal(storeName(parseReference('docker-archive:/usb/Etcd Image.tar')), 'localhost/etcd-image:latest');
  assert.equal(storeName(parseReference('etcd')), 'docker.io/library/etcd:latest');
});
