// ${VAR} substitution: defaults, --set overrides, builtins, escapes, and
// undefined or malformed references reported at their exact column.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKeelError } from '../../../src/errors.ts';
import { check, problems } from './helpers.ts';

const BASE = 'variables:\n  IMG: quay.io/coreos/etcd:v3.5.17\n  PORT: "2379"\nname: etcd\nimage: ${IMG}\n';

test('defaults from variables: are substituted', () => {
  const { specs, problems: p } = check(`${BASE}args: ["--port=\${PORT}", "\${PORT}\${PORT}"]\n`);
  assert.deepEqual(p, []);
  assert.equal(specs[0]?.image, 'quay.io/coreos/etcd:v3.5.17');
  assert.deepEqual(specs[0]?.args, ['--port=2379', '23792379']);
});

test('--set overrides a default and can define a variable with no default', () => {
  const { specs, problems: p } = check(`${BASE}env: {X: "\${EXTRA}"}\n`, { set: { IMG: 'registry.local/etcd:v3.6.0', EXTRA: 'yes' } });
  assert.deepEqual(p, []);
  assert.equal(specs[0]?.image, 'registry.local/etcd:v3.6.0');
  assert.deepEqual(specs[0]?.env, { X: 'yes' });
});

test('builtins HOSTNAME and MACHINE_ID, injectable; --set overrides them too', () => {
  const text = 'name: a\nimage: x\nargs: ["${HOSTNAME}", "${MACHINE_ID}"]\n';
  assert.deepEqual(check(text).specs[0]?.args, ['node1', '0123456789abcdef0123456789abcdef']);
  assert.deepEqual(check(text, { set: { HOSTNAME: 'other' } }).specs[0]?.args, ['other', '0123456789abcdef0123456789abcdef']);
});

test('an unavailable builtin is an error where it is used, not an empty string', () => {
  const r = check('name: a\nimage: x\nargs: ["id=${MACHINE_ID}"]\n', { builtins: { MACHINE_ID: undefined } });
  assert.deepEqual(r.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`), ['3:12 args[0]: builtin MACHINE_ID is not available']);
  assert.deepEqual(r.specs, []);
});

test('an undefined variable is an error at its exact column, with a hint', () => {
  const r = check('name: a\nimage: x\nargs:\n  - --data=/var/${DIR}/${NAME2}\n');
  assert.deepEqual(r.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`), [
    '4:17 args[0]: undefined variable ${DIR}',
    '4:24 args[0]: undefined variable ${NAME2}',
  ]);
  assert.equal(r.problems[0]?.hint, 'give it a default under variables: or pass --set DIR=VALUE');
  assert.deepEqual(r.specs, []);
});

test('an undefined variable close to a defined one gets a suggestion', () => {
  const r = check('variables: {ETCD_IMAGE: x}\nname: a\nimage: ${ETDC_IMAGE}\n');
  assert.equal(r.problems[0]?.hint, 'did you mean ETCD_IMAGE?; give it a default under variables: or pass --set ETDC_IMAGE=VALUE');
});

test('$${ is a literal ${, and a lone $ stays', () => {
  const { specs, problems: p } = check('name: a\nimage: x\nargs: ["$${HOME}", "cost: $5", "$$", "a$", "$${X}${HOSTNAME}"]\n');
  assert.deepEqual(p, []);
  assert.deepEqual(specs[0]?.args, ['${HOME}', 'cost: $5', '$$', 'a$', '${X}node1']);
});

test('malformed references', () => {
  assert.deepEqual(problems('name: a\nimage: x\nargs: ["${1X}", "x${A-B}", "${"]\n'), [
    '3:9 args[0]: invalid variable reference ${1X}',
    '3:19 args[1]: invalid variable reference ${A-B}',
    '3:29 args[2]: unterminated ${ (no closing })',
  ]);
});

test('variables are checked after substitution: a default that breaks a pattern is caught', () => {
  assert.deepEqual(problems('variables: {N: "Bad Name"}\nname: ${N}\nimage: x\n'), [
    '2:7 name: "Bad Name" is not lowercase letters, digits and -, starting with a letter, at most 63 characters',
  ]);
});

test('variable defaults are literal, must be strings, and cannot shadow builtins', () => {
  const r = check('variables:\n  A: "${B}"\n  HOSTNAME: h\n  N: 3\nname: a\nimage: x\nargs: ["${A}"]\n');
  assert.deepEqual(r.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`), [
    '3:13 variables.HOSTNAME: HOSTNAME is a builtin variable and cannot be given a default',
    '4:6 variables.N: expected a string, found the number 3',
  ]);
});

test('variables are per document', () => {
  const r = check('variables: {V: x}\nname: a\nimage: "${V}"\n---\nname: b\nimage: "${V}"\n');
  assert.deepEqual(r.problems.map((p) => `${p.line}:${p.column} ${p.message}`), ['6:9 undefined variable ${V}']);
  assert.deepEqual(r.specs.map((s) => s.name), ['a']);
});

test('a malformed --set name is a usage error', () => {
  assert.throws(() => check('name: a\nimage: x\n', { set: { 'A-B': 'x' } }), (err) => isKeelError(err, 'E_USAGE'));
});
