// planUpdate and planRollback: keep / update / skip / fail, rollback / fail,
// the problems that refuse them, and the dependents restarted after.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { ContainerSpec } from '../../../src/manifest/index.ts';
import { planRollback, planUpdate, type DesiredContainer, type ObservedContainer } from '../../../src/plan/index.ts';
import { actionOf, applied, d, deployed, deployment, desired, doc, kinds, NOT_FOUND, observedMap, specs, unit } from './fixtures.ts';

// etcd <- api (requires) <- ctl (after api) ; mon wants etcd ; web after etcd (never deployed) ; solo unrelated ; proxy before etcd.
const M = specs([
  doc('ctl', 'after: [api]\n'), doc('mon', 'wants: [etcd]\n'), doc('api', 'requires: [etcd]\n'), doc('web', 'after: [etcd]\n'),
  doc('solo'), doc('etcd', 'env: { ETCD_NAME: node1 }\n'), doc('proxy', 'before: [etcd]\n'),
].join('---\n'));
const S = (name: string): ContainerSpec => M.get(name) as ContainerSpec;
const NODES = [...M.values()];
const NOW = Object.fromEntries(NODES.map((s) => [s.name, desired(s)])) as Record<string, DesiredContainer>;

/** Every container but web deployed, running what the manifests say on d('1'). */
function world(...over: ObservedContainer[]): Map<string, ObservedContainer> {
  const base = NODES.filter((s) => s.name !== 'web').map((s) => deployed(NOW[s.name] as DesiredContainer));
  const m = observedMap(...base);
  m.set('web', { name: 'web', owner: 'keel', unit: NOT_FOUND });
  for (const o of over) m.set(o.name, o);
  return m;
}

describe('planUpdate', () => {
  interface Case {
    readonly title: string;
    readonly want: DesiredContainer;
    readonly seen?: ObservedContainer;
    readonly action: string;
    readonly reasons: readonly string[];
    readonly changes: readonly string[];
    readonly code?: string;
    readonly healthGate: boolean;
    readonly dependents: readonly string[];
  }
  const etcd = S('etcd');
  const CASES: Case[] = [
    {
      title: 'up to date: keep, naming the digest it runs', want: desired(etcd, { source: 'registry' }),
      action: 'keep', reasons: ['up to date (111111111111)'], changes: [], healthGate: false, dependents: [],
    },
    {
      title: 'a new digest: update, health-gated, then restart the deployed dependents (requires, wants, after; transitive) in start order',
      want: desired(etcd, { source: 'registry', digest: d('2') }), action: 'update', reasons: ['image 111111111111 -> 222222222222'],
      changes: ['image'], healthGate: true, dependents: ['mon', 'api', 'ctl'],
    },
    {
      title: 'the manifest changed, same digest: update naming the keys',
      want: desired(specs([doc('etcd', 'env: { ETCD_NAME: node2 }\n')].join('')).get('etcd') as ContainerSpec, { source: 'registry' }),
      action: 'update', reasons: ['changed: env'], changes: ['env'], healthGate: true, dependents: ['mon', 'api', 'ctl'],
    },
    {
      title: 'inputs changed with no spec key or image change (host facts): update, "rendered inputs changed"',
      want: desired(etcd, { source: 'registry' }),
      seen: deployed(NOW['etcd'] as DesiredContainer, { active: deployment(NOW['etcd'] as DesiredContainer, 'a', { inputsDigest: d('9') }) }),
      action: 'update', reasons: ['rendered inputs changed'], changes: [], healthGate: true, dependents: ['mon', 'api', 'ctl'],
    },
    {
      title: 'a new digest for a stopped container: update all the same',
      want: desired(etcd, { source: 'registry', digest: d('2') }), seen: deployed(NOW['etcd'] as DesiredContainer, { unit: unit('failed', 'failed') }),
      action: 'update', reasons: ['image 111111111111 -> 222222222222'], changes: ['image'], healthGate: true, dependents: ['mon', 'api', 'ctl'],
    },
    {
      title: 'not deployed: skip (apply deploys it)', want: desired(etcd, { source: 'registry', digest: d('2') }),
      seen: { name: 'etcd', owner: 'keel', unit: NOT_FOUND }, action: 'skip', reasons: ['not deployed yet: keel apply deploys it'], changes: [],
      healthGate: false, dependents: [],
    },
    {
      title: 'not deployed and unresolvable: still skip, not fail', want: desired(etcd, { source: 'missing', error: { code: 'E_REGISTRY_AUTH', message: 'denied' } }),
      seen: { name: 'etcd', owner: 'keel', unit: NOT_FOUND }, action: 'skip', reasons: ['not deployed yet: keel apply deploys it'], changes: [],
      healthGate: false, dependents: [],
    },
    {
      title: 'a registered unit without slots (render lost) is not deployed: skip', want: desired(etcd, { source: 'registry', digest: d('2') }),
      seen: { name: 'etcd', owner: 'keel', unit: unit('failed', 'failed'), applied: applied(NOW['etcd'] as DesiredContainer) }, action: 'skip',
      reasons: ['not deployed yet: keel apply deploys it'], changes: [], healthGate: false, dependents: [],
    },
    {
      title: 'resolving the image failed: fail with its code', want: desired(etcd, { source: 'missing', error: { code: 'E_REGISTRY_UNREACHABLE', message: 'connection refused' } }),
      action: 'fail', reasons: ['resolving registry.example/etcd:1 failed: connection refused'], changes: [], code: 'E_REGISTRY_UNREACHABLE',
      healthGate: false, dependents: [],
    },
  ];
  for (const c of CASES) {
    it(c.title, () => {
      const plan = planUpdate({ desired: [c.want], observed: world(...(c.seen ? [c.seen] : [])), nodes: NODES });
      assert.equal(plan.intent, 'update');
      assert.deepEqual(plan.problems, []);
      assert.equal(plan.actions.length, 1);
      const a = actionOf(plan, 'etcd');
      assert.equal(a.action, c.action, a.reasons.join('; '));
      assert.deepEqual(a.reasons, c.reasons);
      assert.deepEqual(a.changes, c.changes);
      assert.equal(a.code, c.code);
      assert.equal(a.healthGate, c.healthGate);
      assert.deepEqual(a.restartDependents, c.dependents);
    });
  }

  it('an image that failed its health gate is skipped until the image or the manifest changes, or --retry-failed', () => {
    const bad = desired(S('etcd'), { source: 'registry', digest: d('2') });
    const failed = { at: '2026-12-01T03:00:00.000Z', code: 'E_HEALTH_CHECK_FAILED', message: 'exited 1' };
    const seen = deployed(NOW['etcd'] as DesiredContainer, { previous: deployment(bad, 'b', { failed }) });
    const skipped = actionOf(planUpdate({ desired: [bad], observed: world(seen), nodes: NODES }), 'etcd');
    assert.equal(skipped.action, 'skip');
    assert.match(skipped.reasons[0] ?? '', /failed its health gate at 2026-12-01T03:00:00\.000Z \[E_HEALTH_CHECK_FAILED\].*--retry-failed etcd/);
    assert.equal(actionOf(planUpdate({ desired: [bad], observed: world(seen), nodes: NODES, retryFailed: true }), 'etcd').action, 'update');
    const newer = desired(S('etcd'), { source: 'registry', digest: d('3') });
    assert.equal(actionOf(planUpdate({ desired: [newer], observed: world(seen), nodes: NODES }), 'etcd').action, 'update');
    const fixed = desired(S('etcd'), { source: 'registry', digest: d('2') });
    const fixedSeen = deployed(NOW['etcd'] as DesiredContainer, { previous: { ...deployment(bad, 'b', { failed }), inputsDigest: d('f') } });
    assert.equal(actionOf(planUpdate({ desired: [fixed], observed: world(fixedSeen), nodes: NODES }), 'etcd').action, 'update', 'the manifest changed since');
  });

  it('an update names the image before and after', () => {
    const a = actionOf(planUpdate({ desired: [desired(S('etcd'), { source: 'registry', digest: d('2') })], observed: world(), nodes: NODES }), 'etcd');
    assert.deepEqual(a.image, { name: 'registry.example/etcd:1', from: d('1'), to: d('2'), pull: false });
  });

  it('dependents: a container with no dependents restarts none; a leaf neither', () => {
    for (const name of ['solo', 'ctl', 'web']) {
      const plan = planUpdate({ desired: [desired(S(name), { source: 'registry', digest: d('2') })], observed: world(), nodes: NODES });
      assert.deepEqual(actionOf(plan, name).restartDependents, [], name);
    }
  });

  it('dependents: deployed ones only (web, after etcd, was never deployed), found through an undeclared middle (api) too', () => {
    const plan = planUpdate({ desired: [desired(S('api'), { source: 'registry', digest: d('2') })], observed: world(), nodes: NODES });
    assert.deepEqual(actionOf(plan, 'api').restartDependents, ['ctl']);
    const plan2 = planUpdate({ desired: [desired(S('etcd'), { source: 'registry', digest: d('2') })], observed: world(), nodes: NODES });
    assert.ok(!actionOf(plan2, 'etcd').restartDependents.includes('web'));
    assert.ok(!actionOf(plan2, 'etcd').restartDependents.includes('solo'));
    assert.ok(!actionOf(plan2, 'etcd').restartDependents.includes('proxy'), 'proxy starts before etcd: not a dependent');
  });

  it('several containers: planned in start order, each decided on its own', () => {
    const plan = planUpdate({
      desired: [
        desired(S('ctl'), { source: 'registry' }),
        desired(S('api'), { source: 'registry', digest: d('2') }),
        desired(S('web'), { source: 'registry', digest: d('2') }),
        desired(S('etcd'), { source: 'missing', error: { code: 'E_REGISTRY_AUTH', message: 'denied' } }),
      ],
      observed: world(), nodes: NODES,
    });
    assert.deepEqual(kinds(plan), [['etcd', 'fail'], ['api', 'update'], ['ctl', 'keep'], ['web', 'skip']]);
    assert.equal(actionOf(plan, 'etcd').code, 'E_REGISTRY_AUTH');
  });

  it('a foreign unit: problem E_UNIT_EXISTS, nothing planned for it, the others still planned', () => {
    const plan = planUpdate({
      desired: [desired(S('etcd'), { source: 'registry', digest: d('2') }), desired(S('solo'), { source: 'registry', digest: d('2') })],
      observed: world({ name: 'etcd', owner: 'foreign', foreignReason: 'is masked', unit: unit('inactive', 'dead', { loadState: 'masked' }) }),
      nodes: NODES,
    });
    assert.deepEqual(plan.problems.map((p) => [p.name, p.code]), [['etcd', 'E_UNIT_EXISTS']]);
    assert.match(plan.problems[0]?.message ?? '', /^etcd\.service is masked/);
    assert.deepEqual(kinds(plan), [['solo', 'update']]);
  });

  it('nothing to update: an empty plan', () => {
    assert.deepEqual(planUpdate({ desired: [], observed: world(), nodes: NODES }), { intent: 'update', actions: [], problems: [] });
  });
});

describe('planRollback', () => {
  const etcdNow = desired(S('etcd'), { digest: d('2') });
  const etcdBefore = desired(specs(doc('etcd', 'env: { ETCD_NAME: node0 }\n')).get('etcd') as ContainerSpec, { digest: d('1') });
  /** etcd runs slot b (d('2')), slot a holds the deployment before (d('1'), another env). */
  const twoSlots = deployed(etcdNow, { active: deployment(etcdNow, 'b'), previous: deployment(etcdBefore, 'a') });

  it('a previous slot: rollback from the active digest to the previous one, naming what changes back; deployed dependents restarted after', () => {
    const plan = planRollback({ names: ['etcd'], observed: world(twoSlots), nodes: NODES });
    assert.equal(plan.intent, 'rollback');
    assert.deepEqual(plan.problems, []);
    const a = actionOf(plan, 'etcd');
    assert.equal(a.action, 'rollback');
    assert.deepEqual(a.reasons, ['slot b -> a', 'image 222222222222 -> 111111111111']);
    assert.deepEqual(a.changes, ['image', 'env']);
    assert.deepEqual(a.image, { name: 'registry.example/etcd:1', from: d('2'), to: d('1'), pull: false });
    assert.deepEqual(a.restartDependents, ['mon', 'api', 'ctl']);
    assert.equal(a.healthGate, false);
    assert.equal(a.code, undefined);
  });

  it('the same image, another spec: "(unchanged)" image, the spec keys as changes', () => {
    const now = desired(S('etcd'));
    const before = desired(specs(doc('etcd', 'env: { ETCD_NAME: node0 }\n')).get('etcd') as ContainerSpec);
    const plan = planRollback({ names: ['etcd'], observed: world(deployed(now, { previous: deployment(before, 'b') })), nodes: NODES });
    const a = actionOf(plan, 'etcd');
    assert.deepEqual(a.reasons, ['slot a -> b', 'image 111111111111 (unchanged)']);
    assert.deepEqual(a.changes, ['env']);
  });

  it('the previous slot was another image name: the action names the image it switches to', () => {
    const other = desired(specs(doc('etcd', '', 'mirror.example/etcd:0')).get('etcd') as ContainerSpec, { digest: d('3') });
    const a = actionOf(planRollback({ names: ['etcd'], observed: world(deployed(etcdNow, { previous: deployment(other, 'b') })), nodes: NODES }), 'etcd');
    assert.equal(a.image?.name, 'mirror.example/etcd:0');
    assert.deepEqual(a.reasons, ['slot a -> b', 'image 222222222222 -> 333333333333']);
  });

  it('only deployed dependents are restarted', () => {
    const obs = world(twoSlots, { name: 'api', owner: 'keel', unit: NOT_FOUND });
    assert.deepEqual(actionOf(planRollback({ names: ['etcd'], observed: obs, nodes: NODES }), 'etcd').restartDependents, ['mon', 'ctl']);
  });

  const FAILS: Array<[string, ObservedContainer, RegExp]> = [
    ['no previous slot', deployed(etcdNow), /^no previous deployment to switch back to \(the other slot is empty\)$/],
    ['a record but no slots at all', { name: 'etcd', owner: 'keel', unit: unit('failed', 'failed'), applied: applied(etcdNow) }, /the other slot is empty/],
    [
      'the previous deployment failed its health gate',
      deployed(etcdNow, { previous: deployment(etcdBefore, 'b', { failed: { at: '2026-01-02T03:04:05.000Z', code: 'E_UNIT_FAILED', message: 'exited 1' } }) }),
      /^the other deployment \(slot b, image 111111111111\) failed its health gate at 2026-01-02T03:04:05\.000Z \[E_UNIT_FAILED\]; keel does not switch back to it$/,
    ],
  ];
  for (const [what, o, re] of FAILS) {
    it(`${what}: fail E_ROLLBACK_UNAVAILABLE`, () => {
      const plan = planRollback({ names: ['etcd'], observed: world(o), nodes: NODES });
      assert.deepEqual(plan.problems, []);
      const a = actionOf(plan, 'etcd');
      assert.equal(a.action, 'fail');
      assert.equal(a.code, 'E_ROLLBACK_UNAVAILABLE');
      assert.equal(a.reasons.length, 1);
      assert.match(a.reasons[0] ?? '', re);
      assert.deepEqual(a.restartDependents, []);
    });
  }

  const UNKNOWN: Array<[string, ObservedContainer | undefined]> = [
    ['not observed at all', undefined],
    ['a name systemd does not know and keel has nothing of', { name: 'nosuch', owner: 'keel', unit: NOT_FOUND }],
    ['observed without systemd and nothing on disk', { name: 'nosuch', owner: 'keel' }],
  ];
  for (const [what, o] of UNKNOWN) {
    it(`an unknown name (${what}): problem E_CONTAINER_NOT_FOUND`, () => {
      const plan = planRollback({ names: ['nosuch', 'etcd'], observed: world(twoSlots, ...(o ? [o] : [])), nodes: NODES });
      assert.deepEqual(plan.problems, [{ name: 'nosuch', code: 'E_CONTAINER_NOT_FOUND', message: 'keel has no system container named nosuch', hint: 'keel status lists them' }]);
      assert.deepEqual(kinds(plan), [['etcd', 'rollback']]);
    });
  }

  it('a foreign unit: problem E_UNIT_EXISTS, no action', () => {
    const plan = planRollback({
      names: ['etcd'], observed: world({ name: 'etcd', owner: 'foreign', foreignReason: 'is a transient unit keel did not create', unit: unit('active', 'running') }), nodes: NODES,
    });
    assert.deepEqual(plan.problems.map((p) => p.code), ['E_UNIT_EXISTS']);
    assert.deepEqual(plan.actions, []);
  });

  it('several names: deduplicated, in start order', () => {
    const api = desired(S('api'), { digest: d('2') });
    const apiBefore = desired(S('api'));
    const obs = world(twoSlots, deployed(api, { active: deployment(api, 'b'), previous: deployment(apiBefore, 'a') }));
    const plan = planRollback({ names: ['api', 'solo', 'etcd', 'api'], observed: obs, nodes: NODES });
    assert.deepEqual(kinds(plan), [['solo', 'fail'], ['etcd', 'rollback'], ['api', 'rollback']]);
    assert.deepEqual(actionOf(plan, 'api').restartDependents, ['ctl']);
  });
});
