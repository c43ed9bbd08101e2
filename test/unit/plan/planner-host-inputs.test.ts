// A container whose host inputs cannot be read (a missing env file, no init binary: issue 11)
// fails alone in apply, boot and update, as a failed pull does: it is not touched if it runs,
// what requires it is blocked, and every other container goes ahead.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { planApply, planUpdate, type DesiredContainer } from '../../../src/plan/index.ts';
import { actionOf, d, deployed, desired, doc, kinds, nodesOf, observedMap, spec, specs } from './fixtures.ts';

const ERROR = { code: 'E_ENV_FILE', message: 'env file /etc/keel/vault.env does not exist (create it, or remove it from envFiles in the manifest)' };

function broken(x: DesiredContainer): DesiredContainer {
  return Object.freeze({ ...x, inputsDigest: undefined, error: ERROR });
}

describe('host inputs that cannot be read', () => {
  const m = specs([doc('vault', 'envFiles: [/etc/keel/vault.env]\n'), doc('api', 'requires: [vault]\nafter: [vault]\n'), doc('solo')].join('---\n'));
  const all = [...m.values()];
  const nodes = nodesOf(...all);

  for (const intent of ['apply', 'boot'] as const) {
    it(`${intent}: the container fails with the error's code and message, its requirer is blocked, the others are created`, () => {
      const want = all.map((s) => (s.name === 'vault' ? broken(desired(s)) : desired(s)));
      const plan = planApply({ intent, desired: want, observed: observedMap(), nodes });
      assert.deepEqual(kinds(plan), [['vault', 'fail'], ['api', 'blocked'], ['solo', 'create']]);
      const a = actionOf(plan, 'vault');
      assert.equal(a.code, 'E_ENV_FILE');
      assert.deepEqual(a.reasons, [ERROR.message]);
      assert.deepEqual(plan.problems, []);
    });
  }

  it('apply: a running container whose env file went missing fails without a restart', () => {
    const vault = desired(m.get('vault') as never);
    const plan = planApply({ intent: 'apply', desired: [broken(vault)], observed: observedMap(deployed(vault)), nodes: nodesOf(m.get('vault') as never) });
    assert.deepEqual(kinds(plan), [['vault', 'fail']]);
  });

  it('update: fails with the error rather than updating', () => {
    const s = spec(doc('vault', 'envFiles: [/etc/keel/vault.env]\n'));
    const old = desired(s);
    const plan = planUpdate({ desired: [broken(desired(s, { digest: d('2') }))], observed: observedMap(deployed(old)), nodes: nodesOf(s) });
    assert.deepEqual(kinds(plan), [['vault', 'fail']]);
    assert.equal(actionOf(plan, 'vault').code, 'E_ENV_FILE');
  });
});
