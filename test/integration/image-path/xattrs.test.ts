// Extended attributes, keel against umoci (issue 9: Parity with umoci): one
// image whose first layer GNU tar wrote from a tree given real attributes with
// setfattr (user.*, trusted.*, a file capability, host-specific ones) and whose
// second layer is a hand-made PAX tar with what only a hostile or unusual
// builder writes (libarchive's encoding, system.nfs4_acl, an empty value, a
// hardlink entry with records of its own, a directory listed again).
// `umoci raw add-layer` makes the image, skopeo pushes it to a real registry,
// then keel pull + keel unpack and umoci unpack must give every node the same
// attributes, as getfattr reads them. Needs root and the attr package.

import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { copyFile, link, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { runKeel, tempDir, type TempDir } from '../../helpers/run.ts';
import { compareTrees } from '../../helpers/tree.ts';

const execFile = promisify(execFileCb);
const run = (file: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> => execFile(file, [...args], { maxBuffer: 1 << 26, encoding: 'latin1' });

/** cap_net_raw+ep, VFS_CAP_REVISION_2 (what `setcap cap_net_raw+ep` writes). */
const CAP_NET_RAW = '0x0100000200200000000000000000000000000000';
const WEIRD = 'we ird\nnamé';

let registry: Registry;
let work: TempDir;

before(async () => {
  registry = await startRegistry();
  work = await tempDir('keel-xattrs-');
});

after(async () => {
  await registry?.stop();
  await work?.cleanup();
});

/** PAX records with raw values, for the hand-made layer. */
function pax(records: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of records) {
    const body = Buffer.from(` ${k}=${v}\n`);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.concat([Buffer.from(String(len)), body]));
  }
  return Buffer.concat(parts);
}

function header(name: string, type: string, size: number, linkname = ''): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0);
  b.write(`${(type === '5' ? 0o755 : 0o644).toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write(`${(1_700_000_000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  b.write(type, 156, 'latin1');
  b.write(linkname, 157);
  b.write('ustar\x0000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

const block = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);

/** A PAX tar: each entry [name, type, data, records]. */
function handTar(entries: ReadonlyArray<{ name: string; type?: string; data?: string; linkname?: string; records?: ReadonlyArray<readonly [string, string]> }>): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.records !== undefined) {
      const x = pax(e.records);
      parts.push(header('PaxHeaders/x', 'x', x.length), block(x));
    }
    const data = Buffer.from(e.data ?? '');
    parts.push(header(e.name, e.type ?? '0', data.length, e.linkname), block(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** Every node's attributes under `root` as getfattr sees them, one sorted line per attribute, paths relative. */
async function attributesOf(root: string): Promise<string[]> {
  const { stdout } = await execFile('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], { maxBuffer: 1 << 26, encoding: 'utf8' });
  const lines: string[] = [];
  let file = '';
  for (const line of stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8).slice(root.length) || '/';
    else if (line !== '') lines.push(`${file} ${line}`);
  }
  return lines.sort();
}

describe('extended attributes: keel pull + unpack give every node what umoci unpack gives it', () => {
  test('user.*, trusted.*, security.capability applied; security.selinux, overlay internals, libarchive records, hardlink records ignored', async () => {
    // layer 1: a real tree, attributes set by setfattr, written by GNU tar
    const src = path.join(work.path, 'src');
    await mkdir(path.join(src, 'usr/bin'), { recursive: true });
    await mkdir(path.join(src, 'etc/conf.d'), { recursive: true });
    await copyFile('/bin/true', path.join(src, 'usr/bin/ping'));
    await writeFile(path.join(src, 'etc/plain'), 'plain\n');
    await writeFile(path.join(src, 'etc/conf.d/a'), 'a\n');
    await writeFile(path.join(src, 'etc/labelled'), 'l\n');
    await writeFile(path.join(src, WEIRD), 'w\n');
    await writeFile(path.join(src, 'etc/replaced'), 'old\n');
    await link(path.join(src, 'etc/plain'), path.join(src, 'etc/plain-link'));
    await symlink('plain', path.join(src, 'etc/sym'));
    await run('mkfifo', [path.join(src, 'etc/fifo')]);
    const set = async (p: string, name: string, value: string): Promise<void> => void (await run('setfattr', ['-h', '-n', name, '-v', value, '--', path.join(src, p)]));
    await set('usr/bin/ping', 'security.capability', CAP_NET_RAW);
    await set('etc/plain', 'user.mime_type', 'text/plain');
    await set('etc/plain', 'user.bytes', '0x00ff0a3d5c');
    await set('etc/plain', 'trusted.md5', '0x0123');
    await set('etc/conf.d', 'user.dir', 'lower');
    await set('etc/conf.d', 'trusted.overlay.opaque', 'y');
    await set('etc', 'user.kept', 'k');
    await set('etc/labelled', 'security.selinux', 'system_u:object_r:etc_t:s0');
    await set('etc/labelled', 'trusted.overlay.origin', '0x00fb');
    await set('etc/labelled', 'user.next', 'n');
    await set(WEIRD, 'user.weird', 'w');
    await set('etc/replaced', 'user.old', 'o');
    await set('etc/sym', 'trusted.sym', 's');
    await set('etc/fifo', 'trusted.fifo', 'f');
    const layer1 = path.join(work.path, 'layer1.tar');
    await run('tar', ['--xattrs', "--xattrs-include=*", '--numeric-owner', '-cf', layer1, '-C', src, '.']);

    // layer 2: what GNU tar does not write
    const layer2 = path.join(work.path, 'layer2.tar');
    await writeFile(
      layer2,
      handTar([
        { name: 'etc/conf.d/', type: '5', records: [['SCHILY.xattr.user.upper', 'u']] },
        { name: 'etc/replaced', data: 'new\n', records: [['SCHILY.xattr.user.new', 'n']] },
        { name: 'etc/lib', data: 'l\n', records: [['LIBARCHIVE.xattr.user.lib', 'bGli'], ['SCHILY.xattr.user.both', 'b']] },
        { name: 'etc/nfs', data: 'n\n', records: [['SCHILY.xattr.system.nfs4_acl', 'zz'], ['SCHILY.xattr.trusted.overlay.redirect', 'r'], ['SCHILY.xattr.user.keep', 'k']] },
        { name: 'etc/empty', data: 'e\n', records: [['SCHILY.xattr.user.empty', '']] },
        { name: 'etc/h1', data: 'h\n', records: [['SCHILY.xattr.user.first', '1']] },
        { name: 'etc/h2', type: '1', linkname: 'etc/h1', records: [['SCHILY.xattr.user.second', '2']] },
        { name: 'etc/conf.d/b', data: 'b\n', records: [['SCHILY.xattr.trusted.b', 'b']] },
      ]),
    );

    const layout = path.join(work.path, 'layout');
    await run('umoci', ['init', '--layout', layout]);
    await run('umoci', ['new', '--image', `${layout}:xattrs`]);
    await run('umoci', ['raw', 'add-layer', '--image', `${layout}:xattrs`, layer1]);
    await run('umoci', ['raw', 'add-layer', '--image', `${layout}:xattrs`, layer2]);
    await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:xattrs`, `docker://${registry.host}/xattrs:1`]);

    const reference = path.join(work.path, 'umoci');
    await run('umoci', ['unpack', '--image', `${layout}:xattrs`, reference]);
    const store = path.join(work.path, 'store');
    const pulled = await runKeel(['--root', store, 'pull', '-q', `${registry.host}/xattrs:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const bundle = path.join(work.path, 'bundle');
    const unpacked = await runKeel(['--root', store, 'unpack', `${registry.host}/xattrs:1`, bundle]);
    assert.equal(unpacked.code, 0, unpacked.stderr);

    const rootfs = path.join(bundle, 'rootfs');
    const ours = await attributesOf(rootfs);
    const theirs = await attributesOf(path.join(reference, 'rootfs'));
    assert.deepEqual(ours, theirs);
    // and that is not two empty lists: what umoci applies, node by node
    assert.deepEqual(theirs, [
      `/${WEIRD.replace('\n', '\\012')} user.weird=0x77`,
      '/etc user.kept=0x6b',
      '/etc/conf.d user.upper=0x75',
      '/etc/conf.d/b trusted.b=0x62',
      '/etc/fifo trusted.fifo=0x66',
      '/etc/h1 user.first=0x31',
      '/etc/h2 user.first=0x31',
      '/etc/labelled user.next=0x6e',
      '/etc/lib user.both=0x62',
      '/etc/nfs user.keep=0x6b',
      '/etc/plain trusted.md5=0x0123',
      '/etc/plain user.bytes=0x00ff0a3d5c',
      '/etc/plain user.mime_type=0x746578742f706c61696e',
      '/etc/plain-link trusted.md5=0x0123',
      '/etc/plain-link user.bytes=0x00ff0a3d5c',
      '/etc/plain-link user.mime_type=0x746578742f706c61696e',
      '/etc/replaced user.new=0x6e',
      '/etc/sym trusted.sym=0x73',
      `/usr/bin/ping security.capability=${CAP_NET_RAW}`,
    ].sort());
    assert.deepEqual(await compareTrees(rootfs, path.join(reference, 'rootfs'), { ignoreRoot: true, names: ['keel', 'umoci'] }), []);

    // what keel ignored is said once per layer, with a count and an example
    const warnings = pulled.stderr.split('\n').filter((l) => l.startsWith('keel: warning:'));
    assert.equal(warnings.length, 2, pulled.stderr);
    // layers are extracted side by side: their lines come in either order
    const [first, second] = warnings.sort((a, b) => (a.includes('ignored 3') ? -1 : b.includes('ignored 3') ? 1 : 0));
    assert.match(first ?? '', /ignored 3 extended attributes as umoci does, e\.g\. \/etc\/\S+ \S+: host-specific \(umoci ignores it too\)$/);
    assert.match(second ?? '', /ignored 5 extended attributes as umoci does, e\.g\. \/etc\/lib LIBARCHIVE\.xattr\.user\.lib: libarchive encoding/);

    const checked = await runKeel(['--root', store, 'check']);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  });
});
