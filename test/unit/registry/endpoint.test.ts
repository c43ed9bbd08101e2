// The plain-HTTP decision, Docker Hub's API host and mirror order. No network.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CONFIG, validateConfig } from '../../../src/config/index.ts';
import { isKeelError } from '../../../src/errors.ts';
import { apiHost, assertPlainHttpAllowed, endpointsFor, isPlainHttpAllowed, registrySchemes } from '../../../src/registry/index.ts';

describe('plain HTTP decision', () => {
  it('a non-loopback host name not configured insecure is https only, and plain http is E_REGISTRY_INSECURE', () => {
    assert.deepEqual(registrySchemes('registry.example.com', DEFAULT_CONFIG), ['https']);
    assert.deepEqual(registrySchemes('10.0.0.5:5000', DEFAULT_CONFIG), ['https']);
    assert.equal(isPlainHttpAllowed('registry.example.com:5000', DEFAULT_CONFIG), false);
    assert.throws(() => assertPlainHttpAllowed('registry.example.com', DEFAULT_CONFIG), (e: unknown) => isKeelError(e, 'E_REGISTRY_INSECURE'));
    // a host that merely starts like loopback is not loopback
    assert.deepEqual(registrySchemes('127.0.0.1.example.com', DEFAULT_CONFIG), ['https']);
    assert.deepEqual(registrySchemes('localhost.example.com:5000', DEFAULT_CONFIG), ['https']);
  });

  it('loopback registries go straight to http', () => {
    for (const h of ['localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) assert.deepEqual(registrySchemes(h, DEFAULT_CONFIG), ['http'], h);
  });

  it('configured-insecure hosts try https first, then http', () => {
    const config = validateConfig({ registries: { '10.0.0.5:5000': { insecure: true } } });
    assert.deepEqual(registrySchemes('10.0.0.5:5000', config), ['https', 'http']);
    assert.doesNotThrow(() => assertPlainHttpAllowed('10.0.0.5:5000', config));
    // the setting is per host:port
    assert.deepEqual(registrySchemes('10.0.0.5:5001', config), ['https']);
  });
});

describe('endpoints', () => {
  it('docker.io is served by registry-1.docker.io', () => {
    assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(apiHost('quay.io'), 'quay.io');
  });

  it('mirrors come first in configured order, then the registry', () => {
    const config = validateConfig({ registries: { 'docker.io': { mirrors: ['m1.example:5000', 'localhost:5001'] } } });
    const eps = endpointsFor('docker.io', config);
    assert.deepEqual(eps.map((e) => [e.name, e.apiHost, e.mirror, e.schemes.join('+')]), [
      ['m1.example:5000', 'm1.example:5000', true, 'https'],
      ['localhost:5001', 'localhost:5001', true, 'http'],
      ['docker.io', 'registry-1.docker.io', false, 'https'],
    ]);
  });
});
