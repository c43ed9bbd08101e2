// RegistryClient against a fake registry behind the fault proxy: retries,
// Retry-After, resume with and without Range support, digest checks, caps,
// Bearer auth, redirect credential hygiene, foreign URLs, mirrors, abort.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { DEFAULT_CONFIG, validateConfig } from '../../../src/config/index.ts';
import { isKeelError } from '../../../src/errors.ts';
import type { Digest } from '../../../src/oci/digest.ts';
import { credentialStore, RegistryClient, type RegistryClientOptions } from '../../../src/registry/index.ts';
import { readBounded } from '../../../src/registry/bounded-body.ts';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.ts';
import { collect, REPO, sha256, startFakeRegistry, type FakeRegistry } from './fake-registry.ts';

const FAST = { attempts: 5, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 3000 };

let fake: FakeRegistry;
let proxy: FaultProxy;
const clients: RegistryClient[] = [];

function client(extra: Partial<RegistryClientOptions> = {}): RegistryClient {
  const c = new RegistryClient({ config: DEFAULT_CONFIG, retry: FAST, ...extra });
  clients.push(c);
  return c;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error> {
  let caught: unknown;
  await p.then(
    () => assert.fail(`expected ${code}, got success`),
    (err: unknown) => {
      caught = err;
    },
  );
  assert.ok(isKeelError(caught), `expected a KeelError, got ${String(caught)}`);
  assert.equal((caught as { code: string }).code, code, (caught as Error).message);
  return caught as Error;
}

/** Reads a blob stream; resolves with its bytes, or rejects with the stream error and tells whether 'end' was seen. */
async function readStream(s: Readable): Promise<{ bytes?: Buffer; error?: unknown; ended: boolean }> {
  let ended = false;
  s.on('end', () => {
    ended = true;
  });
  try {
    return { bytes: await collect(s), ended };
  } catch (error) {
    return { error, ended };
  }
}

before(async () => {
  fake = await startFakeRegistry();
  proxy = await startFaultProxy(fake.url);
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await proxy.close();
  await fake.close();
});
beforeEach(() => {
  proxy.faults.clear();
  proxy.log.length = 0;
});

describe('manifests', () => {
  it('fetches by tag, checks Docker-Content-Digest, sends keel/<version> as User-Agent', async () => {
    const m = await client().getManifest(proxy.host, REPO, 'v1');
    assert.equal(m.digest, fake.manifestDigest);
    assert.deepEqual(m.bytes, fake.manifestBytes);
    assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.match(proxy.log[0]?.userAgent ?? '', /^keel\/[0-9]/);
  });

  it('fetches by digest', async () => {
    const m = await client().getManifest(proxy.host, REPO, fake.manifestDigest);
    assert.equal(m.digest, fake.manifestDigest);
  });

  it('retries 500s with backoff and then succeeds', async () => {
    proxy.faults.fail(/\/manifests\//, { times: 3 });
    const m = await client().getManifest(proxy.host, REPO, 'v1');
    assert.equal(m.digest, fake.manifestDigest);
    assert.deepEqual(proxy.log.map((r) => r.status), [500, 500, 500, 200]);
  });

  it('gives up with E_REGISTRY_UNAVAILABLE after the bounded attempts', async () => {
    proxy.faults.fail(/\/manifests\//, { times: Infinity, status: 503 });
    await rejectsWith(client().getManifest(proxy.host, REPO, 'v1'), 'E_REGISTRY_UNAVAILABLE');
    assert.equal(proxy.log.length, FAST.attempts);
  });

  it('honours 429 Retry-After', async () => {
    proxy.faults.tooManyRequests(/\/manifests\//, 1);
    const t0 = Date.now();
    await client().getManifest(proxy.host, REPO, 'v1');
    const waited = Date.now() - t0;
    assert.ok(waited >= 950, `waited only ${waited} ms`);
    assert.deepEqual(proxy.log.map((r) => r.status), [429, 200]);
  });

  it('404 is E_IMAGE_NOT_FOUND, without retries', async () => {
    await rejectsWith(client().getManifest(proxy.host, REPO, 'nope'), 'E_IMAGE_NOT_FOUND');
    assert.equal(proxy.log.length, 1);
  });

  it('other statuses are E_REGISTRY_PROTOCOL carrying the registry message', async () => {
    proxy.faults.fail(/\/manifests\//, { status: 400, body: '{"errors":[{"code":"TAG_INVALID","message":"manifest tag did not match URI"}]}' });
    const err = await rejectsWith(client().getManifest(proxy.host, REPO, 'v1'), 'E_REGISTRY_PROTOCOL');
    assert.match(err.message, /manifest tag did not match URI/);
  });

  it('refuses a manifest whose Docker-Content-Digest does not match its bytes', async () => {
    proxy.faults.header(/\/manifests\/v1$/, 'docker-content-digest', sha256('something else'));
    await rejectsWith(client().getManifest(proxy.host, REPO, 'v1'), 'E_DIGEST_MISMATCH');
  });

  it('ignores an invalid Docker-Content-Digest header but still returns the computed digest', async () => {
    proxy.faults.header(/\/manifests\/v1$/, 'docker-content-digest', 'md5:nonsense');
    const m = await client().getManifest(proxy.host, REPO, 'v1');
    assert.equal(m.digest, fake.manifestDigest);
  });

  it('refuses a manifest fetched by digest whose bytes do not hash to it', async () => {
    proxy.faults.corrupt(/\/manifests\/sha256:/);
    await rejectsWith(client().getManifest(proxy.host, REPO, fake.manifestDigest), 'E_DIGEST_MISMATCH');
  });

  it('refuses a manifest over 4 MiB', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
    fake.manifests.set('huge', { bytes: big, contentType: 'application/vnd.oci.image.manifest.v1+json' });
    try {
      await rejectsWith(client().getManifest(proxy.host, REPO, 'huge'), 'E_BODY_TOO_LARGE');
    } finally {
      fake.manifests.delete('huge');
    }
  });

  it('the bounded reader stops a body without Content-Length at the cap', async () => {
    const body = Readable.from((function* () {
      for (let i = 0; i < 10; i++) yield Buffer.alloc(1000);
    })());
    await rejectsWith(readBounded(body, 4096, 'test body'), 'E_BODY_TOO_LARGE');
    assert.equal((await readBounded(Readable.from([Buffer.alloc(10)]), 4096, 'small')).byteLength, 10);
  });

  it('an unreachable registry is E_REGISTRY_UNREACHABLE after retries', async () => {
    await rejectsWith(client().getManifest('127.0.0.1:1', REPO, 'v1'), 'E_REGISTRY_UNREACHABLE');
  });
});

describe('blobs', () => {
  it('streams a blob verified, reporting progress', async () => {
    let progress = 0;
    const s = await client().openBlob(proxy.host, REPO, fake.layer, { onProgress: (n) => (progress += n) });
    const r = await readStream(s);
    assert.ok(r.bytes?.equals(fake.layerBytes));
    assert.equal(progress, fake.layer.size);
  });

  it('resumes a body cut short with Range: bytes=N-', async () => {
    proxy.faults.truncate(/\/blobs\//, 100_000);
    const r = await readStream(await client().openBlob(proxy.host, REPO, fake.layer));
    assert.ok(r.bytes?.equals(fake.layerBytes), String(r.error));
    const blobReqs = proxy.log.filter((x) => x.path.includes('/blobs/'));
    assert.equal(blobReqs.length, 2);
    assert.equal(blobReqs[1]?.range, 'bytes=100000-');
    assert.equal(blobReqs[1]?.status, 206);
  });

  it('resumes against a server that ignores Range (200: skips what it already has)', async () => {
    proxy.faults.truncate(/\/blobs\//, 70_000, 2).ignoreRange(/\/blobs\//);
    const r = await readStream(await client().openBlob(proxy.host, REPO, fake.layer));
    assert.ok(r.bytes?.equals(fake.layerBytes), String(r.error));
    const statuses = proxy.log.filter((x) => x.path.includes('/blobs/')).map((x) => x.status);
    assert.deepEqual(statuses, [200, 200, 200]);
  });

  it('gives up after bounded resumes with E_REGISTRY_UNAVAILABLE on the stream', async () => {
    proxy.faults.truncate(/\/blobs\//, 1000, Infinity);
    const r = await readStream(await client({ maxResumes: 3 }).openBlob(proxy.host, REPO, fake.layer));
    assert.ok(isKeelError(r.error, 'E_REGISTRY_UNAVAILABLE'), String(r.error));
    assert.equal(r.ended, false);
    assert.equal(proxy.log.length, 4);
  });

  it('wrong bytes: the stream errors with E_DIGEST_MISMATCH and never ends cleanly', async () => {
    proxy.faults.corrupt(/\/blobs\//);
    const r = await readStream(await client().openBlob(proxy.host, REPO, fake.layer));
    assert.ok(isKeelError(r.error, 'E_DIGEST_MISMATCH'), String(r.error));
    assert.equal(r.ended, false);
    assert.equal(r.bytes, undefined);
  });

  it('a Content-Length that contradicts the descriptor is E_SIZE_MISMATCH before streaming', async () => {
    await rejectsWith(client().openBlob(proxy.host, REPO, { ...fake.layer, size: fake.layer.size + 1 }), 'E_SIZE_MISMATCH');
  });

  it('a body that goes idle past the timeout is resumed', async () => {
    // undici's body timer has ~0.5 s resolution: a 300 ms idle limit fires within ~1.5 s of silence
    proxy.faults.slow(/\/blobs\//, 3000, 64 * 1024, 1);
    const t0 = Date.now();
    const r = await readStream(await client({ timeouts: { bodyIdleMs: 300 } }).openBlob(proxy.host, REPO, fake.layer));
    assert.ok(Date.now() - t0 < 5800, 'the idle body was not abandoned early');
    assert.ok(r.bytes?.equals(fake.layerBytes), String(r.error));
    assert.ok(proxy.log.some((x) => x.range !== undefined), 'expected a Range request');
  });

  it('an AbortSignal cancels a blob mid-body with E_INTERRUPTED', async () => {
    proxy.faults.slow(/\/blobs\//, 100, 8 * 1024);
    const ac = new AbortController();
    const s = await client().openBlob(proxy.host, REPO, fake.layer, { signal: ac.signal });
    setTimeout(() => ac.abort(), 250);
    const r = await readStream(s);
    assert.ok(isKeelError(r.error, 'E_INTERRUPTED'), String(r.error));
  });

  it('a missing blob is E_IMAGE_NOT_FOUND', async () => {
    const digest = sha256('absent') as Digest;
    await rejectsWith(client().openBlob(proxy.host, REPO, { mediaType: 'application/octet-stream', digest, size: 6 }), 'E_IMAGE_NOT_FOUND');
  });
});

describe('auth and redirects', () => {
  it('answers a Bearer challenge anonymously and caches the token per scope', async () => {
    proxy.faults.requireAuth();
    const c = client();
    await c.getManifest(proxy.host, REPO, 'v1');
    await c.getManifest(proxy.host, REPO, fake.manifestDigest);
    const tokens = proxy.log.filter((r) => r.listener === 'token');
    assert.equal(tokens.length, 1, 'the token was fetched once');
    assert.equal(tokens[0]?.authorization, undefined, 'anonymous token request');
    assert.match(tokens[0]?.path ?? '', /scope=repository%3Akeel%2Ftest%3Apull/);
    assert.deepEqual(proxy.log.filter((r) => r.listener === 'proxy').map((r) => r.status), [401, 200, 200]);
  });

  it('sends Basic credentials from the auth file to the token endpoint (access_token form)', async () => {
    proxy.faults.requireAuth({ username: 'alice', password: 's3cret', accessTokenField: true });
    const credentials = credentialStore([{ file: 'mem', entries: new Map([[proxy.host, { username: 'alice', password: 's3cret' }]]) }]);
    const m = await client({ credentials }).getManifest(proxy.host, REPO, 'v1');
    assert.equal(m.digest, fake.manifestDigest);
    const token = proxy.log.find((r) => r.listener === 'token');
    assert.equal(token?.authorization, `Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
  });

  it('wrong credentials are E_REGISTRY_DENIED', async () => {
    proxy.faults.requireAuth({ username: 'alice', password: 's3cret' });
    const credentials = credentialStore([{ file: 'mem', entries: new Map([[proxy.host, { username: 'alice', password: 'wrong' }]]) }]);
    await rejectsWith(client({ credentials }).getManifest(proxy.host, REPO, 'v1'), 'E_REGISTRY_DENIED');
  });

  it('a 401 after authenticating is E_REGISTRY_DENIED', async () => {
    proxy.faults.requireAuth();
    // The token endpoint issues tokens, but the registry forgets them at once.
    const realAdd = proxy.faults.issuedTokens.add.bind(proxy.faults.issuedTokens);
    proxy.faults.issuedTokens.add = (t: string) => proxy.faults.issuedTokens;
    try {
      await rejectsWith(client().getManifest(proxy.host, REPO, 'v1'), 'E_REGISTRY_DENIED');
    } finally {
      proxy.faults.issuedTokens.add = realAdd;
    }
  });

  it('follows a blob redirect to a CDN without sending it the Authorization header', async () => {
    proxy.faults.requireAuth().redirectToCdn(/\/blobs\//);
    const r = await readStream(await client().openBlob(proxy.host, REPO, fake.layer));
    assert.ok(r.bytes?.equals(fake.layerBytes), String(r.error));
    const blobAtRegistry = proxy.log.filter((x) => x.listener === 'proxy' && x.path.includes('/blobs/') && x.status === 307);
    assert.equal(blobAtRegistry.length, 1);
    assert.match(blobAtRegistry[0]?.authorization ?? '', /^Bearer /);
    const atCdn = proxy.log.filter((x) => x.listener === 'cdn');
    assert.equal(atCdn.length, 1);
    assert.equal(atCdn[0]?.authorization, undefined, 'Authorization leaked to the CDN');
  });

  it('resumes a redirected blob cut short at the CDN too', async () => {
    proxy.faults.requireAuth().redirectToCdn(/\/blobs\//).truncate(/\/blobs\//, 50_000);
    const r = await readStream(await client().openBlob(proxy.host, REPO, fake.layer));
    assert.ok(r.bytes?.equals(fake.layerBytes), String(r.error));
    const atCdn = proxy.log.filter((x) => x.listener === 'cdn');
    assert.deepEqual(atCdn.map((x) => [x.status, x.range, x.authorization]), [
      [200, undefined, undefined],
      [206, 'bytes=50000-', undefined],
    ]);
  });

  it('fetches foreign layer URLs without credentials and skips the registry', async () => {
    proxy.faults.requireAuth();
    const layer = { ...fake.layer, urls: [`${proxy.cdnUrl}/cdn/v2/${REPO}/blobs/${fake.layer.digest}`] };
    const r = await readStream(await client().openBlob(proxy.host, REPO, layer));
    assert.ok(r.bytes?.equals(fake.layerBytes));
    assert.equal(proxy.log.filter((x) => x.listener === 'proxy').length, 0);
    assert.equal(proxy.log.find((x) => x.listener === 'cdn')?.authorization, undefined);
  });

  it('falls back to the registry when foreign URLs fail or are not http(s)', async () => {
    const layer = { ...fake.layer, urls: ['ftp://example.invalid/x', `${proxy.cdnUrl}/cdn/v2/${REPO}/blobs/${sha256('nothing here')}`] };
    const r = await readStream(await client().openBlob(proxy.host, REPO, layer));
    assert.ok(r.bytes?.equals(fake.layerBytes));
    assert.deepEqual(proxy.log.map((x) => `${x.listener} ${x.status}`), ['cdn 404', 'proxy 200']);
  });
});

describe('mirrors', () => {
  it('tries each mirror in order and falls through to the registry', async () => {
    const broken = await startFaultProxy(fake.url);
    try {
      broken.faults.fail(/./, { times: Infinity, status: 500 });
      const config = validateConfig({ registries: { [proxy.host]: { mirrors: ['127.0.0.1:1', broken.host] } } });
      const m = await client({ config, retry: { ...FAST, attempts: 2 } }).getManifest(proxy.host, REPO, 'v1');
      assert.equal(m.digest, fake.manifestDigest);
      assert.equal(broken.log.length, 2, 'the second mirror was tried (twice)');
      assert.equal(proxy.log.length, 1, 'then the registry');
    } finally {
      await broken.close();
    }
  });

  it('uses a working mirror and does not touch the registry', async () => {
    const mirror = await startFaultProxy(fake.url);
    try {
      const config = validateConfig({ registries: { 'registry.example.invalid': { mirrors: [mirror.host] } } });
      const c = client({ config });
      const m = await c.getManifest('registry.example.invalid', REPO, 'v1');
      assert.equal(m.digest, fake.manifestDigest);
      const r = await readStream(await c.openBlob('registry.example.invalid', REPO, fake.config));
      assert.equal(r.bytes?.byteLength, fake.config.size);
      assert.equal(mirror.log.length, 2);
    } finally {
      await mirror.close();
    }
  });

  it('a mirror serving the wrong manifest for a digest falls through', async () => {
    const evil = await startFaultProxy(fake.url);
    try {
      evil.faults.corrupt(/\/manifests\//);
      const config = validateConfig({ registries: { [proxy.host]: { mirrors: [evil.host] } } });
      const m = await client({ config }).getManifest(proxy.host, REPO, fake.manifestDigest);
      assert.equal(m.digest, fake.manifestDigest);
      assert.equal(evil.log.length, 1);
    } finally {
      await evil.close();
    }
  });
});

describe('plain HTTP for insecure registries', () => {
  // A dispatcher whose connector sends every host name to the fault proxy on
  // loopback, so a non-loopback name can be exercised without DNS or network.
  async function redirectedAgent(): Promise<import('undici').Agent> {
    const { Agent, buildConnector } = await import('undici');
    const real = buildConnector({ timeout: 2000 });
    const port = proxy.host.split(':')[1] as string;
    return new Agent({
      connect: (opts, cb) => real({ ...opts, hostname: '127.0.0.1', host: `127.0.0.1:${port}`, port, servername: 'registry.example.test' }, cb),
    });
  }

  it('a registry answering TLS with plain HTTP is E_REGISTRY_INSECURE unless configured insecure', async () => {
    const dispatcher = await redirectedAgent();
    try {
      await rejectsWith(client({ dispatcher }).getManifest('registry.example.test:5000', REPO, 'v1'), 'E_REGISTRY_INSECURE');
      assert.equal(proxy.log.length, 0, 'nothing was sent in plain text');
      const config = validateConfig({ registries: { 'registry.example.test:5000': { insecure: true } } });
      const m = await client({ dispatcher, config }).getManifest('registry.example.test:5000', REPO, 'v1');
      assert.equal(m.digest, fake.manifestDigest);
      assert.equal(proxy.log.length, 1);
    } finally {
      await dispatcher.close();
    }
  });
});
