// openRegistrySource: the ImageSource face over the registry client.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../../src/config/index.ts';
import { isKeelError } from '../../../src/errors.ts';
import { parseReference, type RegistryReference } from '../../../src/oci/reference.ts';
import { openRegistrySource } from '../../../src/transport/registry-source.ts';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.ts';
import { collect, REPO, startFakeRegistry, type FakeRegistry } from './fake-registry.ts';

let fake: FakeRegistry;
let proxy: FaultProxy;
let dir: string;
const FAST = { baseDelayMs: 5, maxDelayMs: 20 };

before(async () => {
  fake = await startFakeRegistry(64 * 1024);
  proxy = await startFaultProxy(fake.url);
  dir = await mkdtemp('/var/tmp/keel-regsource-');
});
after(async () => {
  await proxy.close();
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe('openRegistrySource', () => {
  it('getManifest() follows the tag, getManifest(d) the digest; openBlob streams verified bytes', async () => {
    const src = openRegistrySource(parseReference(`${proxy.host}/${REPO}:v1`) as RegistryReference, { config: DEFAULT_CONFIG, authFile: join(dir, 'none.json'), credentials: undefined, retry: FAST });
    try {
      assert.equal(src.name, `${proxy.host}/${REPO}:v1`);
      // --authfile that does not exist is an error, raised on first use
      await assert.rejects(src.getManifest(), (e: unknown) => isKeelError(e, 'E_AUTH_FILE'));
    } finally {
      await src.close();
    }
    await writeFile(join(dir, 'auth.json'), JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('u:p').toString('base64') } } }));
    const ok = openRegistrySource(parseReference(`${proxy.host}/${REPO}:v1`) as RegistryReference, { config: DEFAULT_CONFIG, authFile: join(dir, 'auth.json'), retry: FAST });
    try {
      const byTag = await ok.getManifest();
      assert.equal(byTag.digest, fake.manifestDigest);
      const byDigest = await ok.getManifest(fake.manifestDigest);
      assert.deepEqual(byDigest.bytes, byTag.bytes);
      const blob = await collect(await ok.openBlob(fake.layer));
      assert.ok(blob.equals(fake.layerBytes));
    } finally {
      await ok.close();
    }
  });

  it('a pinned reference fetches by its digest and refuses other bytes', async () => {
    const ref = parseReference(`${proxy.host}/${REPO}:v1@${fake.manifestDigest}`) as RegistryReference;
    const src = openRegistrySource(ref, { config: DEFAULT_CONFIG, credentials: undefined, authFile: join(dir, 'auth.json'), retry: FAST });
    try {
      proxy.log.length = 0;
      const m = await src.getManifest();
      assert.equal(m.digest, fake.manifestDigest);
      assert.ok(proxy.log.at(-1)?.path.endsWith(`/manifests/${fake.manifestDigest}`));
      proxy.faults.corrupt(/\/manifests\//, 1);
      await assert.rejects(src.getManifest(), (e: unknown) => isKeelError(e, 'E_DIGEST_MISMATCH'));
    } finally {
      proxy.faults.clear();
      await src.close();
    }
  });
});
