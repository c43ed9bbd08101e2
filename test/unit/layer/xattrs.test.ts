// Extended attributes: applied at extraction as umoci applies them (one
// `setfattr --restore` per layer), carried by stackLayers, the dump encoding
// (paths with a space, a newline, non-ASCII), and the refusals that keep
// setfattr (running as root) from being steered outside the tree by a symlink.
// Needs root (trusted.*, security.capability) and the attr package.

import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { lstat, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { stackLayers } from '../../../src/layer/index.ts';
import { XattrRecords, applyXattrs, checkNode, encodeRestoreDump, nodeId, parseDump, quoteDump, readXattrs, unquoteDump } from '../../../src/layer/xattrs.ts';
import { decodePax } from '../../../src/layer/tar-header.ts';
import { END, blockData, extractTar, rawHeader, useSandbox } from './helpers.ts';

const execFile = promisify(execFileCb);
const sb = useSandbox();

/** cap_net_raw+ep, VFS_CAP_REVISION_2 (what `setcap cap_net_raw+ep` writes). */
const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const WEIRD = 'we ird\nnamé\\x=y';

/** PAX records with raw-byte values (a capability is binary). */
function paxBytes(records: ReadonlyArray<readonly [string, Buffer | string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of records) {
    const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.from(v), Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.concat([Buffer.from(String(len)), body]));
  }
  return Buffer.concat(parts);
}

interface Entry {
  name: string;
  type?: '0' | '1' | '2' | '5' | '6';
  data?: string;
  linkname?: string;
  /** PAX records of the entry (SCHILY.xattr.NAME, LIBARCHIVE.xattr.NAME, ...). */
  pax?: ReadonlyArray<readonly [string, Buffer | string]>;
}

function tarOf(entries: readonly Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax !== undefined) {
      const x = paxBytes(e.pax);
      parts.push(rawHeader({ name: 'PaxHeader', typeflag: 'x', size: x.length }), blockData(x));
    }
    const type = e.type ?? '0';
    const size = type === '0' ? Buffer.byteLength(e.data ?? '') : 0;
    parts.push(
      rawHeader({ name: e.name, typeflag: type, size, mode: type === '5' ? 0o755 : 0o644, mtime: 1_600_000_000, ...(e.linkname === undefined ? {} : { linkname: e.linkname }) }),
    );
    if (size > 0) parts.push(blockData(e.data ?? ''));
  }
  parts.push(END);
  return Buffer.concat(parts);
}

const x = (name: string, value: Buffer | string): readonly [string, Buffer | string] => [`SCHILY.xattr.${name}`, value];

/** The attributes of one node as getfattr (an independent reader) sees them: name -> hex. */
async function xattrsOf(p: string): Promise<Record<string, string>> {
  const { stdout } = await execFile('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', p], { encoding: 'latin1' });
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line);
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');

describe('the restore dump', () => {
  test('paths and names are quoted with octal escapes, values are hex; parseDump reads it back', () => {
    assert.equal(quoteDump(`/r/${WEIRD}`), '/r/we\\040ird\\012nam\\303\\251\\134x\\075y');
    assert.equal(unquoteDump(quoteDump(WEIRD)).toString('utf8'), WEIRD);
    const dump = encodeRestoreDump([{ hostPath: `/r/${WEIRD}`, xattrs: new Map([['user.b', Buffer.from([0, 0xff, 0x0a])], ['user.a', Buffer.from('=')]]) }]);
    assert.equal(dump.toString('latin1'), '# file: /r/we\\040ird\\012nam\\303\\251\\134x\\075y\nuser.a=0x3d\nuser.b=0x00ff0a\n\n');
    assert.deepEqual(parseDump(dump.toString('latin1')), new Map([[`/r/${WEIRD}`, new Map([['user.a', Buffer.from('=')], ['user.b', Buffer.from([0, 0xff, 0x0a])]])]]));
  });

  test('setfattr applies the dump to a file named with a space, a newline and non-ASCII; getfattr reads the same bytes', async () => {
    const root = await sb.newDir('dump');
    const file = path.join(root, WEIRD);
    await writeFile(file, 'x');
    const value = Buffer.from([0, 1, 0x0a, 0x3d, 0x5c, 0xff]);
    const result = await applyXattrs(root, [[WEIRD, { ...nodeId(await lstat(file)), xattrs: new Map([['user.bytes', value], ['trusted.t', Buffer.from('t')]]) }]]);
    assert.deepEqual(result, { applied: [WEIRD], refused: [], failures: [], missing: false });
    assert.deepEqual(await xattrsOf(file), { 'trusted.t': hex('t'), 'user.bytes': hex(value) });
    // and keel's own reader (getfattr --dump parsed) gives the same map back
    assert.deepEqual(await readXattrs(root), new Map([[WEIRD, new Map([['trusted.t', Buffer.from('t')], ['user.bytes', value]])]]));
  });
});

describe('setfattr is never given a path through a symlink', () => {
  test('a parent replaced by a symlink to the host: refused, the host file keeps its attributes', async () => {
    const root = await sb.newDir('symlink-parent');
    await mkdir(path.join(root, 'a'));
    await writeFile(path.join(root, 'a', 'tripwire'), 'inside');
    const node = nodeId(await lstat(path.join(root, 'a', 'tripwire')));
    // what a later entry could leave: the parent is now a symlink to the sandbox's host directory
    await rm(path.join(root, 'a'), { recursive: true });
    await symlink(sb.outside, path.join(root, 'a'));
    const result = await applyXattrs(root, [['a/tripwire', { ...node, xattrs: new Map([['user.pwned', Buffer.from('1')], ['security.capability', CAP_NET_RAW]]) }]]);
    assert.deepEqual(result.refused, [{ rel: 'a/tripwire', why: 'has a parent that is a symlink' }]);
    assert.deepEqual(result.applied, []);
    assert.deepEqual(await xattrsOf(path.join(sb.outside, 'tripwire')), {}, 'HOST PATH WAS CHANGED');
  });

  // The symlink made where `f` was often gets f's inode number back: the type is checked too.
  test('a final node replaced (by a symlink to the host, or another file): refused by its inode and type', async () => {
    const root = await sb.newDir('final-replaced');
    await writeFile(path.join(root, 'f'), 'first');
    await writeFile(path.join(root, 'g'), 'first');
    const nodeF = nodeId(await lstat(path.join(root, 'f')));
    const nodeG = nodeId(await lstat(path.join(root, 'g')));
    await rm(path.join(root, 'f'));
    await symlink(path.join(sb.outside, 'tripwire'), path.join(root, 'f'));
    await writeFile(path.join(root, 'g2'), 'second');
    await rename(path.join(root, 'g2'), path.join(root, 'g'));
    const result = await applyXattrs(root, [
      ['f', { ...nodeF, xattrs: new Map([['trusted.pwned', Buffer.from('1')]]) }],
      ['g', { ...nodeG, xattrs: new Map([['user.x', Buffer.from('1')]]) }],
    ]);
    assert.deepEqual(result.refused, [
      { rel: 'f', why: 'was replaced by another node' },
      { rel: 'g', why: 'was replaced by another node' },
    ]);
    assert.deepEqual(await xattrsOf(path.join(sb.outside, 'tripwire')), {}, 'HOST PATH WAS CHANGED');
    assert.deepEqual(await xattrsOf(path.join(root, 'g')), {});
    assert.equal(checkNode(root, '../x', nodeG), 'is not a clean path');
  });

  test('a layer that gives a file attributes and then turns its parent into a symlink to the host: nothing lands outside', async () => {
    const dir = await sb.newDir('layer-symlink-parent');
    const stats = await extractTar(
      tarOf([
        { name: 'a/', type: '5' },
        { name: 'a/tripwire', data: 'x', pax: [x('user.pwned', '1'), x('security.capability', CAP_NET_RAW)] },
        { name: 'a', type: '2', linkname: sb.outside },
        { name: 'b', data: 'kept', pax: [x('user.ok', '1')] },
      ]),
      dir,
    );
    assert.deepEqual(stats.xattrPaths, ['b'], 'the record under the replaced directory was dropped with it');
    assert.deepEqual(stats.warnings, []);
    assert.deepEqual(await xattrsOf(path.join(sb.outside, 'tripwire')), {}, 'HOST PATH WAS CHANGED');
    assert.deepEqual(await xattrsOf(path.join(dir, 'b')), { 'user.ok': hex('1') });
  });
});

describe('extraction applies what umoci applies', () => {
  test('user.*, trusted.*, security.capability on files, directories, symlinks and FIFOs; the ignored ones are counted', async () => {
    const dir = await sb.newDir('apply');
    const stats = await extractTar(
      tarOf([
        { name: 'd/', type: '5', pax: [x('user.d', 'dv'), x('trusted.overlay.opaque', 'y')] },
        { name: 'd/ping', data: '#!', pax: [x('security.capability', CAP_NET_RAW), x('user.bin', Buffer.from([0, 0xff, 0x0a]))] },
        { name: 'link', type: '2', linkname: 'd/ping', pax: [x('trusted.l', 'lv'), x('user.l', 'refused by the kernel on a symlink')] },
        { name: 'fifo', type: '6', pax: [x('trusted.f', 'fv')] },
        { name: WEIRD, data: 'w', pax: [x('user.w', 'wv')] },
        { name: 'sel', data: 's', pax: [x('security.selinux', 'system_u:object_r:bin_t:s0'), x('system.nfs4_acl', 'zz'), x('trusted.overlay.origin', 'o'), x('trusted.t', 'tv')] },
        { name: 'lib', data: 'l', pax: [['LIBARCHIVE.xattr.user.lib', 'bGli'], x('user.both', 'b')] },
        { name: 'empty', data: 'e', pax: [x('user.empty', '')] },
      ]),
      dir,
    );
    assert.deepEqual(await xattrsOf(path.join(dir, 'd')), { 'user.d': hex('dv') });
    assert.deepEqual(await xattrsOf(path.join(dir, 'd/ping')), { 'security.capability': hex(CAP_NET_RAW), 'user.bin': '00ff0a' });
    assert.deepEqual(await xattrsOf(path.join(dir, 'link')), { 'trusted.l': hex('lv') });
    assert.deepEqual(await xattrsOf(path.join(dir, 'fifo')), { 'trusted.f': hex('fv') });
    assert.deepEqual(await xattrsOf(path.join(dir, WEIRD)), { 'user.w': hex('wv') });
    assert.deepEqual(await xattrsOf(path.join(dir, 'sel')), { 'trusted.t': hex('tv') });
    assert.deepEqual(await xattrsOf(path.join(dir, 'lib')), { 'user.both': hex('b') });
    assert.deepEqual(await xattrsOf(path.join(dir, 'empty')), {});
    assert.deepEqual(stats.xattrPaths, ['d', 'd/ping', 'fifo', 'lib', 'link', 'sel', WEIRD].sort());
    assert.deepEqual(stats.warnings, [
      'ignored 7 extended attributes as umoci does, e.g. /d trusted.overlay.opaque: host-specific (umoci ignores it too)',
    ]);
  });

  test('a later entry at a path replaces its attributes; a hardlink shares the inode and its own records are ignored', async () => {
    const dir = await sb.newDir('replace');
    const stats = await extractTar(
      tarOf([
        { name: 'r', data: 'old', pax: [x('user.old', 'o')] },
        { name: 'r', data: 'new', pax: [x('user.new', 'n')] },
        { name: 'd/', type: '5', pax: [x('user.first', '1')] },
        { name: 'd/', type: '5' },
        { name: 'h1', data: 'h', pax: [x('user.h', 'hv')] },
        { name: 'h2', type: '1', linkname: 'h1', pax: [x('user.second', '2')] },
        { name: 'h1', data: 'replaced' },
      ]),
      dir,
    );
    assert.deepEqual(await xattrsOf(path.join(dir, 'r')), { 'user.new': hex('n') });
    assert.deepEqual(await xattrsOf(path.join(dir, 'd')), {}, 'a directory listed again without attributes has none (umoci clears them)');
    assert.deepEqual(await xattrsOf(path.join(dir, 'h2')), { 'user.h': hex('hv') }, 'the inode h1 had keeps its attributes through h2');
    assert.deepEqual(await xattrsOf(path.join(dir, 'h1')), {});
    assert.deepEqual(stats.xattrPaths, ['h2', 'r']);
    assert.match(stats.warnings.join('\n'), /ignored 1 extended attribute as umoci does, e\.g\. \/h2 user\.second: a hardlink entry's own are not applied/);
  });

  test('without setfattr on the PATH nothing is applied, and the warning says so, capabilities named', async () => {
    const dir = await sb.newDir('no-setfattr');
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    let stats;
    try {
      stats = await extractTar(tarOf([{ name: 'ping', data: '#!', pax: [x('security.capability', CAP_NET_RAW), x('user.a', 'b')] }, { name: 'other', data: 'o', pax: [x('user.a', 'b')] }]), dir);
    } finally {
      process.env.PATH = saved;
    }
    assert.deepEqual(stats.xattrPaths, []);
    assert.deepEqual(stats.warnings, [
      'extended attributes not applied on 2 entries (setfattr not found: install the attr package), e.g. /ping (file capabilities dropped on 1, e.g. /ping)',
    ]);
    assert.deepEqual(await xattrsOf(path.join(dir, 'ping')), {});
  });

  test('an attribute the kernel refuses (a malformed capability) is reported, the others still land', async () => {
    const dir = await sb.newDir('refused-value');
    const stats = await extractTar(tarOf([{ name: 'ping', data: '#!', pax: [x('security.capability', 'AAAA')] }, { name: 'ok', data: 'o', pax: [x('user.a', 'b')] }]), dir);
    assert.equal(stats.warnings.length, 1);
    assert.match(stats.warnings[0] ?? '', /^could not set 1 extended attribute, e\.g\. setfattr: .*\/ping: Invalid argument$/);
    assert.deepEqual(await xattrsOf(path.join(dir, 'ok')), { 'user.a': hex('b') });
  });
});

describe('PAX records', () => {
  test('SCHILY.xattr.* values keep their raw bytes (not UTF-8 decoded)', () => {
    const value = Buffer.from([0x01, 0x00, 0xff, 0xfe, 0x0a]);
    const xattrs = new Map<string, Buffer>();
    const records = decodePax(paxBytes([x('security.capability', value), ['comment', 'c']]), xattrs);
    assert.deepEqual(xattrs, new Map([['security.capability', value]]));
    assert.equal(records.get('comment'), 'c');
  });

  test("a global header's attributes are not applied (umoci refuses such a layer), and are counted", async () => {
    const dir = await sb.newDir('global');
    const g = paxBytes([x('user.global', 'g')]);
    const tar = Buffer.concat([rawHeader({ name: 'pax_global_header', typeflag: 'g', size: g.length }), blockData(g), tarOf([{ name: 'f', data: 'f' }])]);
    const stats = await extractTar(tar, dir);
    assert.deepEqual(await xattrsOf(path.join(dir, 'f')), {});
    assert.deepEqual(stats.warnings, ['ignored 1 extended attribute as umoci does, e.g. /f user.global: set by a global PAX header']);
  });
});

describe('XattrRecords', () => {
  test('replacing a directory drops the records below it; keeping it does not', () => {
    const r = new XattrRecords();
    const v = new Map([['user.a', Buffer.from('1')]]);
    const file = { ino: 1, fmt: 0o100000 };
    r.set('a/b/c', file, v);
    r.set('a/x', { ...file, ino: 2 }, v);
    r.set('ab', { ...file, ino: 3 }, v);
    r.drop('a', false);
    assert.equal(r.size, 3);
    r.drop('a/b', true);
    assert.deepEqual([...r.entries()].map(([k]) => k), ['a/x', 'ab']);
    r.drop('a', true);
    assert.deepEqual([...r.entries()].map(([k]) => k), ['ab']);
  });
});

describe('stackLayers carries the attributes', () => {
  async function extracted(entries: Entry[]): Promise<{ dir: string; implicitDirs: readonly string[]; xattrPaths: readonly string[] }> {
    const dir = await sb.newDir('stack-layer');
    const stats = await extractTar(tarOf(entries), dir);
    return { dir, implicitDirs: stats.implicitDirs, xattrPaths: stats.xattrPaths };
  }

  for (const mode of ['copy', 'hardlink'] as const) {
    for (const listed of [true, false]) {
      test(`${mode} mode, ${listed ? 'paths from the layer stats' : 'the whole layer read'}: files, directories, symlinks, FIFOs; a directory listed again loses what the lower layer set`, async () => {
        const lower = await extracted([
          { name: 'd/', type: '5', pax: [x('user.d', 'lower'), x('trusted.keep', 'k')] },
          { name: 'kept/', type: '5', pax: [x('user.k', 'k')] },
          { name: 'd/ping', data: '#!', pax: [x('security.capability', CAP_NET_RAW)] },
          { name: 'fifo', type: '6', pax: [x('trusted.f', 'fv')] },
          { name: 'link', type: '2', linkname: 'd/ping', pax: [x('trusted.l', 'lv')] },
          { name: WEIRD, data: 'w', pax: [x('user.w', Buffer.from([0, 0x0a]))] },
        ]);
        const upper = await extracted([
          { name: 'd/', type: '5', pax: [x('user.d', 'upper')] },
          { name: 'kept/file', data: 'f', pax: [x('user.f', 'f')] },
        ]);
        const rootfs = path.join(await sb.newDir('stack'), 'rootfs');
        const stats = await stackLayers(
          [lower, upper].map((l) => ({ dir: l.dir, implicitDirs: l.implicitDirs, ...(listed ? { xattrPaths: l.xattrPaths } : {}) })),
          rootfs,
          { mode },
        );
        assert.deepEqual(stats.warnings, []);
        assert.deepEqual(await xattrsOf(path.join(rootfs, 'd')), { 'user.d': hex('upper') }, "the upper entry's set replaces the lower one (as umoci clears it)");
        assert.deepEqual(await xattrsOf(path.join(rootfs, 'kept')), { 'user.k': hex('k') }, 'a directory the upper layer only passes through keeps its attributes');
        assert.deepEqual(await xattrsOf(path.join(rootfs, 'kept/file')), { 'user.f': hex('f') });
        assert.deepEqual(await xattrsOf(path.join(rootfs, 'd/ping')), { 'security.capability': hex(CAP_NET_RAW) });
        assert.deepEqual(await xattrsOf(path.join(rootfs, 'fifo')), { 'trusted.f': hex('fv') });
        assert.deepEqual(await xattrsOf(path.join(rootfs, 'link')), { 'trusted.l': hex('lv') });
        assert.deepEqual(await xattrsOf(path.join(rootfs, WEIRD)), { 'user.w': '000a' });
        const shared = (await lstat(path.join(rootfs, 'd/ping'))).ino === (await lstat(path.join(lower.dir, 'd/ping'))).ino;
        assert.equal(shared, mode === 'hardlink');
      });
    }
  }
});
