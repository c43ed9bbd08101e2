// docs/manifest.md documents every key of the table, and formatProblem
// prints the compiler-style line editors understand.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { formatProblem, problemsError } from '../../../src/manifest/index.ts';
import { isKeelError } from '../../../src/errors.ts';
import { CONTAINER_DOCUMENT, BIND_MOUNT, TMPFS_MOUNT } from '../../../src/manifest/keys.ts';
import type { ObjectType } from '../../../src/manifest/field-types.ts';

function keyPaths(type: ObjectType, prefix = ''): string[] {
  return Object.entries(type.fields).flatMap(([k, f]) => [`${prefix}${k}`, ...(f.type.kind === 'object' ? keyPaths(f.type, `${prefix}${k}.`) : [])]);
}

test('docs/manifest.md has a section for every key', async () => {
  const md = await readFile(new URL('../../../docs/manifest.md', import.meta.url), 'utf8');
  const headings = new Set([...md.matchAll(/^#{2,4} `([^`]+)`/gm)].map((m) => m[1]));
  const keys = [...keyPaths(CONTAINER_DOCUMENT), ...keyPaths(BIND_MOUNT, 'mounts[].'), ...keyPaths(TMPFS_MOUNT, 'mounts[].')];
  const missing = keys.filter((k) => !headings.has(k) && !md.includes(`| \`${k.split('.').pop() ?? ''}\``));
  assert.deepEqual(missing, []);
});

test('formatProblem', () => {
  assert.equal(formatProblem({ file: 'etcd.yaml', line: 3, column: 7, path: 'mounts[1].source', message: 'bad', hint: 'fix it' }), 'etcd.yaml:3:7: mounts[1].source: bad (fix it)');
  assert.equal(formatProblem({ file: 'etcd.yaml', line: 1, column: 1, path: '', message: 'bad' }), 'etcd.yaml:1:1: bad');
  assert.equal(formatProblem({ file: 'big.yaml', line: 0, column: 0, path: '', message: 'too large', hint: undefined }), 'big.yaml: too large');
});

test('problemsError carries every problem under E_SPEC_INVALID', () => {
  const ps = Array.from({ length: 12 }, (_, i) => ({ file: 'a.yaml', line: i + 1, column: 1, path: 'name', message: 'bad' }));
  const err = problemsError(ps);
  assert.ok(isKeelError(err, 'E_SPEC_INVALID'));
  assert.match(err.message, /^12 problems in the manifests:\na\.yaml:1:1: name: bad\n/);
  assert.match(err.message, /… and 2 more$/);
  assert.equal((err.detail['problems'] as unknown[]).length, 12);
});
