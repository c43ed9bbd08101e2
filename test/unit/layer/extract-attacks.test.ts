// Hostile layers: each test is named after the attack it stops, and checks the
// host TRIPWIRE outside the root after the attempt.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readFile, readlink, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, test } from 'node:test';
import zlib from 'node:zlib';
import { extractLayer } from '../../../src/layer/index.ts';
import { Digester, digestOf } from '../../../src/oci/digest.ts';
import { END, blockData, extractTar, packTar, paxData, rawHeader, rejectsWith, useSandbox } from './helpers.ts';

const sb = useSandbox();

const T = { timeout: 20_000 };

async function sha(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

describe('extractLayer refuses or confines hostile layers', () => {
  test('path traversal ../../etc', T, async () => {
    for (const name of ['../outside/tripwire', '../../etc/passwd', 'a/../../outside/tripwire', './../outside/dir/x']) {
      const dir = await sb.newDir('trav');
      const tar = Buffer.concat([rawHeader({ name, size: 5 }), blockData('pwned'), END]);
      await rejectsWith(extractTar(tar, dir), 'E_LAYER_PATH');
      // also when the name comes from a PAX header
      const paxTar = await packTar([{ name: 'x', data: 'pwned', pax: { path: name } }]);
      await rejectsWith(extractTar(paxTar, await sb.newDir('trav-pax')), 'E_LAYER_PATH');
    }
  });

  test('absolute name /etc/passwd is confined', T, async () => {
    const before = await sha('/etc/passwd');
    const dir = await sb.newDir('abs');
    const tar = await packTar([
      { name: '/etc/passwd', data: 'root::0:0::/:/bin/sh\n' },
      { name: `${sb.outside}/tripwire`, data: 'pwned' },
    ]);
    await extractTar(tar, dir);
    assert.equal(await readFile(path.join(dir, 'etc/passwd'), 'utf8'), 'root::0:0::/:/bin/sh\n');
    assert.equal(await readFile(path.join(dir, sb.outside, 'tripwire'), 'utf8'), 'pwned');
    assert.equal(await sha('/etc/passwd'), before, 'HOST /etc/passwd WAS CHANGED');
  });

  test('symlink-then-write in one layer', T, async () => {
    const dir = await sb.newDir('symwrite');
    const tar = await packTar([
      { name: 'evil', type: 'symlink', linkname: sb.outside },
      { name: 'evil/tripwire', data: 'pwned' },
      { name: 'rel', type: 'symlink', linkname: '../../../../../../..' },
      { name: 'rel/outside/dir/new', data: 'pwned' },
      { name: 'loop', type: 'symlink', linkname: 'loop' },
    ]);
    await extractTar(tar, dir);
    // the symlink was resolved inside the root: the write landed there
    assert.equal(await readFile(path.join(dir, sb.outside, 'tripwire'), 'utf8'), 'pwned');
    assert.equal(await readFile(path.join(dir, 'outside/dir/new'), 'utf8'), 'pwned');
    assert.equal(await readlink(path.join(dir, 'evil')), sb.outside);
    const loop = await packTar([
      { name: 'loop', type: 'symlink', linkname: 'loop' },
      { name: 'loop/x', data: 'pwned' },
    ]);
    await rejectsWith(extractTar(loop, await sb.newDir('loop')), 'E_LAYER_PATH');
  });

  test('a file entry over an existing symlink replaces the link, never writes through it', T, async () => {
    const dir = await sb.newDir('overlink');
    const tar = await packTar([
      { name: 'evil', type: 'symlink', linkname: `${sb.outside}/tripwire` },
      { name: 'evil', data: 'pwned' },
    ]);
    await extractTar(tar, dir);
    const st = await lstat(path.join(dir, 'evil'));
    assert.ok(st.isFile());
  });

  test('hardlink to /etc/shadow outside root', T, async () => {
    const refused = [
      '../outside/tripwire',
      'sl', // a symlink is not a regular file
      'd', // nor is a directory
      '.wh.marker',
    ];
    // clean paths with nothing in this layer: recorded for stacking, resolved
    // inside the rootfs there (cross-layer-links.test.ts), never created here
    const recorded = [
      ['/etc/shadow', 'etc/shadow'],
      [`${sb.outside}/tripwire`, `${sb.outside.slice(1)}/tripwire`],
      ['sl/tripwire', 'sl/tripwire'],
      ['missing', 'missing'],
    ];
    const layer = (linkname: string): Promise<Buffer> =>
      packTar([
        { name: 'sl', type: 'symlink', linkname: sb.outside },
        { name: 'd', type: 'directory' },
        { name: '.wh.marker', data: '' },
        { name: 'h', type: 'link', linkname },
      ]);
    for (const linkname of refused) {
      await rejectsWith(extractTar(await layer(linkname), await sb.newDir('hl')), 'E_LAYER_LINK');
    }
    for (const [linkname, target] of recorded) {
      const dir = await sb.newDir('hl');
      const stats = await extractTar(await layer(linkname as string), dir);
      assert.deepEqual(stats.externalLinks, [{ path: 'h', target }]);
      assert.equal(await lstat(path.join(dir, 'h')).catch(() => null), null, 'the link is not created in the layer tree');
    }
    const st = await stat(path.join(sb.outside, 'tripwire'));
    assert.equal(st.nlink, 1, 'the host tripwire gained a link');
  });

  test('a refused entry ends the extraction at once, without waiting for more input (a stalled registry)', T, async () => {
    const tar = await packTar([{ name: 'a', data: 'A' }, { name: 'b', type: 'link', linkname: '../../etc/passwd' }, { name: 'c', data: 'C'.repeat(5000) }]);
    const input = new PassThrough();
    const done = extractLayer(input, await sb.newDir('stall'), { compression: 'none', diffId: digestOf(tar) });
    input.write(tar.subarray(0, 2048)); // a and b, then nothing more: without the fix this hangs until the test times out
    await rejectsWith(done, 'E_LAYER_LINK');
    input.destroy();
  });

  test('chmod through a symlink', T, async () => {
    const dir = await sb.newDir('chmod');
    const tar = await packTar([
      { name: 'd', type: 'symlink', linkname: `${sb.outside}/dir` },
      { name: 'd', type: 'directory', mode: 0o777, uid: 1234, gid: 1234 },
      { name: 'f', type: 'symlink', linkname: `${sb.outside}/tripwire` },
      { name: 'f', type: 'symlink', linkname: `${sb.outside}/tripwire`, mode: 0o777, uid: 1234 },
    ]);
    await extractTar(tar, dir);
    const st = await lstat(path.join(dir, 'd'));
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o7777, 0o777);
    assert.equal(st.uid, 1234);
    const link = await lstat(path.join(dir, 'f'));
    assert.ok(link.isSymbolicLink());
    assert.equal(link.uid, 1234);
  });

  test('root replaced by symlink', T, async () => {
    for (const name of ['./', '/', '.', 'a/..']) {
      const tar = await packTar([{ name, type: 'symlink', linkname: sb.outside }]);
      await rejectsWith(extractTar(tar, await sb.newDir('root')), 'E_LAYER_PATH');
    }
    const file = Buffer.concat([rawHeader({ name: '.', size: 1 }), blockData('x'), END]);
    await rejectsWith(extractTar(file, await sb.newDir('rootfile')), 'E_LAYER_PATH');
    // a directory entry for the root is fine and changes nothing
    const dir = await sb.newDir('rootdir');
    await extractTar(await packTar([{ name: './', type: 'directory', mode: 0o777 }]), dir);
    assert.equal((await lstat(dir)).mode & 0o777, 0o700);
  });

  test('dir with size hangs tar-stream', T, async () => {
    for (const typeflag of ['5', '2', '1', '6', '3']) {
      const tar = Buffer.concat([
        rawHeader({ name: 'd/', typeflag, size: 1024, linkname: typeflag === '1' || typeflag === '2' ? 'x' : '' }),
        blockData(Buffer.alloc(1024, 0x41)),
        rawHeader({ name: 'after', size: 0 }),
        END,
      ]);
      await rejectsWith(extractTar(tar, await sb.newDir('dirsize')), 'E_LAYER_MALFORMED', 5_000);
    }
    // also when the size comes from a PAX record
    const pax = paxData({ size: '1024' });
    const tar = Buffer.concat([rawHeader({ name: 'PaxHeader', typeflag: 'x', size: pax.length }), blockData(pax), rawHeader({ name: 'd/', typeflag: '5' }), blockData(Buffer.alloc(1024)), END]);
    await rejectsWith(extractTar(tar, await sb.newDir('dirsize-pax')), 'E_LAYER_MALFORMED', 5_000);
  });

  test('global pax path', T, async () => {
    for (const key of ['path', 'linkpath', 'size']) {
      const g = paxData({ [key]: key === 'size' ? '5' : '../outside/tripwire' });
      const x = paxData({ mtime: '1600000000' });
      const tar = Buffer.concat([
        rawHeader({ name: 'pax_global_header', typeflag: 'g', size: g.length }),
        blockData(g),
        rawHeader({ name: 'PaxHeader/a', typeflag: 'x', size: x.length }),
        blockData(x),
        rawHeader({ name: 'a', size: 5 }),
        blockData('pwned'),
        END,
      ]);
      await rejectsWith(extractTar(tar, await sb.newDir('gpax')), 'E_LAYER_MALFORMED');
    }
    // a global header with harmless keys is fine
    const g = paxData({ comment: 'hello' });
    const ok = Buffer.concat([rawHeader({ name: 'pax_global_header', typeflag: 'g', size: g.length }), blockData(g), rawHeader({ name: 'a', size: 2 }), blockData('ok'), END]);
    const dir = await sb.newDir('gpax-ok');
    await extractTar(ok, dir);
    assert.equal(await readFile(path.join(dir, 'a'), 'utf8'), 'ok');
  });

  test('NUL in name', T, async () => {
    const cases: Buffer[] = [];
    for (const key of ['path', 'linkpath']) {
      const x = paxData({ [key]: 'safe\0../../outside/tripwire' });
      cases.push(
        Buffer.concat([
          rawHeader({ name: 'PaxHeader', typeflag: 'x', size: x.length }),
          blockData(x),
          rawHeader({ name: 'safe', typeflag: key === 'path' ? '0' : '2', linkname: 'x' }),
          END,
        ]),
      );
    }
    const nameBytes = Buffer.concat([Buffer.from('safe\0'), Buffer.from('../../outside/tripwire')]);
    cases.push(Buffer.concat([rawHeader({ name: '', nameBytes, size: 0 }), END]));
    const long = Buffer.from('safe\0../../outside/tripwire\0');
    cases.push(Buffer.concat([rawHeader({ name: '././@LongLink', typeflag: 'L', size: long.length }), blockData(long), rawHeader({ name: 'safe' }), END]));
    for (const tar of cases) await rejectsWith(extractTar(tar, await sb.newDir('nul')), 'E_LAYER_MALFORMED');
  });

  test('truncated stream', T, async () => {
    const tar = await packTar([
      { name: 'a', data: Buffer.alloc(5000, 1) },
      { name: 'b', data: 'bbb' },
    ]);
    // mid-entry, at a header boundary without the end blocks, after one end block
    for (const cut of [700, 512 + 5120, tar.length - 1024, tar.length - 512, 100]) {
      await rejectsWith(extractTar(tar.subarray(0, cut), await sb.newDir('trunc'), {}), 'E_LAYER_MALFORMED');
    }
    // a truncated gzip stream
    const gz = zlib.gzipSync(tar);
    await rejectsWith(
      extractLayer(Readable.from([gz.subarray(0, gz.length - 20)]), await sb.newDir('trunc-gz'), { compression: 'gzip', diffId: digest(tar) }),
      'E_LAYER_MALFORMED',
    );
    // trailing zero blocks are fine; trailing garbage is not; nor data hidden after a lone zero block
    await extractTar(Buffer.concat([tar, Buffer.alloc(10240)]), await sb.newDir('trail-ok'));
    await rejectsWith(extractTar(Buffer.concat([tar, Buffer.from('garbage')]), await sb.newDir('trail')), 'E_LAYER_MALFORMED');
    const hidden = Buffer.concat([rawHeader({ name: 'a' }), Buffer.alloc(512), rawHeader({ name: 'hidden', size: 1 }), blockData('x'), END]);
    await rejectsWith(extractTar(hidden, await sb.newDir('lone')), 'E_LAYER_MALFORMED');
    await rejectsWith(extractTar(Buffer.from('this is not a tar at all'.repeat(40)), await sb.newDir('junk')), 'E_LAYER_MALFORMED');
    await rejectsWith(extractTar(Buffer.alloc(0), await sb.newDir('empty')), 'E_LAYER_MALFORMED');
  });

  test('bad and negative sizes', T, async () => {
    const neg = rawHeader({ name: 'a' });
    neg[124] = 0xff; // base-256 negative
    fixChecksum(neg);
    const bad = rawHeader({ name: 'a' });
    bad.write('12x45678901\0', 124, 'latin1');
    fixChecksum(bad);
    const x = paxData({ size: '-5' });
    const paxNeg = Buffer.concat([rawHeader({ name: 'P', typeflag: 'x', size: x.length }), blockData(x), rawHeader({ name: 'a' })]);
    for (const h of [neg, bad, paxNeg]) await rejectsWith(extractTar(Buffer.concat([h, END]), await sb.newDir('size')), 'E_LAYER_MALFORMED');
    const badsum = rawHeader({ name: 'a' });
    badsum[0] = 0x62;
    await rejectsWith(extractTar(Buffer.concat([badsum, END]), await sb.newDir('cksum')), 'E_LAYER_MALFORMED');
  });

  test('gzip bomb', { timeout: 60_000 }, async () => {
    const size = 200 * 1024 * 1024;
    const zeros = Buffer.alloc(1 << 20);
    const hasher = new Digester();
    const gzip = zlib.createGzip({ level: 9 });
    const out: Buffer[] = [];
    const collected = (async () => {
      for await (const c of gzip) out.push(c as Buffer);
    })();
    const write = (b: Buffer): void => {
      hasher.update(b);
      gzip.write(b);
    };
    write(rawHeader({ name: 'bomb', size }));
    for (let i = 0; i < size / zeros.length; i++) write(zeros);
    write(END);
    gzip.end();
    await collected;
    const body = Buffer.concat(out);
    assert.ok(body.length < 400_000, `compressed to ${body.length}`);
    const dir = await sb.newDir('bomb');
    const started = Date.now();
    await rejectsWith(extractLayer(Readable.from([body]), dir, { compression: 'gzip', diffId: hasher.digest() }), 'E_LAYER_LIMIT', 30_000);
    const written = (await lstat(path.join(dir, 'bomb'))).size;
    assert.ok(written < 100 * 1024 * 1024, `wrote ${written} bytes of the bomb`);
    assert.ok(Date.now() - started < 30_000);
  });

  test('too deep', T, async () => {
    const deep = Array.from({ length: 129 }, () => 'd').join('/');
    await rejectsWith(extractTar(await packTar([{ name: deep, data: 'x' }]), await sb.newDir('deep')), 'E_LAYER_LIMIT');
    await rejectsWith(extractTar(await packTar([{ name: 'a/b/c/d', data: 'x' }]), await sb.newDir('deep3'), { limits: { maxDepth: 3 } }), 'E_LAYER_LIMIT');
    // a component over 255 bytes, a path over 4096 bytes, a symlink target over 4096 bytes
    await rejectsWith(extractTar(await packTar([{ name: 'n'.repeat(256), data: 'x' }]), await sb.newDir('name')), 'E_LAYER_LIMIT');
    const longPath = Array.from({ length: 30 }, () => 'p'.repeat(150)).join('/');
    await rejectsWith(extractTar(await packTar([{ name: longPath, data: 'x' }]), await sb.newDir('path')), 'E_LAYER_LIMIT');
    await rejectsWith(extractTar(await packTar([{ name: 's', type: 'symlink', linkname: 'x'.repeat(5000) }]), await sb.newDir('target')), 'E_LAYER_LIMIT');
  });

  test('too many entries', T, async () => {
    const entries = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: 'x' }));
    await rejectsWith(extractTar(await packTar(entries), await sb.newDir('many'), { limits: { maxEntries: 10 } }), 'E_LAYER_LIMIT');
    await extractTar(await packTar(entries.slice(0, 10)), await sb.newDir('ten'), { limits: { maxEntries: 10 } });
  });

  test('oversized PAX header', T, async () => {
    const x = paxData({ comment: 'c'.repeat(2000) });
    const tar = Buffer.concat([rawHeader({ name: 'P', typeflag: 'x', size: x.length }), blockData(x), rawHeader({ name: 'a' }), END]);
    await rejectsWith(extractTar(tar, await sb.newDir('pax'), { limits: { maxPaxHeaderSize: 1024 } }), 'E_LAYER_LIMIT');
  });

  test('invalid whiteout names', T, async () => {
    for (const entries of [
      [{ name: '.wh..wh.foo' }],
      [{ name: 'a/.wh.' }],
      [{ name: '.wh...' }],
      [{ name: '.wh.dir', type: 'directory' as const }],
      [{ name: '.wh.sym', type: 'symlink' as const, linkname: 'x' }],
      [{ name: '.wh.x/child' }],
    ]) {
      await rejectsWith(extractTar(await packTar(entries), await sb.newDir('wh')), 'E_LAYER_WHITEOUT');
    }
  });

  test('unknown entry type', T, async () => {
    const tar = Buffer.concat([rawHeader({ name: 'vol', typeflag: 'V' }), END]);
    await rejectsWith(extractTar(tar, await sb.newDir('type')), 'E_LAYER_UNSUPPORTED');
  });

  test('diff_id mismatch', T, async () => {
    const tar = await packTar([{ name: 'a', data: 'x' }]);
    const other = await packTar([{ name: 'b', data: 'y' }]);
    for (const compression of ['none', 'gzip'] as const) {
      await rejectsWith(extractTar(tar, await sb.newDir('digest'), { compression, diffId: digest(other) }), 'E_DIGEST_MISMATCH');
    }
  });

  test('an aborted extraction rejects with E_INTERRUPTED', T, async () => {
    const controller = new AbortController();
    const tar = await packTar([{ name: 'a', data: 'x' }]);
    const slow = new Readable({ read() {} });
    slow.push(tar.subarray(0, 1024));
    const p = extractLayer(slow, await sb.newDir('abort'), { compression: 'none', diffId: digest(tar), signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(p, 'E_INTERRUPTED');
    const done = new AbortController();
    done.abort();
    await rejectsWith(extractTar(tar, await sb.newDir('abort2'), { signal: done.signal }), 'E_INTERRUPTED');
  });

  test('an input stream error rejects', T, async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });
    await assert.rejects(extractLayer(broken, await sb.newDir('broken'), { compression: 'none', diffId: digest(Buffer.alloc(0)) }), (err: { code?: string }) => typeof err.code === 'string' && err.code.startsWith('E_'));
  });

  test('device nodes are skipped with a warning; an ignored xattr is counted in another', T, async () => {
    const x = paxData({ 'SCHILY.xattr.security.selinux': 'system_u:object_r:bin_t:s0', 'SCHILY.xattr.user.a': 'b' });
    const tar = Buffer.concat([
      rawHeader({ name: 'dev/sda', typeflag: '4' }),
      rawHeader({ name: 'dev/null', typeflag: '3' }),
      rawHeader({ name: 'P', typeflag: 'x', size: x.length }),
      blockData(x),
      rawHeader({ name: 'ping', size: 2, mode: 0o755 }),
      blockData('#!'),
      END,
    ]);
    const dir = await sb.newDir('dev');
    const stats = await extractTar(tar, dir);
    assert.equal(stats.entries, 3);
    assert.equal(stats.warnings.length, 2);
    assert.equal(stats.warnings[0], 'skipped 2 device nodes (the runtime provides /dev), e.g. /dev/sda');
    assert.equal(stats.warnings[1], 'ignored 1 extended attribute as umoci does, e.g. /ping security.selinux: host-specific (umoci ignores it too)');
    assert.deepEqual(await readdir(dir), ['ping']);
  });
});

function fixChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

function digest(buf: Buffer): ReturnType<Digester['digest']> {
  const d = new Digester();
  d.update(buf);
  return d.digest();
}
