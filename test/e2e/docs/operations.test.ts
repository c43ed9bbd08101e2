// docs/operations.md is a session an admin could type, and every example in
// it runs here: the doc's blocks, in order, in a disposable systemd guest
// (scripts/testhost, persisted on disk so that a reboot keeps /etc and /var)
// that has keel installed the way the package installs it — /usr/bin/keel
// (a link to this checkout's bin/keel), keel.service enabled, keel-update.*
// shipped disabled, an empty /etc/keel/manifests.d — with images built by
// umoci and pushed by skopeo to a loopback registry. The doc's registry name,
// registry.example.com:5000, is rewritten to that registry in what runs and
// back in what is compared.
//
// How a block is checked (an HTML comment on the line before a fence picks
// another check; a block that matches none of these fails the test, so the
// doc cannot grow an example nobody runs):
//
//   ```sh                               run in the guest as root (bash -e -o pipefail); must exit 0
//   <!-- check: run exit=N --> ```sh    the same, must exit N
//   <!-- check: reboot --> ```sh        must be `systemctl reboot`: the guest is powered off and booted
//                                       again over the same disk
//   <!-- check: output --> ```text      every line (blank lines aside) must appear in the previous run's
//                                       stdout or stderr, in order per stream, after both sides are
//                                       normalised (digests, short digests, times, numbers, spacing);
//                                       … in a line matches anything
//   <!-- check: output --> ```json      the previous run's stdout parses as JSON of exactly the same
//                                       shape: the same keys, array lengths and types; strings compared
//                                       as lines are; booleans equal
//   ```yaml whose first line is `# /path`   written there in the guest, then checked by what the path
//                                       is: a manifest (/etc/keel/manifests.d/*.yaml) with keel validate
//                                       of its directory (references resolve across files),
//                                       /etc/keel/keel.yaml with keel's config loader
//   ```ini whose first line is `# /etc/systemd/system/UNIT`   written there, then systemd-analyze verify
//                                       (no warning about it allowed)
//   <!-- check: manifest --> ```yaml    keel validate in the guest; not installed
//   <!-- check: config --> ```yaml      src/config's loadConfig; not installed
//   <!-- check: cloud-init --> ```yaml  #cloud-config; every write_files entry checked by its path as
//                                       above; every runcmd that runs keel names a keel command
//   <!-- check: ignition --> ```json    Ignition 3.x; every storage.files entry's data: URL decoded and
//                                       checked by its path as above
//   <!-- check: parse --> ```yaml|json  parses (YAML with unique keys)
//
// `<!-- setup: push REPO:TAG VERSION [unhealthy] -->` lines build and push an
// image (test/e2e/docs/images.ts; REPO web or probe) before the blocks that
// follow. Indented code blocks are refused: fence them.
// Needs root, systemd-container, runc, skopeo, umoci, docker-registry,
// busybox-static, curl, a built dist/ (npm run build), and port 8080 on
// 127.0.0.1 free (the doc's web server listens there; the guest shares the
// host's network).

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { after, before, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../../src/config/index.ts';
import { PROJECT, ok, tearDown } from '../../helpers/guest.ts';
import { startRegistry, type Registry } from '../../helpers/registry.ts';
import { bootTestHost, type ExecResult, type TestHost } from '../../helpers/testhost.ts';
import { pushDocImage } from './images.ts';

const DOC_PATH = 'docs/operations.md';
const DOC_REGISTRY = 'registry.example.com:5000';
const GUEST = `docs-${process.pid}`;
const CHECK_DIR = '/var/tmp/keel-doc-check'; // inside the guest
const KEEL_COMMANDS = new Set(['pull', 'images', 'rmi', 'prune', 'check', 'unpack', 'validate', 'apply', 'update', 'rollback', 'status', 'logs', 'exec', 'remove', 'boot']);

let host: TestHost | undefined;
let registry: Registry | undefined;
let work: string | undefined;
let last: (ExecResult & { line: number }) | undefined;
let broken: string | undefined;

// ---- reading the doc -------------------------------------------------------

interface Block {
  readonly line: number;
  readonly lang: string;
  readonly text: string;
  readonly check?: { readonly name: string; readonly args: Readonly<Record<string, string>> } | undefined;
}

interface Step {
  readonly label: string;
  readonly run: () => Promise<void>;
}

const CHECK_COMMENT = /^<!--\s*check:\s*([a-z-]+)((?:\s+[a-z]+=\S+)*)\s*-->$/;
const SETUP_COMMENT = /^<!--\s*setup:\s*(.+?)\s*-->$/;

function readDoc(text: string): { blocks: Block[]; setups: Array<{ line: number; args: string[] }>; problems: string[] } {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  const setups: Array<{ line: number; args: string[] }> = [];
  const problems: string[] = [];
  let pending: { name: string; args: Record<string, string>; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const at = `${DOC_PATH}:${i + 1}`;
    const fence = /^(`{3,}|~{3,})\s*([A-Za-z0-9_-]*)\s*$/.exec(raw);
    if (fence) {
      const [, marker = '```', lang = ''] = fence;
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !(lines[j] as string).startsWith(marker)) body.push(lines[j++] as string);
      if (j >= lines.length) {
        problems.push(`${at}: code block never closed`);
        break;
      }
      blocks.push({ line: i + 1, lang, text: `${body.join('\n')}\n`, check: pending });
      pending = undefined;
      i = j;
      continue;
    }
    const check = CHECK_COMMENT.exec(raw.trim());
    if (check) {
      if (pending) problems.push(`${DOC_PATH}:${pending.line}: check comment not followed by a code block`);
      const args = Object.fromEntries((check[2] ?? '').trim().split(/\s+/).filter(Boolean).map((kv) => kv.split('=') as [string, string]));
      pending = { name: check[1] as string, args, line: i + 1 };
      continue;
    }
    if (/^<!--\s*check/.test(raw.trim())) problems.push(`${at}: malformed check comment: ${raw.trim()}`);
    const setup = SETUP_COMMENT.exec(raw.trim());
    if (setup) {
      setups.push({ line: i + 1, args: (setup[1] as string).split(/\s+/) });
      continue;
    }
    if (raw.trim() !== '' && pending) {
      problems.push(`${DOC_PATH}:${pending.line}: check comment not followed by a code block`);
      pending = undefined;
    }
    if (/^( {4}|\t)\S/.test(raw) && (i === 0 || (lines[i - 1] as string).trim() === '')) {
      problems.push(`${at}: an indented code block; fence it (\`\`\`sh, \`\`\`text, ...) so that this test checks it`);
    }
  }
  return { blocks, setups, problems };
}

// ---- talking to the guest ----------------------------------------------------

function guest(): TestHost {
  if (host === undefined) throw new Error('no guest');
  return host;
}

function reg(): Registry {
  if (registry === undefined) throw new Error('no registry');
  return registry;
}

/** The doc's text as it runs here: the doc's registry is the loopback one. */
function toGuest(text: string): string {
  return text.replaceAll(DOC_REGISTRY, reg().host);
}

/** What ran here as the doc says it: the loopback registry named as the doc names it. */
function fromGuest(text: string): string {
  return text.replaceAll(reg().host, DOC_REGISTRY);
}

/** Runs a shell script in the guest as a root login shell would, with a clean environment. */
function shell(script: string, options: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return guest().exec(['env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8',
    'bash', '-e', '-o', 'pipefail', '-c', script], options);
}

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

async function writeInGuest(path: string, text: string): Promise<void> {
  await ok(shell(`mkdir -p ${quote(dirname(path))} && cat > ${quote(path)}`, { input: text }), `writing ${path}`);
}

// ---- checks ------------------------------------------------------------------

/** One line, with what differs from run to run (and what the doc may elide with …) made equal. */
function normalize(s: string): string {
  return s
    .replace(/sha256:[0-9a-f]{64}/g, 'sha256:<digest>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, '<time>')
    .replace(/\b[0-9a-f]{12}\b/g, '<hex>')
    .replace(/\d+/g, 'N')
    .replace(/\s+/g, ' ')
    .trim();
}

function lineMatcher(expected: string): RegExp {
  const parts = expected.split('…').map((p) => normalize(p).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

function matchesLine(expected: string, actual: string): boolean {
  return lineMatcher(expected).test(normalize(fromGuest(actual)));
}

function checkTextOutput(block: Block, ran: ExecResult & { line: number }): void {
  const streams = [ran.stdout.split('\n'), ran.stderr.split('\n')];
  const next = [0, 0];
  for (const want of block.text.split('\n')) {
    if (want.trim() === '') continue;
    let found = false;
    for (const s of [0, 1]) {
      const lines = streams[s] as string[];
      for (let k = next[s] as number; k < lines.length; k++) {
        if (matchesLine(want, lines[k] as string)) {
          next[s] = k + 1;
          found = true;
          break;
        }
      }
      if (found) break;
    }
    assert.ok(found, `${DOC_PATH}:${block.line}: the example's line\n  ${want}\nis not in the output of the block at line ${ran.line} (in order):\n--- stdout\n${fromGuest(ran.stdout)}--- stderr\n${fromGuest(ran.stderr)}`);
  }
}

function sameShape(want: unknown, got: unknown, path: string): void {
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${path}: expected an array, got ${JSON.stringify(got)}`);
    assert.equal(got.length, want.length, `${path}: expected ${want.length} elements, got ${got.length}: ${JSON.stringify(got)}`);
    want.forEach((w, i) => sameShape(w, got[i], `${path}[${i}]`));
  } else if (want !== null && typeof want === 'object') {
    assert.ok(got !== null && typeof got === 'object' && !Array.isArray(got), `${path}: expected an object, got ${JSON.stringify(got)}`);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${path}: the keys differ`);
    for (const [k, v] of Object.entries(want)) sameShape(v, (got as Record<string, unknown>)[k], `${path}.${k}`);
  } else if (typeof want === 'string') {
    assert.equal(typeof got, 'string', `${path}: expected a string, got ${JSON.stringify(got)}`);
    assert.ok(matchesLine(want, got as string), `${path}: expected ${JSON.stringify(want)}, got ${JSON.stringify(fromGuest(got as string))}`);
  } else if (typeof want === 'number') {
    assert.equal(typeof got, 'number', `${path}: expected a number, got ${JSON.stringify(got)}`);
  } else {
    assert.equal(got, want, path);
  }
}

function checkJsonOutput(block: Block, ran: ExecResult & { line: number }): void {
  const want = JSON.parse(block.text) as unknown;
  let got: unknown;
  try {
    got = JSON.parse(ran.stdout);
  } catch (err) {
    assert.fail(`${DOC_PATH}:${block.line}: the output of the block at line ${ran.line} is not JSON (${String(err)}):\n${ran.stdout}`);
  }
  sameShape(want, got, `${DOC_PATH}:${block.line}`);
}

async function validateManifest(text: string, name: string): Promise<void> {
  const path = `${CHECK_DIR}/${name}`;
  await writeInGuest(path, text);
  await ok(shell(`keel validate ${quote(path)}`), `keel validate (${name})`);
}

async function loadConfigText(text: string, name: string): Promise<void> {
  const path = join(work as string, name);
  await writeFile(path, text);
  await loadConfig(path); // throws E_CONFIG_INVALID
}

const MANIFEST_PATH = /^\/etc\/keel\/manifests\.d\/[^/]+\.ya?ml$/;
const CONFIG_PATH = '/etc/keel/keel.yaml';

/** A file delivered by provisioning (cloud-init, Ignition): checked by what its path makes it. */
async function checkDeliveredFile(path: string, content: string, at: string): Promise<void> {
  const name = `${at.replace(/\W+/g, '-')}-${basename(path)}`;
  if (MANIFEST_PATH.test(path)) await validateManifest(content, name);
  else if (path === CONFIG_PATH) await loadConfigText(content, name);
  else assert.fail(`${at}: no check for a file at ${path} (a manifest under /etc/keel/manifests.d/ or ${CONFIG_PATH})`);
}

async function verifyUnit(path: string): Promise<void> {
  const r = await shell(`systemd-analyze verify ${quote(path)}`);
  const about = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.includes(basename(path)));
  assert.equal(r.code, 0, `systemd-analyze verify ${path} failed:\n${r.stdout}${r.stderr}`);
  assert.deepEqual(about, [], `systemd-analyze verify ${path} warned`);
}

function decodeDataUrl(url: string): string {
  const m = /^data:([^,]*),(.*)$/s.exec(url);
  assert.ok(m, `not a data: URL: ${url.slice(0, 40)}`);
  return (m[1] as string).endsWith(';base64') ? Buffer.from(m[2] as string, 'base64').toString('utf8') : decodeURIComponent(m[2] as string);
}

// ---- the plan: one step per setup line and block -----------------------------

function firstLinePath(text: string): string | undefined {
  return /^#\s+(\/\S+)\s*$/.exec(text.split('\n')[0] ?? '')?.[1];
}

function stepFor(block: Block): Step | string {
  const at = `${DOC_PATH}:${block.line}`;
  const check = block.check?.name;
  const head = (block.text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#')) ?? '').slice(0, 60);
  const label = (what: string): string => `${at} ${what}: ${head}`;

  if (block.lang === 'sh' && (check === undefined || check === 'run')) {
    const exit = Number(block.check?.args.exit ?? 0);
    return {
      label: label(`sh${exit !== 0 ? ` (exit ${exit})` : ''}`),
      run: async () => {
        const r = await shell(toGuest(block.text), { timeoutMs: 300_000 });
        last = { ...r, line: block.line };
        assert.equal(r.code, exit, `${at}: exit ${r.code}, the doc says ${exit}:\n--- stdout\n${fromGuest(r.stdout)}--- stderr\n${fromGuest(r.stderr)}`);
      },
    };
  }
  if (block.lang === 'sh' && check === 'reboot') {
    if (block.text.trim() !== 'systemctl reboot') return `${at}: a reboot block must say exactly: systemctl reboot`;
    return {
      label: label('reboot'),
      run: async () => {
        await guest().shutdown();
        host = undefined;
        host = await bootTestHost(GUEST, { binds: [PROJECT], persist: join(work as string, 'guest'), timeoutSec: 120 });
        console.log(`# rebooted in ${host.bootMs} ms`);
        last = undefined;
      },
    };
  }
  if ((block.lang === 'text' || block.lang === 'json') && check === 'output') {
    return {
      label: label(`output (${block.lang})`),
      run: async () => {
        assert.ok(last, `${at}: an output example with no run block before it`);
        if (block.lang === 'json') checkJsonOutput(block, last);
        else checkTextOutput(block, last);
      },
    };
  }
  const path = firstLinePath(block.text);
  if (block.lang === 'yaml' && check === undefined && path !== undefined) {
    if (!MANIFEST_PATH.test(path) && path !== CONFIG_PATH) return `${at}: no check for a YAML file at ${path}`;
    return {
      label: label('install'),
      run: async () => {
        const text = toGuest(block.text);
        await writeInGuest(path, text);
        // Manifests are validated together, as keel apply and keel boot read them (cross-references).
        if (MANIFEST_PATH.test(path)) await ok(shell(`keel validate ${quote(dirname(path))}`), `keel validate ${dirname(path)}`);
        else await loadConfig(`/proc/${guest().pid}/root${path}`);
      },
    };
  }
  if (block.lang === 'ini' && (check === undefined || check === 'unit')) {
    if (check === undefined && (path === undefined || !path.startsWith('/etc/systemd/system/'))) {
      return `${at}: a unit file block must start with "# /etc/systemd/system/UNIT" (or be marked <!-- check: unit -->)`;
    }
    return {
      label: label(check === undefined ? 'install unit' : 'verify unit'),
      run: async () => {
        const target = check === undefined && path !== undefined ? path : `${CHECK_DIR}/${path !== undefined ? basename(path) : `doc-${block.line}.service`}`;
        await writeInGuest(target, toGuest(block.text));
        await verifyUnit(target);
      },
    };
  }
  if (block.lang === 'yaml' && check === 'manifest') {
    return { label: label('keel validate'), run: () => validateManifest(block.text, `doc-${block.line}.yaml`) };
  }
  if (block.lang === 'yaml' && check === 'config') {
    return { label: label('config loads'), run: () => loadConfigText(block.text, `doc-${block.line}-keel.yaml`) };
  }
  if (block.lang === 'yaml' && check === 'cloud-init') {
    return {
      label: label('cloud-init'),
      run: async () => {
        assert.equal(block.text.split('\n')[0], '#cloud-config', `${at}: cloud-init user data starts with #cloud-config`);
        const doc = parseYaml(block.text, { uniqueKeys: true }) as { write_files?: unknown; runcmd?: unknown };
        assert.ok(Array.isArray(doc.write_files) && doc.write_files.length > 0, `${at}: no write_files`);
        for (const f of doc.write_files as Array<{ path?: unknown; content?: unknown }>) {
          assert.ok(typeof f.path === 'string' && typeof f.content === 'string', `${at}: a write_files entry needs path and content`);
          await checkDeliveredFile(f.path, f.content, at);
        }
        for (const cmd of (doc.runcmd ?? []) as unknown[]) {
          const argv = Array.isArray(cmd) ? cmd.map(String) : String(cmd).split(/\s+/);
          if (argv[0] !== 'keel') continue;
          assert.ok(KEEL_COMMANDS.has(argv[1] ?? ''), `${at}: runcmd ${argv.join(' ')}: not a keel command`);
          await ok(shell(`keel ${quote(argv[1] as string)} --help >/dev/null`), `keel ${argv[1]} --help`);
        }
      },
    };
  }
  if (block.lang === 'json' && check === 'ignition') {
    return {
      label: label('ignition'),
      run: async () => {
        const doc = JSON.parse(block.text) as { ignition?: { version?: unknown }; storage?: { files?: unknown } };
        assert.match(String(doc.ignition?.version), /^3\.\d+\.\d+$/, `${at}: ignition.version`);
        const files = doc.storage?.files;
        assert.ok(Array.isArray(files) && files.length > 0, `${at}: no storage.files`);
        for (const f of files as Array<{ path?: unknown; mode?: unknown; contents?: { source?: unknown } }>) {
          assert.ok(typeof f.path === 'string' && typeof f.contents?.source === 'string', `${at}: a file needs path and contents.source`);
          assert.ok(f.mode === undefined || Number.isInteger(f.mode), `${at}: ${f.path}: mode is a decimal integer`);
          await checkDeliveredFile(f.path, decodeDataUrl(f.contents.source), at);
        }
      },
    };
  }
  if ((block.lang === 'yaml' || block.lang === 'json') && check === 'parse') {
    return {
      label: label(`${block.lang} parses`),
      run: async () => {
        if (block.lang === 'json') JSON.parse(block.text);
        else assert.notEqual(parseYaml(block.text, { uniqueKeys: true }), null, `${at}: empty YAML`);
      },
    };
  }
  return `${at}: no check for a \`\`\`${block.lang || '(no language)'} block${check ? ` marked "check: ${check}"` : ''}; ` +
    'give it one (see test/e2e/docs/operations.test.ts) so that the doc has no untested examples';
}

function setupStep(line: number, args: string[]): Step | string {
  const at = `${DOC_PATH}:${line}`;
  const [verb, ref, version, flag] = args;
  const m = /^(web|probe):([\w.-]+)$/.exec(ref ?? '');
  if (verb !== 'push' || !m || version === undefined || (flag !== undefined && flag !== 'unhealthy') || args.length > 4) {
    return `${at}: setup must be "push web|probe:TAG VERSION [unhealthy]", not "${args.join(' ')}"`;
  }
  const [, repo, tag] = m as unknown as [string, 'web' | 'probe', string];
  return {
    label: `${at} setup: push ${repo}:${tag} version ${version}${flag ? ` (${flag})` : ''}`,
    run: async () => {
      await pushDocImage(work as string, reg().host, repo, tag, { kind: repo, version, healthy: flag !== 'unhealthy' });
    },
  };
}

const docText = readFileSync(join(PROJECT, DOC_PATH), 'utf8');
const { blocks, setups, problems } = readDoc(docText);
const steps: Array<{ line: number; step: Step }> = [];
for (const s of setups) {
  const st = setupStep(s.line, s.args);
  if (typeof st === 'string') problems.push(st);
  else steps.push({ line: s.line, step: st });
}
for (const b of blocks) {
  const st = stepFor(b);
  if (typeof st === 'string') problems.push(st);
  else steps.push({ line: b.line, step: st });
}
steps.sort((a, b) => a.line - b.line);

// ---- the guest -----------------------------------------------------------------

async function portFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** What the keel package puts on a host (docs/packaging.md), with /usr/bin/keel running this checkout. */
async function installKeel(): Promise<void> {
  const units = ['keel.service', 'keel-update.service', 'keel-update.timer'];
  await ok(shell([
    `ln -sf ${quote(join(PROJECT, 'bin/keel'))} /usr/bin/keel`,
    ...units.map((u) => `install -m 0644 ${quote(join(PROJECT, 'units', u))} /usr/lib/systemd/system/${u}`),
    'mkdir -p /etc/keel/manifests.d',
    'systemctl daemon-reload',
    'systemctl enable keel.service',
    // The stand-ins for the doc's outside world: a USB stick, a mounted host image, and
    // skopeo trusting the loopback registry over plain HTTP (the doc's registry has TLS).
    'mkdir -p /media/usb /mnt/sysimage /etc/containers/registries.conf.d',
    `printf '[[registry]]\\nlocation = "%s"\\ninsecure = true\\n' ${quote(reg().host)} > /etc/containers/registries.conf.d/50-keel-docs.conf`,
  ].join('\n')), 'installing keel in the guest');
}

before(async () => {
  if (problems.length > 0) return;
  assert.ok(await portFree(8080), 'port 8080 on 127.0.0.1 is taken; the doc\'s web server needs it (the guest shares the host\'s network)');
  work = await mkdtemp('/var/tmp/keel-e2e-docs-');
  registry = await startRegistry();
  host = await bootTestHost(GUEST, { binds: [PROJECT], persist: join(work, 'guest') });
  console.log(`# guest booted in ${host.bootMs} ms; registry ${registry.host}`);
  await installKeel();
});

after(() => tearDown({ host, registry, work }));

it(`every example in ${DOC_PATH} has a check this test knows`, () => {
  assert.ok(blocks.length > 0, 'no code blocks found');
  assert.deepEqual(problems, []);
});

for (const { step } of steps) {
  it(step.label, { timeout: 300_000 }, async (t) => {
    if (problems.length > 0) return t.skip('the doc has unchecked examples');
    if (broken !== undefined) return t.skip(`an earlier example failed (${broken})`);
    try {
      await step.run();
    } catch (err) {
      broken = step.label.split(' ')[0];
      throw err;
    }
  });
}
