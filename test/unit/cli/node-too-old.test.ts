// "Node too old" has its own code (E_NODE_TOO_OLD, exit 69 EX_UNAVAILABLE),
// not E_USAGE (64): the command line is fine, the runtime is not.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exitStatusFor, formatError } from '../../../src/cli/exit.ts';
import { MIN_NODE_MAJOR, nodeTooOld } from '../../../src/cli/main.ts';
import { CODES, Exit } from '../../../src/errors.ts';

test('Node.js older than 24 is E_NODE_TOO_OLD, exit 69, with a hint naming the launchers', () => {
  const err = nodeTooOld('20.20.2');
  assert.ok(err !== undefined);
  assert.equal(err.code, 'E_NODE_TOO_OLD');
  assert.equal(exitStatusFor(err), Exit.UNAVAILABLE);
  assert.notEqual(exitStatusFor(err), CODES.E_USAGE.exit);
  assert.equal(
    formatError(err, false),
    'keel: error: Node.js 20.20.2 is too old; keel needs Node.js 24 or newer [E_NODE_TOO_OLD]\n' +
      'keel: hint: run keel as /usr/bin/keel (installed) or bin/keel (checkout): each runs the Node.js 24 keel ships\n',
  );
});

test('Node.js 24 and newer pass', () => {
  assert.equal(MIN_NODE_MAJOR, 24);
  for (const v of ['24.0.0', '24.11.1', '25.1.0', process.versions.node]) assert.equal(nodeTooOld(v), undefined, v);
  assert.ok(nodeTooOld('23.9.0'));
  assert.ok(nodeTooOld('garbage'));
});
