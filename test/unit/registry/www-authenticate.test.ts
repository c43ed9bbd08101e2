// WWW-Authenticate parsing and the retry arithmetic.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWwwAuthenticate, pickChallenge } from '../../../src/registry/index.ts';
import { backoffDelay, parseRetryAfter } from '../../../src/registry/retry.ts';
import { DEFAULT_RETRY } from '../../../src/registry/limits.ts';

describe('WWW-Authenticate', () => {
  it('parses a Docker Hub Bearer challenge', () => {
    const c = pickChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/etcd:pull"');
    assert.deepEqual(c, { scheme: 'bearer', realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/etcd:pull' });
  });

  it('parses Basic, unquoted and escaped values, and prefers Bearer when both are offered', () => {
    assert.deepEqual(pickChallenge('Basic realm="Registry Realm"'), { scheme: 'basic', realm: 'Registry Realm' });
    assert.equal(parseWwwAuthenticate('bearer realm=https://a/t, service="x\\"y"')[0]?.scheme, 'bearer');
    assert.equal((parseWwwAuthenticate('bearer realm=https://a/t, service="x\\"y"')[0] as { service?: string }).service, 'x"y');
    assert.equal(pickChallenge(['Basic realm="r"', 'Bearer realm="https://t"'])?.scheme, 'bearer');
    assert.equal(pickChallenge('Basic realm="r", Bearer realm="https://t",service="s"')?.scheme, 'bearer');
  });

  it('ignores unknown schemes and Bearer without a realm', () => {
    assert.equal(pickChallenge('Negotiate abc'), undefined);
    assert.equal(pickChallenge('Bearer service="x"'), undefined);
    assert.equal(pickChallenge(undefined), undefined);
  });
});

describe('retry arithmetic', () => {
  it('backoff grows exponentially, is jittered and capped', () => {
    const p = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(backoffDelay(p, 1, () => 0), 50);
    assert.equal(backoffDelay(p, 1, () => 1), 150);
    assert.equal(backoffDelay(p, 3, () => 1), 450);
    assert.equal(backoffDelay(p, 10, () => 1), 1050);
  });

  it('Retry-After: seconds or HTTP date, capped', () => {
    assert.equal(parseRetryAfter('2', DEFAULT_RETRY), 2000);
    assert.equal(parseRetryAfter('99999', DEFAULT_RETRY), DEFAULT_RETRY.maxRetryAfterMs);
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', DEFAULT_RETRY, now), 3000);
    assert.equal(parseRetryAfter('soon', DEFAULT_RETRY), undefined);
    assert.equal(parseRetryAfter(undefined, DEFAULT_RETRY), undefined);
  });
});
