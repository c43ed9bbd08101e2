// desiredContainer with host inputs it cannot read (issue 11): a missing env file or init binary
// becomes the container's own error for the planner (so the others of an apply or a boot go on);
// a readable env file's change changes the planned inputs digest.

import { strict as assert } from 'node:assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parseManifestText, type ContainerSpec } from '../../../src/manifest/index.ts';
import type { Digest } from '../../../src/oci/digest.ts';
import { desiredContainer } from '../../../src/ops/observe.ts';

const DIGEST = `sha256:${'1'.repeat(64)}` as Digest;

function spec(extra: string): ContainerSpec {
  const { specs, problems } = parseManifestText(`name: vault\nimage: r.example/vault:1\n${extra}`, 'v.yaml', { builtins: { HOSTNAME: 'h', MACHINE_ID: '0'.repeat(32) } });
  assert.deepEqual(problems, []);
  return specs[0] as ContainerSpec;
}

describe('desiredContainer and host inputs', () => {
  let dir: string;
  const ctx = (): Parameters<typeof desiredContainer>[0] => ({ store: { root: `${dir}/keel`, getRef: async () => undefined }, runc: '/usr/sbin/runc' });
  const image = { name: 'r.example/vault:1', source: 'store' as const, digest: DIGEST, pull: false };
  before(async () => {
    dir = await mkdtemp('/var/tmp/keel-observe-inputs-');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('a missing env file is the container\'s error (E_ENV_FILE, naming the file), not a throw', async () => {
    const x = await desiredContainer(ctx(), spec(`envFiles: [${dir}/missing.env]\n`), image);
    assert.equal(x.inputsDigest, undefined);
    assert.equal(x.error?.code, 'E_ENV_FILE');
    assert.match(x.error?.message ?? '', new RegExp(`${dir}/missing\\.env does not exist`));
  });

  it('an env file\'s content is in the planned inputs digest', async () => {
    await writeFile(`${dir}/v.env`, 'TOKEN=value-one-3f9a\n');
    const a = await desiredContainer(ctx(), spec(`envFiles: [${dir}/v.env]\n`), image);
    await writeFile(`${dir}/v.env`, 'TOKEN=value-two-8c1d\n');
    const b = await desiredContainer(ctx(), spec(`envFiles: [${dir}/v.env]\n`), image);
    assert.equal(a.error, undefined);
    assert.ok(a.inputsDigest !== undefined && b.inputsDigest !== undefined);
    assert.notEqual(a.inputsDigest, b.inputsDigest);
    assert.ok(!JSON.stringify(b).includes('value-two-8c1d'), 'the desired state holds no env file value');
  });
});
