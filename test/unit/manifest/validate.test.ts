// The validator: exact positions and paths of problems, defaults applied to
// valid documents, every problem in a document reported at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, doc, problems } from './helpers.ts';

const INVALID: readonly (readonly [string, string, string[]])[] = [
  ['missing name and image', 'description: x\n', ['1:1 name: missing required key name', '1:1 image: missing required key image']],
  ['name with a slash', 'name: a/b\nimage: x\n', ['1:7 name: "a/b" is not lowercase letters, digits and -, starting with a letter, at most 63 characters']],
  ['name with .service', 'name: etcd.service\nimage: x\n', ['1:7 name: "etcd.service" is not lowercase letters, digits and -, starting with a letter, at most 63 characters']],
  ['name with @', 'name: "a@b"\nimage: x\n', ['1:7 name: "a@b" is not lowercase letters, digits and -, starting with a letter, at most 63 characters']],
  ['name with a newline', 'name: "a\\nb"\nimage: x\n', ['1:7 name: "a\\nb" is not lowercase letters, digits and -, starting with a letter, at most 63 characters']],
  ['name ..', 'name: ..\nimage: x\n', ['1:7 name: ".." is not lowercase letters, digits and -, starting with a letter, at most 63 characters']],
  ['reserved name', 'name: keel\nimage: x\n', ['1:7 name: the name keel is reserved (keel.service is keel\'s own unit)']],
  ['bad image', 'name: a\nimage: "UPPER/Case"\n', ['2:8 image: invalid image reference "UPPER/Case": invalid repository component "UPPER" (lowercase letters, digits and . _ - only)']],
  ['unknown key', doc('workingdir: /srv\n'), ['3:1 workingdir: unknown key "workingdir"']],
  ['enum typo', doc('network: hots\n'), ['3:10 network: "hots" is not one of host, none, private']],
  ['yes is not a boolean', doc('readOnlyRootfs: yes\n'), ['3:17 readOnlyRootfs: expected true or false, found the string "yes"']],
  ['empty value', doc('description:\n'), ['3:13 description: expected a string, found an empty value (null)']],
  ['number where a string is needed', doc('env:\n  PORT: 8080\n'), ['4:9 env.PORT: expected a string, found the number 8080']],
  ['bad env name', doc('env:\n  "A=B": x\n'), ['4:3 env."A=B": "A=B" is not an environment variable name: letters, digits and _, not starting with a digit']],
  ['relative workingDir', doc('workingDir: srv\n'), ['3:13 workingDir: "srv" is not an absolute, normalised path (no "..", "." or empty components, no trailing "/")']],
  ['dotdot in a mount source', doc('mounts:\n  - type: bind\n    source: /var/../etc\n    target: /etc\n'), ['5:13 mounts[0].source: "/var/../etc" is not an absolute, normalised path (no "..", "." or empty components, no trailing "/")']],
  ['bad propagation and unknown mount key', doc('mounts:\n  - type: bind\n    source: /a\n    target: /a\n    propagation: both\n    ro: true\n'), [
    '7:18 mounts[0].propagation: "both" is not one of private, rprivate, slave, rslave, shared, rshared',
    '8:5 mounts[0].ro: unknown key "ro"',
  ]],
  ['mount without type', doc('mounts:\n  - source: /a\n    target: /a\n'), ['4:5 mounts[0].type: missing required key type']],
  ['tmpfs with a source', doc('mounts:\n  - type: tmpfs\n    target: /tmp\n    source: /x\n'), ['6:5 mounts[0].source: unknown key "source"']],
  ['tmpfs mode as a YAML integer', doc('mounts:\n  - {type: tmpfs, target: /tmp, mode: 0755}\n'), ['4:39 mounts[0].mode: expected a string, found the number 755']],
  ['bind without target', doc('mounts:\n  - type: bind\n    source: /a\n'), ['4:5 mounts[0].target: missing required key target']],
  ['sensitive source', doc('mounts:\n  - type: bind\n    source: /proc/sys\n    target: /p\n'), ['5:13 mounts[0].source: /proc/sys is under /proc, a host path a container may not see by default']],
  ['host root', doc('mounts:\n  - {type: bind, source: /, target: /host}\n'), ['4:26 mounts[0].source: / is a host path a container may not see by default']],
  ['duplicate mount target', doc('mounts:\n  - {type: tmpfs, target: /tmp}\n  - {type: tmpfs, target: /tmp}\n'), ['5:27 mounts[1].target: target /tmp is already mounted by mounts[0]']],
  ['capability without CAP_', doc('capabilities:\n  add: [NET_ADMIN]\n'), ['4:9 capabilities.add[0]: "NET_ADMIN" is not one of the allowed values']],
  ['capability added and dropped', doc('capabilities:\n  add: [CAP_NET_ADMIN]\n  drop: [CAP_NET_ADMIN]\n'), ['4:9 capabilities.add[0]: CAP_NET_ADMIN is both added and dropped']],
  ['capability listed twice', doc('capabilities:\n  add: [CAP_BPF, CAP_BPF]\n'), ['4:18 capabilities.add[1]: "CAP_BPF" is listed twice']],
  ['cpuWeight out of range', doc('resources:\n  cpuWeight: 0\n  memoryMax: 12X\n'), [
    '4:14 resources.cpuWeight: 0 is less than the minimum 1',
    '5:14 resources.memoryMax: "12X" is not a size with an optional K, M, G or T suffix (e.g. 512M), or infinity',
  ]],
  ['restart policy', doc('restart:\n  policy: sometimes\n  delaySec: -1\n'), [
    '4:11 restart.policy: "sometimes" is not one of no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always',
    '5:13 restart.delaySec: -1 is less than the minimum 0',
  ]],
  ['stop signal', doc('stopSignal: TERM\n'), ['3:13 stopSignal: "TERM" is not one of SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGKILL, SIGUSR1, SIGUSR2, SIGWINCH, SIGPWR, SIGABRT, SIGALRM']],
  ['stop timeout text', doc('stopTimeout: soon\n'), ['3:14 stopTimeout: "soon" is not seconds, or a duration like 30s, 2min, 1m30s, 500ms']],
  ['stop timeout too long', doc('stopTimeout: 25h\n'), ['3:14 stopTimeout: stop timeout 25h is not between 1s and 24h']],
  ['user', doc('user: "root:"\n'), ['3:7 user: "root:" is not user, uid, user:group or uid:gid']],
  ['command must not be empty', doc('command: []\n'), ['3:10 command: must have at least 1 item']],
  ['args must be strings', doc('args: [--port, 2379]\n'), ['3:16 args[1]: expected a string, found the number 2379']],
  ['ordering reference syntax', doc('after: ["a/b.service", "x y"]\n'), [
    '3:9 after[0]: "a/b.service" is not a system container name (etcd) or a host unit name with its suffix (network-online.target)',
    '3:24 after[1]: "x y" is not a system container name (etcd) or a host unit name with its suffix (network-online.target)',
  ]],
  ['unknown container reference', doc('after: [etcd]\n'), ['3:9 after[0]: unknown system container etcd']],
  ['self reference', doc('requires: [web]\n'), ['3:12 requires[0]: web cannot refer to itself']],
  ['pull', doc('pull: sometimes\n'), ['3:7 pull: "sometimes" is not one of missing, always, never']],
  ['not a mapping', '- name: a\n', ['1:1 : a manifest document must be a mapping (name: …, image: …)']],
  ['non-string key', doc('1: x\n'), ['3:1 : keys must be strings, found the number 1']],
  ['NUL in a string', doc('args: ["a\\0b"]\n'), ['3:8 args[0]: contains a NUL character']],
  ['merge keys are not special', doc('<<: {a: 1}\n'), ['3:1 "<<": unknown key "<<"']],
  ['unknown tag', doc('args: !!binary aGk=\n'), ['3:7 : YAML: Unresolved tag: tag:yaml.org,2002:binary']],
];

for (const [what, text, expected] of INVALID) {
  test(`invalid: ${what}`, () => {
    const r = check(text);
    assert.deepEqual(r.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`), expected);
    assert.deepEqual(r.specs, [], 'an invalid document yields no spec');
  });
}

test('every problem of a document is reported at once, in position order', () => {
  const got = problems('name: Bad\nimage: x\nnetwork: lan\npid: shared\nipc: 3\nfoo: 1\n');
  assert.equal(got.length, 5);
  assert.deepEqual(got.map((p) => p.split(' ')[0]), ['1:7', '3:10', '4:6', '5:6', '6:1']);
});

test('unknown keys get the nearest known key as a hint', () => {
  const r = check(doc('workingdir: /srv\nreadonlyRootFS: false\nmount: []\n'));
  assert.deepEqual(r.problems.map((p) => p.hint), ['did you mean workingDir?', 'did you mean readOnlyRootfs?', 'did you mean mounts?']);
  const far = check(doc('zzzzzz: 1\n')).problems[0];
  assert.match(far?.hint ?? '', /^known keys: name, image,/);
});

test('enum values and capabilities get suggestions', () => {
  assert.equal(check(doc('capabilities:\n  add: [NET_ADMIN]\n')).problems[0]?.hint, 'did you mean CAP_NET_ADMIN?');
  assert.equal(check(doc('stopSignal: TERM\n')).problems[0]?.hint, 'did you mean SIGTERM?');
  assert.equal(check(doc('network: hots\n')).problems[0]?.hint, 'did you mean host?');
  assert.equal(check(doc('after: [etcdd]\n---\nname: etcd\nimage: x\n')).problems[0]?.hint, 'did you mean etcd?');
});

test('a minimal document gets every default', () => {
  const { specs, problems: p } = check(doc());
  assert.deepEqual(p, []);
  const s = specs[0];
  assert.ok(s);
  assert.equal(s.unit, 'web.service');
  assert.deepEqual({ ...s.reference }, { transport: 'registry', registry: 'docker.io', repository: 'library/nginx', tag: '1.27', digest: undefined });
  assert.equal(s.description, 'keel system container web');
  assert.equal(s.command, undefined);
  assert.equal(s.args, undefined);
  assert.deepEqual(s.env, {});
  assert.equal(s.readOnlyRootfs, true);
  assert.equal(s.network, 'host');
  assert.equal(s.pid, 'private');
  assert.equal(s.ipc, 'private');
  assert.equal(s.hostFiles, true);
  assert.deepEqual(s.capabilities, ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_SETFCAP']);
  assert.deepEqual(s.resources, { memoryMaxBytes: undefined, cpuWeight: undefined, tasksMax: undefined, nofile: 65536 });
  assert.deepEqual(s.restart, { policy: 'on-failure', delaySec: 5 });
  assert.equal(s.notify, false);
  assert.equal(s.stopSignal, 'SIGTERM');
  assert.equal(s.stopTimeoutSec, 30);
  assert.equal(s.pull, 'missing');
  assert.deepEqual(s.source, { file: 'm.yaml', line: 1 });
  assert.ok(Object.isFrozen(s) && Object.isFrozen(s.resources) && Object.isFrozen(s.capabilities));
});

test('a full document is parsed into typed values', () => {
  const { specs, problems: p } = check(`
name: full
image: 127.0.0.1:5000/app@sha256:${'a'.repeat(64)}
description: The full thing
command: [/bin/app]
args: [--serve, ""]
env: {B: "2", A: "1"}
workingDir: /srv
user: "1000:app"
mounts:
  - {type: bind, source: /var/lib/full, target: /data, readOnly: false, propagation: rshared, create: true}
  - {type: bind, source: /sys/fs/cgroup, target: /sys/fs/cgroup, allowSensitive: true}
  - {type: tmpfs, target: /tmp, size: 64M, mode: "0700"}
readOnlyRootfs: false
network: none
pid: host
ipc: host
capabilities: {drop: [ALL], add: [CAP_NET_ADMIN, CAP_CHOWN]}
resources: {memoryMax: 1G, cpuWeight: 200, tasksMax: 512, nofile: 4096}
restart: {policy: always, delaySec: 0.5}
notify: true
stopSignal: SIGINT
stopTimeout: 1min30s
after: [network-online.target, other]
before: [getty@tty1.service]
requires: [other.service]
wants: [other]
pull: never
---
name: other
image: oci:/srv/layout:v1
network: private
hostFiles: true
resources: {memoryMax: infinity, tasksMax: infinity}
capabilities: {add: [ALL]}
user: 0
stopTimeout: 1500ms
`);
  assert.deepEqual(p, []);
  const [s, o] = specs;
  assert.ok(s && o);
  assert.equal(s.source.line, 2);
  assert.equal(s.reference.transport, 'registry');
  assert.deepEqual(s.command, ['/bin/app']);
  assert.deepEqual(s.args, ['--serve', '']);
  assert.deepEqual(Object.entries(s.env), [['B', '2'], ['A', '1']]);
  assert.deepEqual(s.user, { user: '1000', group: 'app' });
  assert.deepEqual(s.mounts, [
    { type: 'bind', source: '/var/lib/full', target: '/data', readOnly: false, propagation: 'rshared', create: true, allowSensitive: false },
    { type: 'bind', source: '/sys/fs/cgroup', target: '/sys/fs/cgroup', readOnly: true, propagation: 'rprivate', create: false, allowSensitive: true },
    { type: 'tmpfs', target: '/tmp', sizeBytes: 64 * 1024 * 1024, mode: 0o700 },
  ]);
  assert.equal(s.hostFiles, false, 'hostFiles defaults to false off the host network');
  assert.deepEqual(s.capabilities, ['CAP_CHOWN', 'CAP_NET_ADMIN']);
  assert.deepEqual(s.resources, { memoryMaxBytes: 1024 ** 3, cpuWeight: 200, tasksMax: 512, nofile: 4096 });
  assert.deepEqual(s.restart, { policy: 'always', delaySec: 0.5 });
  assert.equal(s.stopTimeoutSec, 90);
  assert.deepEqual(s.after, ['network-online.target', 'other.service']);
  assert.deepEqual(s.before, ['getty@tty1.service']);
  assert.deepEqual(s.requires, ['other.service']);
  assert.deepEqual(s.wants, ['other.service']);
  assert.equal(s.pull, 'never');
  assert.equal(o.source.line, 30);
  assert.equal(o.reference.transport, 'oci');
  assert.equal(o.hostFiles, true);
  assert.equal(o.capabilities.length, 41);
  assert.deepEqual(o.resources, { memoryMaxBytes: undefined, cpuWeight: undefined, tasksMax: 'infinity', nofile: 65536 }, 'memoryMax: infinity is no limit (unset); tasksMax: infinity lifts the default');
  assert.deepEqual(o.user, { user: '0', group: undefined });
  assert.equal(o.stopTimeoutSec, 1.5);
});
