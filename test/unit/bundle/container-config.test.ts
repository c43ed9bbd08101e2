// config.json rendering: goldens (a fixed image config + ContainerSpec -> exact bytes) and the
// override rules (Kubernetes command/args, env precedence, cwd, namespaces, host files).

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { KeelError } from '../../../src/errors.ts';
import {
  containerArgs, containerCwd, containerEnv, renderContainerConfig, serializeRuntimeConfig, wantedHostFiles,
} from '../../../src/bundle/index.ts';
import { IMAGE, specOf } from './helpers.ts';

const ETCDISH = `
name: demo
image: registry.example/demo:1
command: [/usr/local/bin/demo]
args: [--data=/var/lib/demo, "--name=\${HOSTNAME}"]
env: { MODE: manifest, EXTRA: "1" }
user: "1000:1000"
workingDir: /var/lib/demo
mounts:
  - { type: bind, source: /var/lib/demo, target: /var/lib/demo, readOnly: false, create: true }
  - { type: bind, source: /etc/ssl/certs, target: /etc/ssl/certs, propagation: rslave }
  - { type: tmpfs, target: /tmp, size: 64M }
  - { type: tmpfs, target: /run/demo, mode: "0700" }
capabilities: { drop: [ALL], add: [CAP_NET_BIND_SERVICE] }
resources: { nofile: 4096 }
`;

const PRIVATE = `
name: lonely
image: registry.example/demo:1
network: none
pid: private
ipc: host
readOnlyRootfs: false
`;

async function golden(name: string, bytes: string): Promise<void> {
  const file = new URL(`./golden/${name}`, import.meta.url);
  if (process.env['KEEL_UPDATE_GOLDEN'] === '1') await writeFile(file, bytes);
  assert.equal(bytes, await readFile(file, 'utf8'), `golden ${name} differs (KEEL_UPDATE_GOLDEN=1 rewrites it)`);
}

describe('renderContainerConfig', () => {
  it('renders the host-network golden byte for byte', async () => {
    const spec = specOf(ETCDISH);
    const config = renderContainerConfig({
      image: IMAGE, spec, user: { uid: 1000, gid: 1000, additionalGids: [4, 27], home: '/home/demo' },
      rootPath: '/var/lib/keel/rootfs/sha256/1111/rootfs', hostFiles: wantedHostFiles(spec), cgroupsPath: '/system.slice/demo.service/container',
      annotations: { 'io.keel.container.name': 'demo' },
    });
    await golden('host-network.json', serializeRuntimeConfig(config));
  });

  it('renders the private-namespaces golden byte for byte', async () => {
    const spec = specOf(PRIVATE);
    const config = renderContainerConfig({ image: IMAGE, spec, user: { uid: 1, gid: 1, additionalGids: [] }, rootPath: 'rootfs', hostFiles: wantedHostFiles(spec) });
    await golden('private.json', serializeRuntimeConfig(config));
  });

  it('is deterministic: the same inputs give the same bytes', () => {
    const a = serializeRuntimeConfig(renderContainerConfig({ image: IMAGE, spec: specOf(ETCDISH), user: { uid: 0, gid: 0, additionalGids: [] }, rootPath: 'r', hostFiles: [] }));
    const b = serializeRuntimeConfig(renderContainerConfig({ image: IMAGE, spec: specOf(ETCDISH), user: { uid: 0, gid: 0, additionalGids: [] }, rootPath: 'r', hostFiles: [] }));
    assert.equal(a, b);
  });

  it('command replaces Entrypoint and drops Cmd; args alone replaces Cmd (Kubernetes rules)', () => {
    const base = 'name: x\nimage: r.example/x:1\n';
    assert.deepEqual(containerArgs(IMAGE, specOf(base)), ['/bin/server', '--serve']);
    assert.deepEqual(containerArgs(IMAGE, specOf(`${base}command: [/bin/other]\n`)), ['/bin/other']);
    assert.deepEqual(containerArgs(IMAGE, specOf(`${base}args: [--x]\n`)), ['/bin/server', '--x']);
    assert.deepEqual(containerArgs(IMAGE, specOf(`${base}command: [/a]\nargs: [b]\n`)), ['/a', 'b']);
    const empty = { ...IMAGE, config: { ...IMAGE.config, Entrypoint: undefined, Cmd: undefined } };
    assert.throws(() => containerArgs(empty, specOf(base)), (e: unknown) => e instanceof KeelError && e.code === 'E_MANIFEST_INVALID');
  });

  it('spec env overrides image env in place, appends new names, adds HOME from passwd', () => {
    const env = containerEnv(IMAGE, specOf(ETCDISH), { uid: 1, gid: 1, additionalGids: [], home: '/home/d' });
    assert.deepEqual(env, ['PATH=/usr/bin:/bin', 'LANG=C.UTF-8', 'MODE=manifest', 'EXTRA=1', 'HOME=/home/d']);
  });

  it('cwd: spec, else the image WorkingDir normalised inside the container, else /', () => {
    assert.equal(containerCwd(IMAGE, specOf(ETCDISH)), '/var/lib/demo');
    assert.equal(containerCwd(IMAGE, specOf('name: x\nimage: r.example/x:1\n')), '/data');
    const evil = { ...IMAGE, config: { ...IMAGE.config, WorkingDir: '../../../../etc' } };
    assert.equal(containerCwd(evil, specOf('name: x\nimage: r.example/x:1\n')), '/etc');
  });

  it('image Volumes never become mounts', () => {
    const config = renderContainerConfig({ image: IMAGE, spec: specOf('name: x\nimage: r.example/x:1\n'), user: { uid: 0, gid: 0, additionalGids: [] }, rootPath: 'r', hostFiles: [] });
    assert.ok(!config.mounts.some((m) => m['destination'] === '/data'));
  });

  it('host network shares the host UTS namespace and gets host files; hostFiles: false does not', () => {
    const on = specOf('name: x\nimage: r.example/x:1\n');
    assert.deepEqual(wantedHostFiles(on), ['/etc/hosts', '/etc/resolv.conf']);
    const c = renderContainerConfig({ image: IMAGE, spec: on, user: { uid: 0, gid: 0, additionalGids: [] }, rootPath: 'r', hostFiles: wantedHostFiles(on) });
    assert.equal(c.hostname, undefined);
    const ns = (c.linux['namespaces'] as Array<{ type: string }>).map((n) => n.type);
    assert.deepEqual(ns, ['mount', 'pid', 'ipc', 'cgroup']);
    const off = specOf('name: x\nimage: r.example/x:1\nhostFiles: false\n');
    assert.deepEqual(wantedHostFiles(off), []);
    const c2 = renderContainerConfig({ image: IMAGE, spec: off, user: { uid: 0, gid: 0, additionalGids: [] }, rootPath: 'r', hostFiles: [] });
    assert.equal(c2.hostname, 'x');
    assert.ok(!c2.mounts.some((m) => m['destination'] === '/etc/hosts'));
  });

  it('a spec mount on /etc/hosts replaces the host file', () => {
    const s = specOf('name: x\nimage: r.example/x:1\nmounts: [{ type: bind, source: /var/tmp, target: /etc/hosts }]\n');
    assert.deepEqual(wantedHostFiles(s), ['/etc/resolv.conf']);
  });
});
