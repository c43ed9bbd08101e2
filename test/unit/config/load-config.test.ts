// keel.yaml loading and validation.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG, loadConfig } from '../../../src/config/index.ts';
import { isKeelError, type KeelError } from '../../../src/errors.ts';

let dir: string;
let n = 0;
before(async () => {
  dir = await mkdtemp('/var/tmp/keel-config-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(text: string): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  const p = join(dir, `c${n++}.yaml`);
  await writeFile(p, text);
  return loadConfig(p);
}

async function invalid(text: string, pattern: RegExp): Promise<void> {
  await assert.rejects(load(text), (e: unknown) => {
    assert.ok(isKeelError(e, 'E_CONFIG_INVALID'), String(e));
    assert.match((e as KeelError).message, pattern);
    return true;
  });
}

describe('loadConfig', () => {
  it('an absent file gives the defaults', async () => {
    assert.equal(await loadConfig(join(dir, 'does-not-exist.yaml')), DEFAULT_CONFIG);
    assert.deepEqual(DEFAULT_CONFIG, { registries: {} });
  });

  it('an empty file gives the defaults', async () => {
    assert.deepEqual(await load(''), DEFAULT_CONFIG);
  });

  it('reads mirrors, insecure and authFile, filling defaults per registry', async () => {
    const c = await load(`
registries:
  docker.io: { mirrors: ["mirror.example:5000"], insecure: false }
  10.0.0.5:5000: { insecure: true }
  quay.io:
    mirrors:
      - localhost:5001
authFile: /etc/keel/auth.json
`);
    assert.deepEqual(c, {
      registries: {
        'docker.io': { mirrors: ['mirror.example:5000'], insecure: false },
        '10.0.0.5:5000': { mirrors: [], insecure: true },
        'quay.io': { mirrors: ['localhost:5001'], insecure: false },
      },
      authFile: '/etc/keel/auth.json',
    });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.registries) && Object.isFrozen(c.registries['docker.io']?.mirrors));
  });

  it('unknown keys are errors naming the key path', async () => {
    await invalid('registry: {}\n', /registry: unknown key/);
    await invalid('registries:\n  docker.io: { mirror: ["x"] }\n', /registries\."docker\.io"\.mirror: unknown key/);
  });

  it('wrong types are errors naming the key path', async () => {
    await invalid('registries:\n  docker.io: { insecure: "yes" }\n', /registries\."docker\.io"\.insecure: expected true or false, got a string/);
    await invalid('registries:\n  docker.io: { mirrors: "m:5000" }\n', /registries\."docker\.io"\.mirrors: expected a list/);
    await invalid('registries:\n  docker.io: { mirrors: [5000] }\n', /registries\."docker\.io"\.mirrors\[0\]: expected a string/);
    await invalid('registries:\n  docker.io: { mirrors: ["https://m/x"] }\n', /mirrors\[0\]: "https:\/\/m\/x" is not a host/);
    await invalid('registries: []\n', /registries: expected a mapping/);
    await invalid('authFile: 3\n', /authFile: expected a file path/);
    await invalid('authFile: relative/auth.json\n', /authFile: .* must be an absolute path/);
    await invalid('- a\n- b\n', /expected a mapping at the top level/);
    await invalid('registries:\n  "bad host!": {}\n', /is not a registry host/);
  });

  it('YAML syntax errors and duplicate keys carry line:column', async () => {
    await invalid('registries:\n  docker.io: { mirrors: [\n', /c[0-9]+\.yaml:[0-9]+:[0-9]+: not valid YAML/);
    await invalid('authFile: /a\nauthFile: /b\n', /:2:1: not valid YAML/);
  });

  it('an unreadable path (a directory) is E_CONFIG_INVALID', async () => {
    await assert.rejects(loadConfig(dir), (e: unknown) => isKeelError(e, 'E_CONFIG_INVALID'));
  });
});
