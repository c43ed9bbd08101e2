import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { CODES, Exit, KeelError } from '../../src/errors.ts';
import { renderErrorsDoc } from '../../scripts/errors-doc.ts';

test('docs/errors.md documents every code (regenerate with npm run docs:errors)', async () => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  assert.equal(doc, renderErrorsDoc());
  for (const code of Object.keys(CODES)) assert.match(doc, new RegExp(`\`${code}\``));
});

test('every code maps to a sysexits status', () => {
  const statuses = new Set<number>(Object.values(Exit));
  for (const [code, info] of Object.entries(CODES)) {
    assert.ok(statuses.has(info.exit), `${code} has unknown exit ${info.exit}`);
    assert.match(code, /^E_[A-Z0-9_]+$/);
    assert.ok(info.summary.length > 10);
  }
});

test('KeelError keeps code, cause and frozen detail', () => {
  const cause = new Error('boom');
  const err = new KeelError('E_DIGEST_MISMATCH', 'bad', { cause, detail: { expected: 'a' } });
  assert.equal(err.code, 'E_DIGEST_MISMATCH');
  assert.equal(err.cause, cause);
  assert.ok(Object.isFrozen(err.detail));
});
