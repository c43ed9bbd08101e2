// The one errno → code mapping (src/errors.ts classifyErrno): disk full,
// read-only filesystem, permission and I/O errors get codes a user can tell
// apart, each with its exit status and a hint, whether the error is wrapped
// where it happened (fsError) or reaches the CLI unwrapped (asKeelError).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asKeelError, exitStatusFor } from '../../src/cli/exit.ts';
import { CODES, Exit, classifyErrno, fsError } from '../../src/errors.ts';

function sysError(code: string, path?: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: something failed${path === undefined ? '' : `, open '${path}'`}`);
  err.code = code;
  if (path !== undefined) err.path = path;
  return err;
}

const TABLE: readonly [errno: string, code: string, exit: number, hint: RegExp][] = [
  ['ENOSPC', 'E_DISK_FULL', Exit.IOERR, /^free space on the filesystem holding \/s\/f /],
  ['EDQUOT', 'E_DISK_FULL', Exit.IOERR, /raise the quota/],
  ['EROFS', 'E_READ_ONLY_FS', Exit.CANTCREAT, /\/s\/f is mounted read-only: remount it read-write/],
  ['EACCES', 'E_PERMISSION', Exit.NOPERM, /root/],
  ['EPERM', 'E_PERMISSION', Exit.NOPERM, /root/],
  ['EIO', 'E_STORE_IO', Exit.IOERR, /dmesg/],
];

test('classifyErrno gives each filesystem errno its own code and a hint', () => {
  for (const [errno, code, , hint] of TABLE) {
    const c = classifyErrno(errno, '/s/f');
    assert.equal(c?.code, code, errno);
    assert.match(c.hint, hint, errno);
  }
  assert.equal(classifyErrno('ENOENT'), undefined);
  assert.equal(classifyErrno(undefined), undefined);
});

test('disk full, read-only filesystem and permission are different codes', () => {
  const codes = new Set(['ENOSPC', 'EROFS', 'EACCES', 'EIO'].map((e) => classifyErrno(e)?.code));
  assert.equal(codes.size, 4);
});

test('fsError wraps with the mapped code, exit status, hint and errno; other errnos are E_STORE_IO', () => {
  for (const [errno, code, exit, hint] of TABLE) {
    const e = fsError('writing /s/f', sysError(errno, '/s/f'));
    assert.equal(e.code, code, errno);
    assert.equal(CODES[e.code].exit, exit, errno);
    assert.equal(exitStatusFor(e), exit, errno);
    assert.match(e.message, new RegExp(`^writing /s/f: ${errno}`));
    assert.match(e.hint ?? '', hint, errno);
    assert.deepEqual(e.detail, { errno, path: '/s/f' });
  }
  const other = fsError('reading x', sysError('ENOTDIR'));
  assert.equal(other.code, 'E_STORE_IO');
  assert.equal(exitStatusFor(other), Exit.IOERR);
});

test('the CLI maps an unwrapped errno with the same table (asKeelError)', () => {
  for (const [errno, code, exit] of TABLE) {
    const e = asKeelError(sysError(errno, '/s/f'));
    assert.equal(e.code, code, errno);
    assert.equal(exitStatusFor(e), exit, errno);
    assert.ok(e.hint !== undefined, errno);
  }
  // an errno with no class of its own escaping to the top is a bug
  assert.equal(asKeelError(sysError('ENOENT')).code, 'E_INTERNAL');
});
