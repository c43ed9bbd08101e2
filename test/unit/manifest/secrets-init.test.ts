// The manifest keys of issue 11: envFiles, credentials, init — problems with their positions, and
// the specs they build.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, doc, problems } from './helpers.ts';

const INVALID: readonly (readonly [string, string, string[]])[] = [
  ['a relative env file', doc('envFiles: [etc/a.env]\n'), ['3:12 envFiles[0]: "etc/a.env" is not an absolute, normalised path (no "..", "." or empty components, no trailing "/")']],
  ['an env file twice', doc('envFiles: [/a.env, /a.env]\n'), ['3:20 envFiles[1]: "/a.env" is listed twice']],
  ['envFiles not a list', doc('envFiles: /a.env\n'), ['3:11 envFiles: expected a list, found the string "/a.env"']],
  ['a credential with neither file', doc('credentials:\n  - name: token\n'), ['4:5 credentials[0]: a credential needs file or encryptedFile']],
  ['a credential with both files', doc('credentials:\n  - {name: token, file: /a, encryptedFile: /b}\n'), ['4:5 credentials[0]: a credential has file or encryptedFile, not both']],
  ['a credential without a name', doc('credentials:\n  - {file: /a}\n'), ['4:5 credentials[0].name: missing required key name']],
  ['two credentials of one name', doc('credentials:\n  - {name: t, file: /a}\n  - {name: t, file: /b}\n'), ['5:12 credentials[1].name: credential t is already defined by credentials[0]']],
  ['a credential name with a slash', doc('credentials:\n  - {name: a/b, file: /a}\n'), ['4:12 credentials[0].name: "a/b" is not letters, digits, _, . and -, not starting with . or -, at most 255 characters']],
  ['a credential name with a colon', doc('credentials:\n  - {name: "a:b", file: /a}\n'), ['4:12 credentials[0].name: "a:b" is not letters, digits, _, . and -, not starting with . or -, at most 255 characters']],
  ['a credential name ..', doc('credentials:\n  - {name: .., file: /a}\n'), ['4:12 credentials[0].name: ".." is not letters, digits, _, . and -, not starting with . or -, at most 255 characters']],
  ['a relative credential file', doc('credentials:\n  - {name: t, encryptedFile: t.cred}\n'), ['4:30 credentials[0].encryptedFile: "t.cred" is not an absolute, normalised path (no "..", "." or empty components, no trailing "/")']],
  ['an unknown credential key', doc('credentials:\n  - {name: t, file: /a, mode: "0400"}\n'), ['4:25 credentials[0].mode: unknown key "mode"']],
  ['init not a boolean', doc('init: yes\n'), ['3:7 init: expected true or false, found the string "yes"']],
];

for (const [name, text, want] of INVALID) {
  test(`invalid: ${name}`, () => assert.deepEqual(problems(text), want));
}

test('valid: defaults are none, and the spec carries paths only', () => {
  const plain = check(doc()).specs[0];
  assert.deepEqual([plain?.envFiles, plain?.credentials, plain?.init], [[], [], false]);
  const r = check(doc('envFiles: [/etc/keel/a.env, "/etc/keel/${HOSTNAME}.env"]\ninit: true\ncredentials:\n  - {name: peer-key, file: /etc/keel/creds/peer.key}\n  - {name: token, encryptedFile: /etc/keel/creds/token.cred}\n'));
  assert.deepEqual(r.problems, []);
  const s = r.specs[0];
  assert.deepEqual(s?.envFiles, ['/etc/keel/a.env', '/etc/keel/node1.env']);
  assert.equal(s?.init, true);
  assert.deepEqual(s?.credentials, [
    { name: 'peer-key', file: '/etc/keel/creds/peer.key', encrypted: false },
    { name: 'token', file: '/etc/keel/creds/token.cred', encrypted: true },
  ]);
  assert.ok(Object.isFrozen(s?.credentials[0]));
});
