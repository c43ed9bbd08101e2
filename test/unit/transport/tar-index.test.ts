import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { isKeelError } from '../../../src/errors.ts';
import { indexTar, lookupEntry, normalizeEntryName, type TarIndex } from '../../../src/transport/tar-index.ts';
import { buildTar, type TarItem } from './fixtures.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp('/var/tmp/keel-tar-index-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
async function index(bytes: Buffer): Promise<{ index: TarIndex; bytes: Buffer }> {
  const file = join(dir, `a${counter++}.tar`);
  await writeFile(file, bytes);
  const handle = await open(file, 'r');
  try {
    return { index: await indexTar(handle, file), bytes };
  } finally {
    await handle.close();
  }
}

function contentOf(r: { index: TarIndex; bytes: Buffer }, name: string): string | undefined {
  const e = lookupEntry(r.index, name);
  return e === undefined ? undefined : r.bytes.subarray(e.offset, e.offset + e.size).toString();
}

const code = (c: string) => (err: unknown) => isKeelError(err, c as never);

describe('indexTar', () => {
  it('records offset and size of every regular file, normalising ./ prefixes', async () => {
    const r = await index(buildTar([{ name: './a', data: 'alpha' }, { name: 'd/', type: '5' }, { name: 'd/b', data: 'x'.repeat(1000) }, { name: 'empty', data: '' }]));
    assert.equal(contentOf(r, 'a'), 'alpha');
    assert.equal(contentOf(r, 'd/b'), 'x'.repeat(1000));
    assert.equal(contentOf(r, './d//b'), 'x'.repeat(1000));
    assert.equal(contentOf(r, 'empty'), '');
    assert.equal(lookupEntry(r.index, 'd'), undefined, 'a directory is not a file');
    assert.equal(lookupEntry(r.index, 'missing'), undefined);
  });

  it('reads long names written as pax, GNU ././@LongLink and ustar prefix', async () => {
    const long = `${'p'.repeat(90)}/${'q'.repeat(90)}/file`;
    for (const longName of ['pax', 'gnu', 'prefix'] as const) {
      const r = await index(buildTar([{ name: long, data: longName, longName }]));
      assert.equal(contentOf(r, long), longName, longName);
    }
  });

  it('agrees with an independent writer (tar-stream, pax headers for long names)', async () => {
    const pack = tarStream.pack();
    const long = `blobs/sha256/${'a'.repeat(64)}/${'b'.repeat(120)}`;
    pack.entry({ name: 'oci-layout' }, '{"imageLayoutVersion":"1.0.0"}');
    pack.entry({ name: long }, 'long one');
    pack.entry({ name: 'big', size: 70000 }, Buffer.alloc(70000, 7));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const r = await index(Buffer.concat(chunks));
    assert.equal(contentOf(r, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    assert.equal(contentOf(r, long), 'long one');
    assert.equal(lookupEntry(r.index, 'big')?.size, 70000);
  });

  it('follows symlinks and hardlinks inside the archive', async () => {
    const r = await index(buildTar([
      { name: 'blobs/x.tar', data: 'layer' },
      { name: 'id/layer.tar', type: '2', linkname: '../blobs/x.tar' },
      { name: 'hard', type: '1', linkname: 'blobs/x.tar' },
      { name: 'chain', type: '2', linkname: 'id/layer.tar' },
    ]));
    assert.equal(contentOf(r, 'id/layer.tar'), 'layer');
    assert.equal(contentOf(r, 'hard'), 'layer');
    assert.equal(contentOf(r, 'chain'), 'layer');
  });

  it('refuses a symlink that climbs out of the archive, an absolute one, and a loop', async () => {
    const r = await index(buildTar([
      { name: 'out', type: '2', linkname: '../../etc/passwd' },
      { name: 'abs', type: '2', linkname: '/etc/passwd' },
      { name: 'l1', type: '2', linkname: 'l2' },
      { name: 'l2', type: '2', linkname: 'l1' },
    ]));
    assert.throws(() => lookupEntry(r.index, 'out'), code('E_SOURCE_INVALID'));
    assert.throws(() => lookupEntry(r.index, 'abs'), code('E_SOURCE_INVALID'));
    assert.throws(() => lookupEntry(r.index, 'l1'), code('E_SOURCE_INVALID'));
  });

  const hostile: [string, TarItem[]][] = [
    ['a ../ name (zip-slip)', [{ name: '../escape', data: 'x' }]],
    ['a ../ inside a name', [{ name: 'blobs/../../escape', data: 'x' }]],
    ['an absolute name', [{ name: '/etc/passwd', data: 'x' }]],
    ['a ../ pax path', [{ name: `../${'z'.repeat(120)}`, data: 'x', longName: 'pax' }]],
  ];
  for (const [what, items] of hostile) {
    it(`refuses the whole archive for ${what}`, async () => {
      await assert.rejects(index(buildTar([{ name: 'ok', data: 'fine' }, ...items])), code('E_SOURCE_INVALID'));
    });
  }

  it('refuses a name with NUL', () => {
    assert.throws(() => normalizeEntryName('a\0b', 'f'), code('E_SOURCE_INVALID'));
  });

  it('refuses a truncated archive: cut inside data, inside a header, and without end blocks', async () => {
    const full = buildTar([{ name: 'a', data: 'x'.repeat(2000) }, { name: 'b', data: 'y'.repeat(600) }]);
    await assert.rejects(index(full.subarray(0, 1500)), code('E_SOURCE_INVALID'));
    await assert.rejects(index(full.subarray(0, 512 * 5 + 100)), code('E_SOURCE_INVALID'));
    await assert.rejects(index(buildTar([{ name: 'a', data: 'x' }], { end: false })), code('E_SOURCE_INVALID'));
  });

  it('refuses a corrupt header checksum and a file that is not a tar', async () => {
    const bad = buildTar([{ name: 'a', data: 'x' }]);
    bad[0] = 'b'.charCodeAt(0);
    await assert.rejects(index(bad), code('E_SOURCE_INVALID'));
    await assert.rejects(index(Buffer.alloc(2048, 'not a tar archive ')), code('E_SOURCE_INVALID'));
    await assert.rejects(index(Buffer.from('tiny')), code('E_SOURCE_INVALID'));
  });

  it('refuses gzip with a hint to decompress', async () => {
    await assert.rejects(index(gzipSync(buildTar([{ name: 'a', data: 'x' }]))), (err: unknown) => {
      assert.ok(isKeelError(err, 'E_SOURCE_INVALID'));
      assert.match(err.message, /gzip/);
      assert.match(err.hint ?? '', /gunzip/);
      return true;
    });
  });

  it('lets a later entry replace an earlier one of the same name, as tar does', async () => {
    const r = await index(buildTar([{ name: 'a', data: 'old' }, { name: 'a', data: 'new' }]));
    assert.equal(contentOf(r, 'a'), 'new');
  });
});
