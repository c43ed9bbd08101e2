import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { digestOf, parseDigest } from '../../../src/oci/digest.ts';
import { VerifyStream } from '../../../src/oci/verify.ts';

test('parseDigest accepts only well-formed sha256/sha512', () => {
  assert.equal(parseDigest(`sha256:${'0'.repeat(64)}`), `sha256:${'0'.repeat(64)}`);
  for (const bad of [`sha256:${'0'.repeat(63)}`, `sha256:${'A'.repeat(64)}`, `sha256:../${'0'.repeat(61)}`, 'sha256', `md5:${'0'.repeat(32)}`, 42, `sha256:${'0'.repeat(64)}\n`]) {
    assert.throws(() => parseDigest(bad), (err) => isKeelError(err, 'E_DIGEST_INVALID'), String(bad));
  }
});

const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

test('VerifyStream passes matching content', async () => {
  const data = Buffer.from('hello world');
  const verify = new VerifyStream({ digest: digestOf(data), size: data.length });
  await pipeline(Readable.from([data.subarray(0, 3), data.subarray(3)]), verify, sink());
  assert.equal(verify.bytes, data.length);
});

test('VerifyStream refuses wrong bytes with E_DIGEST_MISMATCH', async () => {
  const verify = new VerifyStream({ digest: digestOf('hello'), size: 5 });
  await assert.rejects(pipeline(Readable.from([Buffer.from('hellO')]), verify, sink()), (err) => isKeelError(err, 'E_DIGEST_MISMATCH'));
});

test('VerifyStream stops at the first byte past the size', async () => {
  let pushed = 0;
  const source = new Readable({ read() { pushed++; this.push(Buffer.alloc(1024)); } });
  const verify = new VerifyStream({ digest: digestOf('x'), size: 4096 });
  await assert.rejects(pipeline(source, verify, sink()), (err) => isKeelError(err, 'E_SIZE_MISMATCH'));
  assert.ok(pushed < 256, `read ${pushed} chunks before refusing`);
});

test('VerifyStream refuses a short body with E_SIZE_MISMATCH', async () => {
  const verify = new VerifyStream({ digest: digestOf('hello'), size: 6 });
  await assert.rejects(pipeline(Readable.from([Buffer.from('hello')]), verify, sink()), (err) => isKeelError(err, 'E_SIZE_MISMATCH'));
});
