// credentials, envFiles and init in the rendered bundle (issue 11): config.json's env, mounts and
// args; the inputs digest following an env file's content (and agreeing with the planner's); the
// errors for a missing env file or init binary, with nothing written; and no credential value
// anywhere keel writes.

import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import {
  INIT_PATH, SECRETS_DIR, containerEnv, plannedInputsDigest, renderBundle, renderContainerConfig, sharedRootfsDir, specInputs, wantedHostFiles,
  type RenderImage,
} from '../../../src/bundle/index.ts';
import { isKeelError } from '../../../src/errors.ts';
import { IMAGE, MANIFEST, specOf, tempDir } from './helpers.ts';

const USER = { uid: 0, gid: 0, additionalGids: [] } as const;
const BASE = 'name: demo\nimage: r.example/demo:1\n';

function config(extra: string, fileEnv: Record<string, string> = {}, initBinary?: string) {
  const spec = specOf(BASE + extra);
  return renderContainerConfig({
    image: IMAGE, spec, user: USER, rootPath: 'rootfs', hostFiles: wantedHostFiles(spec), fileEnv, ...(initBinary !== undefined ? { initBinary } : {}),
  }) as unknown as { process: { args: string[]; env: string[] }; mounts: Array<{ destination: string; type: string; source: string; options?: string[] }> };
}

describe('config.json for envFiles, credentials and init', () => {
  it('env: image, then the env files, then env:, each replacing in place', () => {
    const spec = specOf(`${BASE}env: { MODE: manifest, ONLY_SPEC: s }\nenvFiles: [/etc/a.env]\n`);
    const env = containerEnv(IMAGE, spec, { ...USER, home: '/root' }, { LANG: 'file', MODE: 'file', ONLY_FILE: 'f' });
    assert.deepEqual(env, ['PATH=/usr/bin:/bin', 'LANG=file', 'MODE=manifest', 'ONLY_FILE=f', 'ONLY_SPEC=s', 'HOME=/root']);
  });

  it('credentials: the unit\'s credentials directory bound read-only at /run/secrets, last, and CREDENTIALS_DIRECTORY set', () => {
    const c = config('mounts: [{type: tmpfs, target: /run}]\ncredentials:\n  - {name: peer-key, file: /etc/keel/creds/peer.key}\n  - {name: token, encryptedFile: /etc/keel/creds/token.cred}\n');
    const last = c.mounts[c.mounts.length - 1];
    assert.deepEqual(last, { destination: SECRETS_DIR, type: 'bind', source: '/run/credentials/demo.service', options: ['rbind', 'ro', 'rprivate', 'nosuid', 'nodev', 'noexec'] });
    assert.ok(c.mounts.findIndex((m) => m.destination === '/run') < c.mounts.length - 1, 'after a tmpfs on /run, so not hidden by it');
    assert.ok(c.process.env.includes('CREDENTIALS_DIRECTORY=/run/secrets'));
    assert.ok(!JSON.stringify(c).includes('/etc/keel/creds'), 'config.json does not name the credential files');
  });

  it('no credentials: no mount, no CREDENTIALS_DIRECTORY', () => {
    const c = config('');
    assert.ok(!c.mounts.some((m) => m.destination === SECRETS_DIR));
    assert.ok(!c.process.env.some((e) => e.startsWith('CREDENTIALS_DIRECTORY=')));
  });

  it('init: tini bound read-only (executable) at /run/keel/init and put in front of the command', () => {
    const c = config('init: true\n', {}, '/opt/tini');
    assert.deepEqual(c.process.args, [INIT_PATH, '--', '/bin/server', '--serve']);
    assert.deepEqual(c.mounts[c.mounts.length - 1], { destination: INIT_PATH, type: 'bind', source: '/opt/tini', options: ['bind', 'ro', 'rprivate', 'nosuid', 'nodev'] });
    assert.equal(config('init: true\n').mounts.at(-1)?.source, '/usr/bin/tini-static');
  });

  it('init with pid: host runs tini as a subreaper (-s), it is not PID 1 there', () => {
    assert.deepEqual(config('init: true\npid: host\ncommand: [/bin/sh, -c, "sleep 1"]\n').process.args, [INIT_PATH, '-s', '--', '/bin/sh', '-c', 'sleep 1']);
  });

  it('without init the args are the command\'s', () => {
    assert.deepEqual(config('').process.args, ['/bin/server', '--serve']);
  });

  it('specInputs leaves the new keys out at their defaults (a keel upgrade does not restart containers that do not use them)', () => {
    const plain = specInputs(specOf(BASE));
    for (const k of ['envFiles', 'credentials', 'init']) assert.ok(!(k in plain), k);
    const used = specInputs(specOf(`${BASE}envFiles: [/etc/a.env]\ninit: true\ncredentials: [{name: t, file: /etc/t}]\n`));
    assert.deepEqual(used['envFiles'], ['/etc/a.env']);
    assert.equal(used['init'], true);
    assert.deepEqual(used['credentials'], [{ name: 't', file: '/etc/t', encrypted: false }]);
  });
});

describe('renderBundle with envFiles, credentials and init', () => {
  const SECRET = 'pl41n-cr3dential-value';
  let tmp: { path: string; cleanup(): Promise<void> };
  let root: string;
  let image: RenderImage;
  let envFile: string;
  let tini: string;
  let credFile: string;
  const opts = (): { cgroupsPath: null; hostFileExists: () => Promise<boolean>; initBinary: string } => ({ cgroupsPath: null, hostFileExists: async () => false, initBinary: tini });
  const spec = (extra = ''): ReturnType<typeof specOf> => specOf(`${BASE}envFiles: [${envFile}]\ninit: true\ncredentials: [{name: peer-key, file: ${credFile}}]\n${extra}`);

  before(async () => {
    tmp = await tempDir('keel-bundle-secrets-');
    root = `${tmp.path}/keel`;
    envFile = `${tmp.path}/demo.env`;
    tini = `${tmp.path}/tini-static`;
    credFile = `${tmp.path}/peer.key`;
    await mkdir(root, { mode: 0o700 });
    const a = `${tmp.path}/layers/a`;
    const b = `${tmp.path}/layers/b`;
    await mkdir(`${a}/bin`, { recursive: true });
    await mkdir(`${a}/etc`, { recursive: true });
    await mkdir(b, { recursive: true });
    await writeFile(`${a}/bin/server`, '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(`${a}/etc/passwd`, 'root:x:0:0::/root:/bin/sh\ndaemon:x:1:1::/usr/sbin:/bin/false\n');
    await writeFile(`${a}/etc/group`, 'root:x:0:\ndaemon:x:1:\n');
    await writeFile(envFile, 'DB_USER=keel\nDB_PASS=first\n');
    await writeFile(tini, '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(credFile, SECRET, { mode: 0o600 });
    image = { name: 'r.example/demo:1', digest: MANIFEST, config: IMAGE, layers: [{ dir: a }, { dir: b }] };
  });
  after(async () => tmp.cleanup());

  it('renders the env files\' values, the mount points of /run/secrets and the init, and agrees with the planner', async () => {
    const r = await renderBundle(root, spec(), image, opts());
    assert.equal(r.changed, true);
    const c = JSON.parse(await readFile(`${r.bundleDir}/config.json`, 'utf8')) as { process: { env: string[]; args: string[] } };
    assert.ok(c.process.env.includes('DB_USER=keel') && c.process.env.includes('DB_PASS=first'));
    assert.equal(c.process.args[0], INIT_PATH);
    const tree = sharedRootfsDir(root, MANIFEST);
    assert.ok((await stat(`${tree}${SECRETS_DIR}`)).isDirectory(), 'mount point for the credentials directory');
    assert.ok((await lstat(`${tree}${INIT_PATH}`)).isFile(), 'file mount point for the init');
    assert.equal(await plannedInputsDigest(root, spec(), image, opts()), r.inputsDigest);
    assert.equal((await stat(`${r.bundleDir}/config.json`)).mode & 0o777, 0o600, 'config.json (env values) is root-only');
  });

  it('the same env file content is unchanged; a changed value changes the inputs digest and renders the other slot', async () => {
    const same = await renderBundle(root, spec(), image, opts());
    assert.equal(same.changed, false);
    await writeFile(envFile, '# rotated\nDB_USER=keel\nDB_PASS=second\n');
    const planned = await plannedInputsDigest(root, spec(), image, opts());
    assert.notEqual(planned, same.inputsDigest, 'the planner sees the change (apply restarts the container)');
    const r = await renderBundle(root, spec(), image, opts());
    assert.deepEqual([r.changed, r.slot, r.inputsDigest], [true, 'b', planned]);
    assert.match(await readFile(`${r.bundleDir}/config.json`, 'utf8'), /"DB_PASS=second"/);
    // A comment or line order alone is no change.
    await writeFile(envFile, 'DB_PASS=second\n\n# same values\nDB_USER=keel\n');
    assert.equal((await renderBundle(root, spec(), image, opts())).changed, false);
  });

  it('the credential\'s value is nowhere under keel\'s root (keel passes its path to systemd only)', async () => {
    const hits: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = `${d}/${e.name}`;
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && (await readFile(p)).includes(SECRET)) hits.push(p);
      }
    };
    await walk(root);
    assert.deepEqual(hits, []);
  });

  it('a missing env file is E_ENV_FILE naming it, in render and plan, and nothing is written', async () => {
    const missing = specOf(`${BASE}envFiles: [${tmp.path}/nope.env]\n`);
    const before = await readdir(`${root}/containers/demo`);
    for (const run of [() => renderBundle(root, missing, image, opts()), () => plannedInputsDigest(root, missing, image, opts())]) {
      await assert.rejects(run(), (err: unknown) => isKeelError(err, 'E_ENV_FILE') && err.message.includes(`${tmp.path}/nope.env`));
    }
    assert.deepEqual(await readdir(`${root}/containers/demo`), before);
    assert.equal((await renderBundle(root, spec(), image, opts())).changed, false, 'the active slot untouched');
  });

  it('init: true without the init binary is E_INIT_MISSING with the apt hint', async () => {
    const o = { ...opts(), initBinary: `${tmp.path}/no-tini` };
    for (const run of [() => renderBundle(root, spec(), image, o), () => plannedInputsDigest(root, spec(), image, o)]) {
      await assert.rejects(run(), (err: unknown) => {
        assert.ok(isKeelError(err, 'E_INIT_MISSING'));
        assert.match(err.message, /no-tini/);
        assert.match(err.hint ?? '', /apt install tini/);
        return true;
      });
    }
    await writeFile(`${tmp.path}/not-exec`, 'x', { mode: 0o644 });
    await assert.rejects(renderBundle(root, spec(), image, { ...opts(), initBinary: `${tmp.path}/not-exec` }), { code: 'E_INIT_MISSING' });
  });
});
