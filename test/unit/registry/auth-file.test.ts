// Auth file parsing, key normalisation and the search order.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { defaultAuthFiles, loadCredentials, normalizeAuthKey, parseAuthFile } from '../../../src/registry/index.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

let dir: string;
before(async () => {
  dir = await mkdtemp('/var/tmp/keel-authfile-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseAuthFile', () => {
  it('decodes auths[host].auth as base64 user:password (password may contain colons)', () => {
    const m = parseAuthFile(JSON.stringify({ auths: { 'quay.io': { auth: b64('bob:pa:ss') } } }), 'f');
    assert.deepEqual(m.get('quay.io'), { username: 'bob', password: 'pa:ss' });
  });

  it('maps the Docker Hub keys docker login writes to docker.io', () => {
    const m = parseAuthFile(JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('u:p') } } }), 'f');
    assert.deepEqual(m.get('docker.io'), { username: 'u', password: 'p' });
    assert.equal(normalizeAuthKey('registry-1.docker.io'), 'docker.io');
    assert.equal(normalizeAuthKey('https://Quay.IO/v2/'), 'quay.io');
    assert.equal(normalizeAuthKey('quay.io/org/repo'), 'quay.io/org/repo');
  });

  it('ignores entries without credentials (credHelpers-only files) but rejects malformed ones', () => {
    assert.equal(parseAuthFile(JSON.stringify({ credHelpers: { 'gcr.io': 'gcloud' }, auths: { 'gcr.io': {} } }), 'f').size, 0);
    for (const bad of ['not json', '[]', '{"auths": 5}', JSON.stringify({ auths: { h: { auth: b64('nocolon') } } }), JSON.stringify({ auths: { h: { auth: '!!!' } } })]) {
      assert.throws(() => parseAuthFile(bad, '/x/auth.json'), (e: unknown) => isKeelError(e, 'E_AUTH_FILE') && /\/x\/auth\.json/.test((e as Error).message), bad);
    }
  });

  it('never puts the password into the error message', () => {
    assert.throws(
      () => parseAuthFile(JSON.stringify({ auths: { h: { auth: b64('hunter2-no-colon') } } }), 'f'),
      (e: unknown) => isKeelError(e, 'E_AUTH_FILE') && !(e as Error).message.includes('hunter2'),
    );
  });
});

describe('loadCredentials search order', () => {
  it('lists $REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, ~/.config/containers, ~/.docker in that order', () => {
    assert.deepEqual(defaultAuthFiles({ REGISTRY_AUTH_FILE: '/a.json', XDG_RUNTIME_DIR: '/run/user/0' }, '/root', 0), [
      '/a.json',
      '/run/user/0/containers/auth.json',
      '/root/.config/containers/auth.json',
      '/root/.docker/config.json',
    ]);
    assert.equal(defaultAuthFiles({}, '/root', 0)[0], '/run/containers/0/auth.json');
  });

  it('first file with an entry wins; later files fill in other registries; namespaces beat hosts', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.config', 'containers'), { recursive: true });
    await mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(join(home, '.config', 'containers', 'auth.json'), JSON.stringify({ auths: { 'quay.io': { auth: b64('podman:1') }, 'quay.io/team': { auth: b64('team:2') } } }));
    await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'quay.io': { auth: b64('docker:3') }, 'https://index.docker.io/v1/': { auth: b64('hub:4') } } }));
    const store = await loadCredentials({ env: { XDG_RUNTIME_DIR: join(dir, 'nonexistent') }, home });
    assert.equal(store.files.length, 2);
    assert.equal(store.lookup('quay.io', 'other/app')?.username, 'podman');
    assert.equal(store.lookup('quay.io', 'team/app')?.username, 'team');
    assert.equal(store.lookup('docker.io', 'library/etcd')?.username, 'hub');
    assert.equal(store.lookup('ghcr.io'), undefined);
  });

  it('--authfile is the only file read and must exist; it beats the configured one', async () => {
    const explicit = join(dir, 'explicit.json');
    await writeFile(explicit, JSON.stringify({ auths: { 'quay.io': { auth: b64('explicit:1') } } }));
    const store = await loadCredentials({ explicit, configured: join(dir, 'missing.json'), home: join(dir, 'home') });
    assert.deepEqual(store.files, [explicit]);
    assert.equal(store.lookup('quay.io')?.username, 'explicit');
    await assert.rejects(loadCredentials({ explicit: join(dir, 'missing.json') }), (e: unknown) => isKeelError(e, 'E_AUTH_FILE'));
    await assert.rejects(loadCredentials({ configured: join(dir, 'missing.json') }), (e: unknown) => isKeelError(e, 'E_AUTH_FILE'));
  });
});
