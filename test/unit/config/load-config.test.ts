// keel.yaml loading and validation: the manifest validator's machinery
// (every problem, file:line:column, did-you-mean) over the CONFIG_DOCUMENT table.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG, loadConfig, validateConfig } from '../../../src/config/index.ts';
import { CONFIG_DOCUMENT } from '../../../src/config/keel-config.ts';
import type { FieldType } from '../../../src/manifest/field-types.ts';
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

  it('wrong types are errors naming the key path and file:line:column', async () => {
    await invalid('registries:\n  docker.io: { insecure: "yes" }\n', /c\d+\.yaml:2:26: registries\."docker\.io"\.insecure: expected true or false, found the string "yes"/);
    await invalid('registries:\n  docker.io: { insecure: yes }\n', /insecure: expected true or false, found the string "yes" \(YAML 1\.2: write true or false/);
    await invalid('registries:\n  docker.io: { mirrors: "m:5000" }\n', /registries\."docker\.io"\.mirrors: expected a list/);
    await invalid('registries:\n  docker.io: { mirrors: [5000] }\n', /registries\."docker\.io"\.mirrors\[0\]: expected a string/);
    await invalid('registries:\n  docker.io: { mirrors: ["https://m/x"] }\n', /mirrors\[0\]: "https:\/\/m\/x" is not a registry host\[:port\]/);
    await invalid('registries: []\n', /:1:13: registries: expected a mapping/);
    await invalid('authFile: 3\n', /authFile: expected a string/);
    await invalid('authFile: relative/auth.json\n', /authFile: "relative\/auth\.json" is not an absolute path/);
    await invalid('- a\n- b\n', /expected a mapping, found a list/);
    await invalid('registries:\n  "bad host!": {}\n', /"bad host!" is not a registry host/);
    await invalid('---\nauthFile: /a\n---\nauthFile: /b\n', /:4:1: a second YAML document/);
  });

  it('reports every problem of the file in one run, each with line:column and did-you-mean for a misspelt key', async () => {
    const text = ['registries:', '  docker.io:', '    insecure: yes', '    mirors: ["m.example:5000"]', 'authfile: /etc/keel/auth.json', ''].join('\n');
    await assert.rejects(load(text), (e: unknown) => {
      assert.ok(isKeelError(e, 'E_CONFIG_INVALID'), String(e));
      const problems = (e as KeelError).detail['problems'] as { line: number; column: number; path: string; message: string; hint?: string }[];
      assert.deepEqual(
        problems.map((p) => [p.line, p.column, p.path]),
        [[3, 15, 'registries."docker.io".insecure'], [4, 5, 'registries."docker.io".mirors'], [5, 1, 'authfile']],
      );
      assert.equal(problems[1]?.hint, 'did you mean mirrors?');
      assert.equal(problems[2]?.hint, 'did you mean authFile?');
      assert.match((e as KeelError).message, /^3 problems in the keel configuration:\n.*c\d+\.yaml:3:15: .*insecure: expected true or false.*\n.*:4:5: .*mirors: unknown key "mirors" \(did you mean mirrors\?\)\n.*:5:1: authfile: unknown key/);
      return true;
    });
  });

  it('YAML syntax errors and duplicate keys carry line:column', async () => {
    await invalid('registries:\n  docker.io: { mirrors: [\n', /c[0-9]+\.yaml:[0-9]+:[0-9]+: YAML: /);
    await invalid('authFile: /a\nauthFile: /b\n', /:2:1: duplicate key in a mapping/);
  });

  it('validateConfig checks an in-memory value with the same table, every problem named by key path', () => {
    assert.throws(
      () => validateConfig({ registries: { 'docker.io': { insecure: 'yes', mirors: [] } } }, 'test'),
      (e: unknown) => {
        assert.ok(isKeelError(e, 'E_CONFIG_INVALID'));
        assert.match(e.message, /^2 problems .*\ntest: registries\."docker\.io"\.insecure: expected true or false.*\ntest: registries\."docker\.io"\.mirors: unknown key "mirors" \(did you mean mirrors\?\)$/);
        return true;
      },
    );
  });

  it('docs/registries.md lists every key of keel.yaml', async () => {
    const doc = await readFile(new URL('../../../docs/registries.md', import.meta.url), 'utf8');
    const paths = (type: FieldType, base: string): string[] => {
      if (type.kind === 'object') return Object.entries(type.fields).flatMap(([k, f]) => [`${base}${k}`, ...paths(f.type, `${base}${k}.`)]);
      if (type.kind === 'map') return paths(type.values, `${base}<host[:port]>.`);
      return [];
    };
    const keys = paths(CONFIG_DOCUMENT, '');
    assert.ok(keys.length >= 4);
    for (const key of keys) assert.ok(doc.includes(`| \`${key}\` |`), `docs/registries.md has no row for ${key}`);
  });

  it('an unreadable path (a directory) is E_CONFIG_INVALID', async () => {
    await assert.rejects(loadConfig(dir), (e: unknown) => isKeelError(e, 'E_CONFIG_INVALID'));
  });
});
