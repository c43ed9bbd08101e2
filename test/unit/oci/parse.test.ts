import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { MediaType } from '../../../src/oci/media-types.ts';
import { parseImageConfig, parseManifestDocument } from '../../../src/oci/parse.ts';
import { hostPlatform, parsePlatform, platformMatches } from '../../../src/oci/platform.ts';

const D = (c: string): string => `sha256:${c.repeat(64)}`;
const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

const manifest = {
  schemaVersion: 2,
  mediaType: MediaType.OCI_MANIFEST,
  config: { mediaType: MediaType.OCI_CONFIG, digest: D('a'), size: 10 },
  layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: D('b'), size: 20 }],
};

test('parses an OCI manifest', () => {
  const m = parseManifestDocument(bytes(manifest), MediaType.OCI_MANIFEST);
  assert.equal(m.kind, 'manifest');
  assert.ok(Object.isFrozen(m));
});

test('parses a Docker manifest list as an index and tells kinds apart without mediaType', () => {
  const list = { schemaVersion: 2, mediaType: MediaType.DOCKER_MANIFEST_LIST, manifests: [{ mediaType: MediaType.DOCKER_MANIFEST, digest: D('c'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }] };
  assert.equal(parseManifestDocument(bytes(list)).kind, 'index');
  const { mediaType: _m, ...bare } = manifest;
  assert.equal(parseManifestDocument(bytes(bare)).kind, 'manifest');
});

test('refuses schema 1, contradicting types, bad digests, negative sizes', () => {
  assert.throws(() => parseManifestDocument(bytes({ schemaVersion: 1, fsLayers: [] })), (e) => isKeelError(e, 'E_MANIFEST_UNSUPPORTED'));
  assert.throws(() => parseManifestDocument(bytes(manifest), MediaType.DOCKER_MANIFEST_LIST), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
  const badDigest = { ...manifest, layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: 'sha256:../../etc', size: 1 }] };
  assert.throws(() => parseManifestDocument(bytes(badDigest)), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
  const badSize = { ...manifest, layers: [{ mediaType: MediaType.OCI_LAYER_GZIP, digest: D('b'), size: -1 }] };
  assert.throws(() => parseManifestDocument(bytes(badSize)), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
  assert.throws(() => parseManifestDocument(Buffer.from('{nope')), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
});

test('image config: diff_ids validated, fields typed', () => {
  const c = parseImageConfig(bytes({ architecture: 'amd64', os: 'linux', config: { Entrypoint: ['/bin/etcd'], Env: ['A=1'], User: '1000' }, rootfs: { type: 'layers', diff_ids: [D('d')] } }));
  assert.deepEqual(c.config.Entrypoint, ['/bin/etcd']);
  assert.throws(() => parseImageConfig(bytes({ rootfs: { type: 'layers', diff_ids: ['x'] } })), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
  assert.throws(() => parseImageConfig(bytes({ config: { Env: 'A=1' }, rootfs: { type: 'layers', diff_ids: [] } })), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
});

test('image config: a hostile WorkingDir becomes an absolute, normalised path inside the container', () => {
  const wd = (WorkingDir: unknown): string | undefined =>
    parseImageConfig(bytes({ rootfs: { type: 'layers', diff_ids: [] }, config: { WorkingDir } })).config.WorkingDir;
  assert.equal(wd('../../..'), '/');
  assert.equal(wd('srv/../../etc/'), '/etc');
  assert.equal(wd('/var//lib/./x/'), '/var/lib/x');
  assert.equal(wd(''), '');
  assert.equal(wd(undefined), undefined);
  assert.throws(() => wd('/a\0b'), (e) => isKeelError(e, 'E_MANIFEST_INVALID') && /WorkingDir .* contains a NUL byte/.test(e.message));
});

test('image config: Env entries with a NUL byte or without NAME= are refused (regression: NUL reached runc, unit left restarting)', () => {
  const config = (c: unknown): unknown => parseImageConfig(bytes({ rootfs: { type: 'layers', diff_ids: [] }, config: c }));
  assert.throws(() => config({ Env: ['PATH=/bin', 'A=x\0y'] }), (e) => isKeelError(e, 'E_MANIFEST_INVALID') && /Env\[1\] .* contains a NUL byte/.test(e.message));
  assert.throws(() => config({ Env: ['JUSTANAME'] }), (e) => isKeelError(e, 'E_MANIFEST_INVALID') && /Env\[0\] "JUSTANAME" is not NAME=VALUE/.test(e.message));
  assert.throws(() => config({ Env: ['=value'] }), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
  assert.throws(() => config({ Cmd: ['/bin/sh', '-c', 'a\0b'] }), (e) => isKeelError(e, 'E_MANIFEST_INVALID') && /Cmd\[2\]/.test(e.message));
  assert.throws(() => config({ Entrypoint: ['\0'] }), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
  assert.throws(() => config({ User: 'root\0' }), (e) => isKeelError(e, 'E_MANIFEST_INVALID'));
  assert.doesNotThrow(() => config({ Env: ['A=', 'B==c', 'PATH=/usr/bin'] }));
});

test('platforms', () => {
  assert.equal(hostPlatform().os, 'linux');
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.throws(() => parsePlatform('linux'), (e) => isKeelError(e, 'E_USAGE'));
  assert.ok(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }));
  assert.ok(!platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' }));
  assert.ok(!platformMatches(undefined, hostPlatform()));
});
