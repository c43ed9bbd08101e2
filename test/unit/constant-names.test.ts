// One name per fact: an exported constant's name is defined in one module
// only. (DEFAULT_CAPABILITIES once meant 11 capabilities in src/manifest/ and
// 3 in src/bundle/; they are CONTAINER_DEFAULT_CAPABILITIES and
// UNPACK_CAPABILITIES now.)

import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { UNPACK_CAPABILITIES } from '../../src/bundle/runtime-config.ts';
import { CONTAINER_DEFAULT_CAPABILITIES } from '../../src/manifest/index.ts';

const SRC = path.resolve(import.meta.dirname, '../../src');

test('no exported UPPER_CASE constant name is defined in two modules of src/', async () => {
  const where = new Map<string, string[]>();
  for (const entry of await readdir(SRC, { recursive: true })) {
    if (!entry.endsWith('.ts')) continue;
    const text = await readFile(path.join(SRC, entry), 'utf8');
    for (const m of text.matchAll(/^export const ([A-Z][A-Z0-9_]*)\b/gm)) {
      where.set(m[1] as string, [...(where.get(m[1] as string) ?? []), entry]);
    }
  }
  assert.ok(where.size > 20, `only ${where.size} constants found`);
  const twice = [...where].filter(([, files]) => files.length > 1).map(([name, files]) => `${name}: ${files.join(', ')}`);
  assert.deepEqual(twice, []);
});

test('a system container starts from the 11 capabilities of podman; keel unpack writes runc spec’s 3', () => {
  assert.equal(CONTAINER_DEFAULT_CAPABILITIES.length, 11);
  assert.deepEqual([...UNPACK_CAPABILITIES], ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
});
