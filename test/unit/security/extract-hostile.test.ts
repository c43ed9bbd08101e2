// Hostile single layers that the layer tests did not cover: each test is named
// after the attack, asserts the stable code keel refuses it with or where the
// entry was confined, and the host TRIPWIRE (outside every root) is checked
// after each one. docs/security.md lists them.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { resolveUser } from '../../../src/bundle/index.ts';
import { END, blockData, extractTar, packTar, paxData, rawHeader, rejectsWith, useSandbox } from '../layer/helpers.ts';

const sb = useSandbox();

const T = { timeout: 30_000 };

/** A header whose type is GNU (`ustar  \0` magic), for GNU long names. */
function gnuHeader(fields: Parameters<typeof rawHeader>[0]): Buffer {
  const b = rawHeader(fields);
  b.write('ustar  \0', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

function longName(typeflag: 'L' | 'K', value: string): Buffer {
  const data = Buffer.from(`${value}\0`);
  return Buffer.concat([gnuHeader({ name: '././@LongLink', typeflag, size: data.length }), blockData(data)]);
}

function pax(records: Record<string, string>): Buffer {
  const x = paxData(records);
  return Buffer.concat([rawHeader({ name: 'PaxHeader', typeflag: 'x', size: x.length }), blockData(x)]);
}

describe('hostile layer names and headers', () => {
  test('PAX path overriding a harmless name with ../ is refused', T, async () => {
    const tar = Buffer.concat([pax({ path: '../../outside/tripwire' }), rawHeader({ name: 'innocent', size: 5 }), blockData('pwned'), END]);
    await rejectsWith(extractTar(tar, await sb.newDir('pax-path')), 'E_LAYER_PATH');
  });

  test('PAX linkpath overriding a hardlink target with ../ is refused', T, async () => {
    const tar = Buffer.concat([
      rawHeader({ name: 'a', size: 1 }),
      blockData('a'),
      pax({ linkpath: '../../../etc/shadow' }),
      rawHeader({ name: 'l', typeflag: '1', linkname: 'a' }),
      END,
    ]);
    await rejectsWith(extractTar(tar, await sb.newDir('pax-linkpath')), 'E_LAYER_LINK');
  });

  test('GNU long name with ../ is refused', T, async () => {
    const tar = Buffer.concat([longName('L', `${'d/'.repeat(60)}${'../'.repeat(62)}tripwire`), gnuHeader({ name: 'short', size: 5 }), blockData('pwned'), END]);
    await rejectsWith(extractTar(tar, await sb.newDir('gnu-long')), 'E_LAYER_PATH');
  });

  test('GNU long link name with ../ on a hardlink is refused', T, async () => {
    const tar = Buffer.concat([
      gnuHeader({ name: 'a', size: 1 }),
      blockData('a'),
      longName('K', `${'../'.repeat(40)}etc/shadow`),
      gnuHeader({ name: 'l', typeflag: '1', linkname: 'a' }),
      END,
    ]);
    await rejectsWith(extractTar(tar, await sb.newDir('gnu-long-link')), 'E_LAYER_LINK');
  });

  test('a name that climbs inside then above the root (a/../../x) is refused', T, async () => {
    for (const name of ['a/../../x', 'a/b/../../../x', './a/./../../x']) {
      await rejectsWith(extractTar(await packTar([{ name, data: 'x' }]), await sb.newDir('dotdot')), 'E_LAYER_PATH');
    }
  });

  test('backslash names are one literal file name, never a path', T, async () => {
    const dir = await sb.newDir('backslash');
    const name = '..\\..\\outside\\tripwire';
    await extractTar(await packTar([{ name, data: 'pwned' }, { name: 'a\\b', type: 'directory' }]), dir);
    assert.deepEqual((await readdir(dir)).sort(), [name, 'a\\b'].sort());
    assert.equal(await readFile(path.join(dir, name), 'utf8'), 'pwned');
  });

  test('non-UTF-8 bytes in a name, a PAX path or a link target are refused', T, async () => {
    const bad = Buffer.from([0x61, 0xff, 0xfe, 0x2f, 0x62]);
    const cases = [Buffer.concat([rawHeader({ name: '', nameBytes: bad }), END])];
    // PAX path with invalid UTF-8
    const rec = Buffer.concat([Buffer.from('12 path=a'), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
    cases.push(Buffer.concat([rawHeader({ name: 'PaxHeader', typeflag: 'x', size: rec.length }), blockData(rec), rawHeader({ name: 'x' }), END]));
    // symlink target with invalid UTF-8
    const sym = rawHeader({ name: 's', typeflag: '2' });
    Buffer.from([0x2e, 0x2e, 0xff]).copy(sym, 157);
    sym.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of sym) sum += byte;
    sym.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    cases.push(Buffer.concat([sym, END]));
    for (const tar of cases) await rejectsWith(extractTar(tar, await sb.newDir('utf8')), 'E_LAYER_UNSUPPORTED');
  });

  test('whiteout lookalikes: .wh. alone, .wh..wh., opaque marker as dir/symlink/hardlink are refused', T, async () => {
    const cases = [
      [{ name: '.wh.' }],
      [{ name: '.wh..wh.' }],
      [{ name: 'd/.wh..wh..opq/', type: 'directory' as const }],
      [{ name: 'd/.wh..wh..opq', type: 'symlink' as const, linkname: '/etc' }],
      [{ name: 'f' }, { name: 'd/.wh..wh..opq', type: 'link' as const, linkname: 'f' }],
      [{ name: '.wh..wh..opq/x' }],
      [{ name: 'd/.wh.x', type: 'fifo' as const }],
    ];
    for (const entries of cases) await rejectsWith(extractTar(await packTar(entries), await sb.newDir('wh-look')), 'E_LAYER_WHITEOUT');
  });

  test('names that only look like whiteouts are ordinary files', T, async () => {
    const dir = await sb.newDir('wh-ordinary');
    const names = ['x.wh.y', '.whx', '..wh.x', '.WH.x', '.wh', 'wh..wh..opq'];
    await extractTar(await packTar(names.map((name) => ({ name, data: name }))), dir);
    assert.deepEqual((await readdir(dir)).sort(), [...names].sort());
  });

  test('a huge declared size with short data is refused as truncated', T, async () => {
    const tar = Buffer.concat([rawHeader({ name: 'big', size: 0o77777777777 }), blockData('only this'), END]);
    const dir = await sb.newDir('huge');
    await rejectsWith(extractTar(tar, dir), 'E_LAYER_MALFORMED');
  });

  test('a PAX size far beyond the data is refused as truncated', T, async () => {
    const tar = Buffer.concat([pax({ size: '99999999999999' }), rawHeader({ name: 'big', size: 1 }), blockData('x'), END]);
    await rejectsWith(extractTar(tar, await sb.newDir('pax-size')), 'E_LAYER_MALFORMED');
  });

  test('a PAX size on a symlink or directory is refused (tar-stream would stall)', T, async () => {
    for (const typeflag of ['2', '5']) {
      const tar = Buffer.concat([pax({ size: '512' }), rawHeader({ name: 's', typeflag, linkname: 'x' }), blockData('y'), END]);
      await rejectsWith(extractTar(tar, await sb.newDir('pax-size-nonfile')), 'E_LAYER_MALFORMED');
    }
  });

  test('bad PAX uid/gid (negative, too large, not a number) are refused', T, async () => {
    for (const uid of ['-1', '4294967296', '0x10', '1e3']) {
      const tar = Buffer.concat([pax({ uid }), rawHeader({ name: 'f' }), END]);
      await rejectsWith(extractTar(tar, await sb.newDir('pax-uid')), 'E_LAYER_MALFORMED');
    }
  });

  test('GNU sparse files: old type S is refused; PAX 1.0 sparse keys are not applied (no ../ via GNU.sparse.name)', T, async () => {
    await rejectsWith(extractTar(Buffer.concat([gnuHeader({ name: 'sparse', typeflag: 'S' }), END]), await sb.newDir('sparse-s')), 'E_LAYER_UNSUPPORTED');
    const dir = await sb.newDir('sparse-pax');
    const tar = Buffer.concat([
      pax({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': '../../outside/tripwire', 'GNU.sparse.realsize': '107374182400' }),
      rawHeader({ name: 'GNUSparseFile.0/f', size: 4 }),
      blockData('0\n\n\n'),
      END,
    ]);
    await extractTar(tar, dir);
    assert.deepEqual(await readdir(dir), ['GNUSparseFile.0']);
    assert.equal((await stat(path.join(dir, 'GNUSparseFile.0/f'))).size, 4);
  });

  test('zstd decompression bomb is refused by the ratio meter', { timeout: 60_000 }, async () => {
    const size = 72 * 1024 * 1024;
    const tar = Buffer.concat([rawHeader({ name: 'zeros', size }), Buffer.alloc(size), END]);
    const dir = await sb.newDir('zstd-bomb');
    const started = Date.now();
    await rejectsWith(extractTar(tar, dir, { compression: 'zstd' }), 'E_LAYER_LIMIT', 50_000);
    assert.ok(Date.now() - started < 50_000);
  });

  test('a zstd frame demanding a 2 GiB window is refused, not allocated', T, async () => {
    const tar = await packTar([{ name: 'a', data: 'x'.repeat(4096) }]);
    const c = zlib.constants;
    const enc = zlib.createZstdCompress({ params: { [c.ZSTD_c_windowLog]: 31, [c.ZSTD_c_enableLongDistanceMatching]: 1 } });
    const chunks: Buffer[] = [];
    enc.on('data', (d: Buffer) => chunks.push(d));
    await new Promise<void>((resolve) => {
      enc.on('end', resolve);
      enc.end(tar);
    });
    const { extractLayer } = await import('../../../src/layer/index.ts');
    const { Readable } = await import('node:stream');
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    const rss = process.memoryUsage().rss;
    await rejectsWith(
      extractLayer(Readable.from([Buffer.concat(chunks)]), await sb.newDir('zstd-window'), { compression: 'zstd', diffId: diffId as never }),
      'E_LAYER_MALFORMED',
    );
    assert.ok(process.memoryUsage().rss - rss < 512 * 1024 * 1024);
  });

  test('a diff_id of another algorithm than its content is refused', T, async () => {
    const tar = await packTar([{ name: 'a', data: 'x' }]);
    const sha256hex = createHash('sha256').update(tar).digest('hex');
    // sha512 with a sha256-length hex: not a digest at all
    await assert.rejects(extractTar(tar, await sb.newDir('alg1'), { diffId: `sha512:${sha256hex}` }), (err: { code?: string }) =>
      ['E_DIGEST_INVALID', 'E_DIGEST_MISMATCH'].includes(err.code ?? ''),
    );
    // a well-formed sha512 that is not the content's
    await rejectsWith(extractTar(tar, await sb.newDir('alg2'), { diffId: `sha512:${sha256hex}${sha256hex}` }), 'E_DIGEST_MISMATCH');
    // the content's real sha512 is accepted (algorithm agility, verified with that algorithm)
    const sha512 = createHash('sha512').update(tar).digest('hex');
    await extractTar(tar, await sb.newDir('alg3'), { diffId: `sha512:${sha512}` });
  });
});

describe('hostile layer trees: links, replacement, symlink chains', () => {
  test('hardlink to a symlink is refused', T, async () => {
    const entries = [
      { name: 's', type: 'symlink' as const, linkname: `${sb.outside}/tripwire` },
      { name: 'l', type: 'link' as const, linkname: 's' },
    ];
    await rejectsWith(extractTar(await packTar(entries), await sb.newDir('link-sym')), 'E_LAYER_LINK');
  });

  test('hardlink whose target was replaced by a symlink earlier in the same layer is refused', T, async () => {
    const entries = [
      { name: 'f', data: 'orig' },
      { name: 'f', type: 'symlink' as const, linkname: `${sb.outside}/tripwire` },
      { name: 'l', type: 'link' as const, linkname: 'f' },
    ];
    await rejectsWith(extractTar(await packTar(entries), await sb.newDir('link-replaced')), 'E_LAYER_LINK');
  });

  test('a hardlink made before its target is replaced by a symlink keeps the old inode; rewriting the path never writes through', T, async () => {
    const dir = await sb.newDir('link-then-replace');
    await extractTar(
      await packTar([
        { name: 'f', data: 'orig' },
        { name: 'l', type: 'link', linkname: 'f' },
        { name: 'f', type: 'symlink', linkname: `${sb.outside}/tripwire` },
        { name: 'l', data: 'rewritten' },
      ]),
      dir,
    );
    assert.equal(await readlink(path.join(dir, 'f')), `${sb.outside}/tripwire`);
    assert.equal(await readFile(path.join(dir, 'l'), 'utf8'), 'rewritten');
  });

  test('hardlink to the root or to . is refused', T, async () => {
    for (const linkname of ['.', '/', 'a/..']) {
      await rejectsWith(extractTar(await packTar([{ name: 'a/', type: 'directory' }, { name: 'l', type: 'link', linkname }]), await sb.newDir('link-root')), 'E_LAYER_LINK');
    }
  });

  test('a directory replaced by a file, then written into, is refused', T, async () => {
    const entries = [{ name: 'd/', type: 'directory' as const }, { name: 'd', data: 'file now' }, { name: 'd/x', data: 'x' }];
    await rejectsWith(extractTar(await packTar(entries), await sb.newDir('dir-file-write')), 'E_LAYER_PATH');
  });

  test('same path twice: directory, then symlink to the host, then a write under it is confined', T, async () => {
    const dir = await sb.newDir('dir-then-symlink');
    await extractTar(
      await packTar([
        { name: 'd/', type: 'directory' },
        { name: 'd/keep', data: 'k' },
        { name: 'd', type: 'symlink', linkname: sb.outside },
        { name: 'd/tripwire', data: 'pwned' },
      ]),
      dir,
    );
    assert.equal(await readlink(path.join(dir, 'd')), sb.outside);
    assert.equal(await readFile(path.join(dir, sb.outside, 'tripwire'), 'utf8'), 'pwned');
  });

  test('same path twice: file, then directory, then a file in it', T, async () => {
    const dir = await sb.newDir('file-then-dir');
    await extractTar(await packTar([{ name: 'f', data: 'x' }, { name: 'f/', type: 'directory' }, { name: 'f/x', data: 'y' }]), dir);
    assert.equal(await readFile(path.join(dir, 'f/x'), 'utf8'), 'y');
  });

  test('.. in symlink targets stops at the root while resolving', T, async () => {
    const dir = await sb.newDir('dotdot-link');
    await extractTar(
      await packTar([
        { name: 'a/b/up', type: 'symlink', linkname: `${'../'.repeat(30)}${path.relative('/', sb.outside)}` },
        { name: 'a/b/up/tripwire', data: 'pwned' },
      ]),
      dir,
    );
    assert.equal(await readFile(path.join(dir, sb.outside, 'tripwire'), 'utf8'), 'pwned');
  });

  test('a chain of 40 symlinks resolves inside the root; 41 is refused', T, async () => {
    const chain = (n: number): { name: string; type: 'symlink'; linkname: string }[] =>
      Array.from({ length: n }, (_, i) => ({ name: `l${i}`, type: 'symlink' as const, linkname: i === n - 1 ? sb.outside : `/l${i + 1}` }));
    const ok = await sb.newDir('chain40');
    await extractTar(await packTar([...chain(40), { name: 'l0/tripwire', data: 'pwned' }]), ok);
    assert.equal(await readFile(path.join(ok, sb.outside, 'tripwire'), 'utf8'), 'pwned');
    await rejectsWith(extractTar(await packTar([...chain(41), { name: 'l0/tripwire', data: 'pwned' }]), await sb.newDir('chain41')), 'E_LAYER_PATH');
  });

  test('symlink chains that make one entry walk thousands of components (CPU/syscall bomb) are refused at once', T, async () => {
    // 40 links of 800 `a/..` each: ~64,000 lstat per entry before the step limit (1 s per entry, days per layer)
    const links = Array.from({ length: 40 }, (_, i) => ({ name: `l${i}`, type: 'symlink' as const, linkname: `${'a/../'.repeat(800)}${i === 39 ? 'a' : `l${i + 1}`}` }));
    const uses = Array.from({ length: 50 }, (_, i) => ({ name: `l0/x${i}/f`, data: '' }));
    const started = Date.now();
    await rejectsWith(extractTar(await packTar([{ name: 'a/', type: 'directory' }, ...links, ...uses]), await sb.newDir('walk-bomb')), 'E_LAYER_PATH', 5_000);
    assert.ok(Date.now() - started < 5_000);
  });

  test('a resolution within the step limit (a link to a 120-deep directory, then 120 more) works', T, async () => {
    const dir = await sb.newDir('deep-ok');
    const deep = Array.from({ length: 120 }, (_, i) => `d${i}`).join('/');
    const below = Array.from({ length: 120 }, (_, i) => `e${i}`).join('/');
    await extractTar(await packTar([{ name: `${deep}/`, type: 'directory' }, { name: 'top', type: 'symlink', linkname: `/${deep}` }, { name: `top/${below}/f`, data: 'ok' }]), dir);
    assert.equal(await readFile(path.join(dir, deep, below, 'f'), 'utf8'), 'ok');
  });

  test('symlink loops (a->b->a, a->a/x, a->.) are refused', T, async () => {
    const cases = [
      [{ name: 'a', type: 'symlink' as const, linkname: 'b' }, { name: 'b', type: 'symlink' as const, linkname: '/a' }],
      [{ name: 'a', type: 'symlink' as const, linkname: 'a/x' }],
    ];
    for (const links of cases) {
      await rejectsWith(extractTar(await packTar([...links, { name: 'a/f', data: 'x' }]), await sb.newDir('loop')), 'E_LAYER_PATH');
    }
    // a -> . is not a loop: it is the root
    const dir = await sb.newDir('dot-link');
    await extractTar(await packTar([{ name: 'a', type: 'symlink', linkname: '.' }, { name: 'a/a/a/f', data: 'x' }]), dir);
    assert.equal(await readFile(path.join(dir, 'f'), 'utf8'), 'x');
  });

  test('setuid-root files are kept as the image says (policy: the store is root-only, containers run with noNewPrivileges)', T, async () => {
    const dir = await sb.newDir('setuid');
    await extractTar(await packTar([{ name: 'bin/su', data: '#!', mode: 0o4755, uid: 0 }, { name: 'bin/sg', data: '#!', mode: 0o2755, gid: 0 }]), dir);
    assert.equal((await lstat(path.join(dir, 'bin/su'))).mode & 0o7777, 0o4755);
    assert.equal((await lstat(path.join(dir, 'bin/sg'))).mode & 0o7777, 0o2755);
  });

  test('device nodes are never created, even under a name a later hardlink uses (not left to a lower layer either)', T, async () => {
    const tar = Buffer.concat([rawHeader({ name: 'dev/kmem', typeflag: '3' }), rawHeader({ name: 'k', typeflag: '1', linkname: 'dev/kmem' }), END]);
    await rejectsWith(extractTar(tar, await sb.newDir('dev-link')), 'E_LAYER_LINK');
  });

  test('/etc/passwd as a FIFO in the image: extraction and the user lookup never block', T, async () => {
    const dir = await sb.newDir('fifo-passwd');
    await extractTar(await packTar([{ name: 'etc/passwd', type: 'fifo' }, { name: 'etc/group', type: 'fifo' }]), dir);
    assert.ok((await lstat(path.join(dir, 'etc/passwd'))).isFIFO());
    assert.deepEqual(await resolveUser(dir, '1000:1000'), { uid: 1000, gid: 1000, additionalGids: [], home: undefined });
    await rejectsWith(resolveUser(dir, 'daemon'), 'E_MANIFEST_INVALID', 5_000);
  });
});

describe('hostile compression', () => {
  test('gzip members concatenated after a valid layer cannot smuggle extra entries', T, async () => {
    const one = await packTar([{ name: 'a', data: 'x' }]);
    const two = await packTar([{ name: 'b', data: 'y' }]);
    const body = Buffer.concat([zlib.gzipSync(one), zlib.gzipSync(two)]);
    // the diff_id is of the whole uncompressed stream; the second member is data after the end
    const { extractLayer } = await import('../../../src/layer/index.ts');
    const { Readable } = await import('node:stream');
    const diffId = `sha256:${createHash('sha256').update(Buffer.concat([one, two])).digest('hex')}`;
    await rejectsWith(
      extractLayer(Readable.from([body]), await sb.newDir('gz-members'), { compression: 'gzip', diffId: diffId as never }),
      'E_LAYER_MALFORMED',
    );
  });
});
