// The command line as a user meets it: help, version, usage errors with
// stable codes and sysexits statuses, global options on either side of the
// command, and progress output.

import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { COMMANDS } from '../../src/cli/main.ts';
import { KEEL_BIN, runKeel, tempDir, type TempDir } from '../helpers/run.ts';

const execFile = promisify(execFileCb);
let work: TempDir;
let layout: string;

before(async () => {
  work = await tempDir('keel-cli-');
  layout = path.join(work.path, 'layout');
  await execFile('umoci', ['init', '--layout', layout]);
  await execFile('umoci', ['new', '--image', `${layout}:empty`]);
  const bundle = path.join(work.path, 'bundle');
  await execFile('umoci', ['unpack', '--image', `${layout}:empty`, bundle]);
  await execFile('dd', ['if=/dev/urandom', `of=${bundle}/rootfs/blob`, 'bs=1M', 'count=4']);
  await execFile('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:one`, bundle]);
});
after(async () => work?.cleanup());

test('--help lists every command; every command has --help', async () => {
  const help = await runKeel(['--help']);
  assert.equal(help.code, 0);
  for (const c of COMMANDS) {
    assert.match(help.stdout, new RegExp(`^  ${c.name} `, 'm'));
    const own = await runKeel([c.name, '--help']);
    assert.equal(own.code, 0, `${c.name} --help`);
    assert.match(own.stdout, new RegExp(`^Usage: keel ${c.name}`));
  }
});

test('--version prints the package version', async () => {
  const r = await runKeel(['--version']);
  assert.match(r.stdout, /^keel \d+\.\d+\.\d+\n$/);
});

test('usage errors exit 64 with E_USAGE and a hint', async () => {
  for (const args of [['frob'], ['pull'], ['unpack', 'x'], ['images', 'extra'], ['pull', '--no-such-flag', 'x']]) {
    const r = await runKeel(args);
    assert.equal(r.code, 64, args.join(' '));
    assert.match(r.stderr, /\[E_USAGE\]/);
    assert.match(r.stderr, /hint:/);
  }
});

test('global options work before and after the command, and with =', async () => {
  const store = path.join(work.path, 'store');
  for (const args of [['--root', store, 'pull', `oci:${layout}:empty`], ['pull', `--root=${store}`, `oci:${layout}:empty`]]) {
    const r = await runKeel(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^sha256:[a-f0-9]{64}\n$/);
  }
  const listed = await runKeel(['images', '--root', store]);
  assert.match(listed.stdout, /localhost\/layout:empty/);
});

test('without a terminal, pull prints one summary line per image on stderr', async () => {
  const r = await runKeel(['--root', path.join(work.path, 'store2'), 'pull', `oci:${layout}:empty`]);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^localhost\/layout:empty: sha256:[a-f0-9]{64} \(0 layers, 0 cached/);
});

test('on a terminal, pull draws progress bars', async () => {
  // script(1) gives keel a pseudo-terminal.
  const store = path.join(work.path, 'store3');
  const { stdout } = await execFile('script', ['-qec', `${KEEL_BIN} --root ${store} pull oci:${layout}:one`, '/dev/null']);
  assert.match(stdout, /^localhost\/layout:one\r?$/m, 'the image name heads the bars');
  assert.match(stdout, /[0-9a-f]{12} \[=+ *\] [0-9.]+ [kM]B \/ [0-9.]+ [kM]B/, 'a bar per layer with bytes');
});

test('a missing image source is E_IMAGE_NOT_FOUND, exit 66', async () => {
  const r = await runKeel(['--root', path.join(work.path, 'store4'), 'pull', `oci:${work.path}/nope:x`]);
  assert.equal(r.code, 66, r.stderr);
  assert.match(r.stderr, /\[E_IMAGE_NOT_FOUND\]/);
});

test('pull --json pulls every image even when one fails, and says which with its code', async () => {
  const r = await runKeel(['--root', path.join(work.path, 'store5'), 'pull', '--json', `oci:${work.path}/nope:x`, `oci:${layout}:empty`]);
  assert.equal(r.code, 66, r.stderr);
  const doc = JSON.parse(r.stdout) as { version: number; images: Array<{ input: string; status: string; digest?: string; name?: string; error?: { code: string } }> };
  assert.equal(doc.version, 1);
  assert.deepEqual(doc.images.map((i) => [i.status, i.error?.code]), [['failed', 'E_IMAGE_NOT_FOUND'], ['ok', undefined]]);
  assert.equal(doc.images[1]?.name, 'localhost/layout:empty');
  assert.match(doc.images[1]?.digest ?? '', /^sha256:[0-9a-f]{64}$/);
});

test('validate --json gives every problem with file, line, column, key and hint', async () => {
  const bad = path.join(work.path, 'bad.yaml');
  await execFile('sh', ['-c', `printf 'name: x\\nimage: busybox\\nnetwork: hots\\nworkingdir: /\\n' > ${bad}`]);
  const r = await runKeel(['validate', '--json', bad]);
  assert.equal(r.code, 78, r.stderr);
  const doc = JSON.parse(r.stdout) as { version: number; valid: boolean; problems: Array<Record<string, unknown>> };
  assert.equal(doc.version, 1);
  assert.equal(doc.valid, false);
  assert.deepEqual(doc.problems.map((p) => [p['line'], p['column'], p['key'], p['hint']]), [[3, 10, 'network', 'did you mean host?'], [4, 1, 'workingdir', 'did you mean workingDir?']]);
  const good = await runKeel(['validate', '--json', path.join(path.dirname(KEEL_BIN), '..', 'manifests', 'etcd.yaml')]);
  assert.equal(good.code, 0, good.stderr);
  assert.deepEqual((JSON.parse(good.stdout) as { containers: Array<{ name: string }> }).containers.map((c) => c.name), ['etcd']);
});

test('completion bash prints a script bash accepts, fish one for fish; another shell is E_USAGE', async () => {
  const r = await runKeel(['completion', 'bash']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /complete -F _keel keel/);
  await execFile('bash', ['-n', '-c', r.stdout]);
  const other = await runKeel(['completion', 'tcsh']);
  assert.equal(other.code, 64);
  assert.match(other.stderr, /keel completes in: bash, fish \[E_USAGE\]/);
  const fish = await runKeel(['completion', 'fish']);
  assert.equal(fish.code, 0, fish.stderr);
  assert.match(fish.stdout, /^complete -c keel -f$/m);
});

test('prune and rmi on a --root that holds no store say so (E_STORE_NOT_FOUND, 66) and create nothing', async () => {
  const missing = path.join(work.path, 'no-store-here');
  for (const args of [['prune'], ['rmi', 'etcd']]) {
    const r = await runKeel(['--root', missing, ...args]);
    assert.equal(r.code, 66, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /\[E_STORE_NOT_FOUND\]/);
    await assert.rejects(execFile('test', ['-e', missing]), `${args[0]} created ${missing}`);
  }
});
