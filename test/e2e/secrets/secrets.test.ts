// Secrets, env files and init (issue 11), end to end against a REAL systemd in
// a disposable guest (scripts/testhost), keel run inside it as a user runs it,
// an image built by umoci and pushed by skopeo to a loopback registry, real
// runc and the host's tini-static: one container with an env file, a plain
// credential, one encrypted by `systemd-creds encrypt` inside the guest (with
// the guest's host key: the guest has no TPM), and `init: true` in front of a
// main process that ignores SIGTERM as PID 1 (a bare sleep). The container
// sees the values; PID 1 in it is the init; a stop is quick (the same sleep
// without init, as a control, waits out its stop timeout); and afterwards
// no credential value is in the bundle, the store, /run/keel, `keel status`
// (plain or --json), apply's output or the journal, and no env file value is
// anywhere keel reports. The tests share one guest and run in order. Needs
// what test/e2e/lifecycle needs, plus tini (scripts/setup installs it).

import { strict as assert } from 'node:assert';
import { access, mkdtemp } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { PROJECT, guestCommands, ok, tearDown } from '../../helpers/guest.ts';
import { bootTestHost, type TestHost } from '../../helpers/testhost.ts';
import { pushApp } from '../lifecycle/images.ts';

const ROOT = '/var/lib/keel-secrets'; // inside the guest (its overlay)
const MANIFESTS = '/etc/keel/secrets.d';
const CREDS = '/etc/keel/creds';
const ENV_FILE = '/etc/keel/vault.env';
const RECORDS = '/run/keel';

// Distinct, greppable values that occur nowhere else.
const PLAIN = 'plain-7f3c9a1e-peer-key';
const ENCRYPTED = 'encrypted-b62d04f8-token';
const ENV_VALUE = 'envfile-91ac55d2-password';
const ENV_VALUE_2 = 'envfile-0d7e3b44-rotated';

let host: TestHost;
let registry: Registry;
let work: string;
let ref: string;

const { keel, guest, mainPid } = guestCommands(() => host, ['--root', ROOT, '--manifests', MANIFESTS]);

async function write(file: string, text: string, mode = '0600'): Promise<void> {
  await ok(host.exec(['sh', '-c', `mkdir -p "$(dirname ${file})" && umask 077 && cat > ${file} && chmod ${mode} ${file}`], { input: text }), `write ${file}`);
}

/** What a NUL-separated /proc file of the container's PID 1 (or another pid) holds. */
async function procOf(pid: number, file: 'cmdline' | 'environ'): Promise<string[]> {
  const out = await ok(keel('exec', 'vault', '--', 'cat', `/proc/${pid}/${file}`), `cat /proc/${pid}/${file}`);
  return out.split('\0').filter((s) => s !== '');
}

const manifest = (name: string, extra: string): string => `
name: ${name}
image: ${ref}
command: [/bin/sleep, "1000"]
network: none
resources: { nofile: 1024 }
${extra}`;

const VAULT = `init: true
envFiles: [${ENV_FILE}]
env: { FROM_MANIFEST: "yes", OVERRIDDEN: manifest }
credentials:
  - {name: peer-key, file: ${CREDS}/peer.key}
  - {name: token, encryptedFile: ${CREDS}/token.cred}
stopTimeout: 60
`;

before(async () => {
  await access('/usr/bin/tini-static').catch(() => {
    throw new Error('/usr/bin/tini-static is missing on this machine: apt-get install tini (scripts/setup does)');
  });
  work = await mkdtemp('/var/tmp/keel-e2e-secrets-');
  registry = await startRegistry();
  ref = await pushApp(work, registry.host, 'vault', '1', { version: 'vault', ok: true, healthy: true });
  host = await bootTestHost(`secrets-${process.pid}`, { binds: [PROJECT] });
  console.log(`# guest booted in ${host.bootMs} ms; registry ${registry.host}`);
});

after(() => tearDown({ host, registry, work }));

describe('envFiles, credentials and init in a real systemd', () => {
  it('systemd-creds encrypts a credential inside the guest (host key; the guest has no TPM)', async () => {
    await write(`${CREDS}/peer.key`, PLAIN);
    await write(ENV_FILE, `# vault settings\nDB_PASSWORD=${ENV_VALUE}\nOVERRIDDEN=file\n`);
    // systemd 252 makes the host key (/var/lib/systemd/credential.secret) on first use; the
    // guest's is in its overlay, so the credential is encrypted for this guest only.
    await ok(host.exec(['sh', '-c', `systemd-creds encrypt --name=token - ${CREDS}/token.cred`], { input: ENCRYPTED }), 'systemd-creds encrypt');
    assert.doesNotMatch(await ok(guest('cat', `${CREDS}/token.cred`), 'cat token.cred'), new RegExp(ENCRYPTED), 'encrypted at rest');
  });

  it('apply starts it; the unit loads both credentials by path', async () => {
    await ok(host.exec(['sh', '-c', `mkdir -p ${MANIFESTS} && cat > ${MANIFESTS}/vault.yaml`], { input: manifest('vault', VAULT) }), 'write manifest');
    const r = await ok(keel('apply'), 'apply');
    assert.match(r, /^vault\.service created \(active, pid \d+/m);
    // systemctl 252 prints these as [unprintable]: ask the bus.
    const prop = (name: string): Promise<string> => ok(guest('busctl', 'get-property', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1/unit/vault_2eservice',
      'org.freedesktop.systemd1.Service', name), `busctl get-property ${name}`);
    assert.equal((await prop('LoadCredential')).trim(), `a(ss) 1 "peer-key" "${CREDS}/peer.key"`);
    assert.equal((await prop('LoadCredentialEncrypted')).trim(), `a(ss) 1 "token" "${CREDS}/token.cred"`);
  });

  it('the container reads /run/secrets/NAME (read-only), sees the env file\'s and the manifest\'s variables and CREDENTIALS_DIRECTORY', async () => {
    assert.equal(await ok(keel('exec', 'vault', '--', 'cat', '/run/secrets/peer-key'), 'cat peer-key'), PLAIN);
    assert.equal(await ok(keel('exec', 'vault', '--', 'cat', '/run/secrets/token'), 'cat token'), ENCRYPTED);
    const w = await keel('exec', 'vault', '--', 'sh', '-c', 'echo x > /run/secrets/new');
    assert.notEqual(w.code, 0, 'the credentials directory is read-only in the container');
    const env = await procOf(1, 'environ');
    for (const e of [`DB_PASSWORD=${ENV_VALUE}`, 'FROM_MANIFEST=yes', 'OVERRIDDEN=manifest', 'CREDENTIALS_DIRECTORY=/run/secrets']) assert.ok(env.includes(e), `${e} in ${env.join(' ')}`);
  });

  it('PID 1 in the container is the init, with the command as its child', async () => {
    assert.deepEqual(await procOf(1, 'cmdline'), ['/run/keel/init', '--', '/bin/sleep', '1000']);
    const children = (await ok(keel('exec', 'vault', '--', 'cat', '/proc/1/task/1/children'), 'children of PID 1')).trim().split(/\s+/);
    assert.equal(children.length, 1, `PID 1 has one child: ${children.join(' ')}`);
    assert.deepEqual(await procOf(Number(children[0]), 'cmdline'), ['/bin/sleep', '1000']);
  });

  it('systemctl stop is quick: the init forwards SIGTERM to sleep, which does not ignore it as a child', async () => {
    const started = performance.now();
    await ok(guest('systemctl', 'stop', 'vault.service'), 'systemctl stop');
    const ms = Math.round(performance.now() - started);
    console.log(`# systemctl stop vault.service took ${ms} ms (stopTimeout 60 s)`);
    assert.ok(ms < 10_000, `stop took ${ms} ms`);
    const state = await ok(guest('systemctl', 'show', '-pActiveState', '-pResult', 'vault.service'), 'state');
    assert.match(state, /ActiveState=inactive/);
    assert.match(state, /Result=success/);
    await ok(guest('systemctl', 'start', 'vault.service'), 'systemctl start');
  });

  it('(control) the same sleep without init ignores SIGTERM as PID 1: its stop waits out stopTimeout', async () => {
    await ok(host.exec(['sh', '-c', `cat > ${MANIFESTS}/bare.yaml`], { input: manifest('bare', 'stopTimeout: 3\n') }), 'write bare.yaml');
    await ok(keel('apply'), 'apply bare');
    const started = performance.now();
    await guest('systemctl', 'stop', 'bare.service');
    const ms = Math.round(performance.now() - started);
    console.log(`# without init: systemctl stop bare.service took ${ms} ms (stopTimeout 3 s)`);
    assert.ok(ms >= 2900, `stop took ${ms} ms`);
    await ok(guest('rm', `${MANIFESTS}/bare.yaml`), 'rm bare.yaml');
    await ok(keel('remove', 'bare'), 'remove bare');
  });

  it('a change of the env file\'s content restarts the container on apply, with the new value', async () => {
    const before = await mainPid('vault.service');
    assert.match(await ok(keel('apply'), 'apply, nothing changed'), /vault\.service unchanged/);
    await write(ENV_FILE, `DB_PASSWORD=${ENV_VALUE_2}\nOVERRIDDEN=file\n`);
    const dry = await ok(keel('apply', '--dry-run'), 'dry run');
    assert.match(dry, /^ {2}~ vault\.service +restart/m);
    const r = await ok(keel('apply'), 'apply');
    assert.match(r, /vault\.service restarted/);
    assert.notEqual(await mainPid('vault.service'), before);
    assert.ok((await procOf(1, 'environ')).includes(`DB_PASSWORD=${ENV_VALUE_2}`));
  });

  it('a missing env file fails that container alone with E_ENV_FILE naming it: it keeps running, another container is created', async () => {
    const before = await mainPid('vault.service');
    await ok(host.exec(['sh', '-c', `cat > ${MANIFESTS}/other.yaml`], { input: manifest('other', 'init: true\n') }), 'write other.yaml');
    await ok(guest('mv', ENV_FILE, `${ENV_FILE}.away`), 'move the env file away');
    const r = await keel('apply');
    await ok(guest('mv', `${ENV_FILE}.away`, ENV_FILE), 'move it back');
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /E_ENV_FILE/);
    assert.match(r.stdout + r.stderr, new RegExp(`${ENV_FILE} does not exist`));
    assert.match(r.stdout, /^other\.service created \(active/m);
    assert.equal(await mainPid('vault.service'), before);
    await ok(guest('rm', `${MANIFESTS}/other.yaml`), 'rm other.yaml');
    await ok(keel('remove', 'other'), 'remove other');
  });

  it('no credential value is in the bundle, the store, /run/keel, status, apply\'s output or the journal; no env value is in what keel reports', async () => {
    const secrets = [PLAIN, ENCRYPTED];
    const reported = [
      ['keel status', await ok(keel('status'), 'status')],
      ['keel status vault', await ok(keel('status', 'vault'), 'status vault')],
      ['keel status --json', await ok(keel('status', '--json'), 'status --json')],
      ['keel apply', await ok(keel('apply'), 'apply')],
      ['keel apply --json', await ok(keel('apply', '--json'), 'apply --json')],
      ['keel apply --dry-run --json', await ok(keel('apply', '--dry-run', '--json'), 'apply --dry-run --json')],
      ['journal', await ok(guest('journalctl', '--no-pager', '-o', 'cat'), 'journalctl -o cat')],
      ['journal (verbose, all fields)', await ok(guest('journalctl', '--no-pager', '-o', 'verbose', '-u', 'vault.service'), 'journalctl -o verbose')],
      ['systemctl show', await ok(guest('systemctl', 'show', 'vault.service'), 'systemctl show')],
    ] as const;
    for (const [where, text] of reported) {
      for (const v of [...secrets, ENV_VALUE, ENV_VALUE_2]) assert.ok(!text.includes(v), `${v} found in ${where}`);
    }
    // Files: grep -r exits 1 when nothing matches, 0 with the matching files listed.
    for (const v of secrets) {
      const g = await guest('grep', '-r', '-l', '-F', '-e', v, ROOT, RECORDS);
      assert.equal(g.code, 1, `${v} found in: ${g.stdout}${g.stderr}`);
    }
    // The env file's values are in config.json only (root-only), never in keel's records.
    for (const v of [ENV_VALUE, ENV_VALUE_2]) {
      const g = await guest('grep', '-r', '-l', '-F', '-e', v, RECORDS);
      assert.equal(g.code, 1, `${v} found in: ${g.stdout}${g.stderr}`);
    }
    const configs = (await guest('grep', '-r', '-l', '-F', '-e', ENV_VALUE_2, ROOT)).stdout.trim().split('\n');
    assert.deepEqual(configs.map((f) => f.replace(/\/[ab]\/config\.json$/, '/SLOT/config.json')), [`${ROOT}/containers/vault/SLOT/config.json`]);
    assert.equal((await ok(guest('stat', '-c', '%a', configs[0] as string), 'stat config.json')).trim(), '600');
  });

  it('remove stops it quickly and the credentials directory is gone', async () => {
    const started = performance.now();
    await ok(keel('remove', 'vault'), 'remove');
    assert.ok(performance.now() - started < 15_000, 'remove did not wait for the stop timeout');
    assert.notEqual((await guest('test', '-e', '/run/credentials/vault.service')).code, 0);
  });
});
