// keel's own strict tar header and path parsing (tar-header.ts, entry-path.ts).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyWhiteout, normaliseEntryPath } from '../../../src/layer/entry-path.ts';
import { DEFAULT_LIMITS } from '../../../src/layer/limits.ts';
import { decodeHeader, decodeNumber, decodePax } from '../../../src/layer/tar-header.ts';
import { paxData, rawHeader } from './helpers.ts';

const code = (c: string) => (err: unknown) => (err as { code?: string }).code === c;

describe('tar header parsing', () => {
  test('numbers: octal with space/NUL padding, base-256, and refusals', () => {
    const b = Buffer.alloc(12);
    b.write('0000644 \0', 0, 'latin1');
    assert.equal(decodeNumber(b, 0, 8, 'mode'), 0o644);
    const big = Buffer.alloc(12);
    big[0] = 0x80;
    big.writeUIntBE(2 ** 40, 6, 6);
    assert.equal(decodeNumber(big, 0, 12, 'size'), 2 ** 40);
    const neg = Buffer.alloc(12, 0xff);
    assert.throws(() => decodeNumber(neg, 0, 12, 'size'), code('E_LAYER_MALFORMED'));
    assert.throws(() => decodeNumber(Buffer.from('0012\x0034 '), 0, 8, 'size'), code('E_LAYER_MALFORMED'));
    assert.throws(() => decodeNumber(Buffer.from('00000089'), 0, 8, 'size'), code('E_LAYER_MALFORMED'));
  });

  test('headers: types, trailing-slash directories, checksum', () => {
    assert.equal(decodeHeader(rawHeader({ name: 'a/', typeflag: '0' })).kind, 'directory');
    assert.equal(decodeHeader(rawHeader({ name: 'l', typeflag: '2', linkname: 't' })).linkname, 't');
    assert.throws(() => decodeHeader(rawHeader({ name: 'x', typeflag: 'S' })), code('E_LAYER_UNSUPPORTED'));
    const bad = rawHeader({ name: 'a' });
    bad[1] = 0x41;
    assert.throws(() => decodeHeader(bad), code('E_LAYER_MALFORMED'));
  });

  test('PAX records', () => {
    const records = decodePax(Buffer.concat([paxData({ path: 'ü/long', 'SCHILY.xattr.user.x': 'v' }), Buffer.alloc(10)]));
    assert.equal(records.get('path'), 'ü/long');
    assert.equal(records.get('SCHILY.xattr.user.x'), 'v');
    assert.throws(() => decodePax(Buffer.from('99 path=x\n')), code('E_LAYER_MALFORMED'));
    assert.throws(() => decodePax(Buffer.from('x path=x\n')), code('E_LAYER_MALFORMED'));
  });
});

describe('entry paths', () => {
  test('normalised as if the root were /', () => {
    assert.deepEqual(normaliseEntryPath('./usr//bin/./ls', DEFAULT_LIMITS), ['usr', 'bin', 'ls']);
    assert.deepEqual(normaliseEntryPath('/etc/passwd', DEFAULT_LIMITS), ['etc', 'passwd']);
    assert.deepEqual(normaliseEntryPath('a/b/../c', DEFAULT_LIMITS), ['a', 'c']);
    assert.deepEqual(normaliseEntryPath('./', DEFAULT_LIMITS), []);
    assert.throws(() => normaliseEntryPath('a/../../b', DEFAULT_LIMITS), code('E_LAYER_PATH'));
    assert.throws(() => normaliseEntryPath('/..', DEFAULT_LIMITS), code('E_LAYER_PATH'));
    assert.throws(() => normaliseEntryPath('a\0b', DEFAULT_LIMITS), code('E_LAYER_MALFORMED'));
  });

  test('whiteout names', () => {
    assert.deepEqual(classifyWhiteout('.wh.foo'), { kind: 'whiteout', target: 'foo' });
    assert.deepEqual(classifyWhiteout('.wh..wh..opq'), { kind: 'opaque' });
    assert.deepEqual(classifyWhiteout('foo.wh.'), { kind: 'none' });
    for (const bad of ['.wh.', '.wh..', '.wh...', '.wh..wh.x', '.wh..wh..opq2']) {
      assert.throws(() => classifyWhiteout(bad), code('E_LAYER_WHITEOUT'), bad);
    }
  });
});
