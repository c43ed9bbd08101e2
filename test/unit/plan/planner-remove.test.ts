// planRemove: dependents first whatever the order given, a container still
// required by one left behind refused (from the manifests and from systemd),
// after/wants-only dependents allowed with a note, unknown and foreign names.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { ContainerSpec } from '../../../src/manifest/index.ts';
import { planRemove, type DependencyNode, type DesiredContainer, type ObservedContainer } from '../../../src/plan/index.ts';
import { actionOf, applied, d, deployed, desired, doc, kinds, node, NOT_FOUND, observedMap, specs, unit } from './fixtures.ts';

// etcd <- api (requires) <- ctl (after api); mon wants etcd; solo unrelated.
const M = specs([doc('ctl', 'after: [api]\n'), doc('mon', 'wants: [etcd]\n'), doc('api', 'requires: [etcd]\n'), doc('solo'), doc('etcd')].join('---\n'));
const ALL = [...M.values()];
const NODES: DependencyNode[] = ALL;
const X = Object.fromEntries(ALL.map((s) => [s.name, desired(s)])) as Record<string, DesiredContainer>;
const world = (...over: ObservedContainer[]): Map<string, ObservedContainer> => observedMap(...ALL.map((s) => deployed(X[s.name] as DesiredContainer)), ...over);

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('planRemove: order', () => {
  for (const names of permutations(['etcd', 'api', 'ctl', 'mon'])) {
    it(`remove ${names.join(' ')}: dependents first`, () => {
      const plan = planRemove({ names, observed: world(), nodes: NODES });
      assert.equal(plan.intent, 'remove');
      assert.deepEqual(plan.problems, []);
      const order = plan.actions.map((a) => a.name);
      assert.equal(order.length, 4);
      assert.ok(plan.actions.every((a) => a.action === 'remove'));
      assert.ok(order.indexOf('ctl') < order.indexOf('api'), order.join(' '));
      assert.ok(order.indexOf('api') < order.indexOf('etcd'), order.join(' '));
      // mon only wants etcd: wants is not ordering, so mon may go either side of it.
      for (const a of plan.actions) assert.deepEqual(a.reasons, ['requested'], `${a.name}: nothing left behind is ordered after it`);
    });
  }

  it('a name given twice is removed once', () => {
    assert.deepEqual(kinds(planRemove({ names: ['solo', 'solo'], observed: world(), nodes: NODES })), [['solo', 'remove']]);
  });

  it('a removal names the image it ran; no slots, no image', () => {
    const plan = planRemove({ names: ['solo', 'rec', 'loaded'], nodes: [...NODES, node('rec'), node('loaded')], observed: world(
      { name: 'rec', owner: 'keel', unit: NOT_FOUND, applied: applied(X['solo'] as DesiredContainer) },
      { name: 'loaded', owner: 'keel', unit: unit('inactive', 'dead') },
    ) });
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(new Set(plan.actions.map((a) => a.name)), new Set(['solo', 'rec', 'loaded']));
    assert.deepEqual(actionOf(plan, 'solo').image, { name: 'registry.example/solo:1', from: d('1'), pull: false });
    assert.equal(actionOf(plan, 'rec').image, undefined);
    assert.equal(actionOf(plan, 'loaded').image, undefined);
    assert.equal(actionOf(plan, 'solo').healthGate, false);
    assert.deepEqual(actionOf(plan, 'solo').restartDependents, []);
  });
});

describe('planRemove: refused while required', () => {
  interface Case {
    readonly title: string;
    readonly names: readonly string[];
    readonly over?: readonly ObservedContainer[];
    readonly nodes?: readonly DependencyNode[];
    readonly problem: { readonly name: string; readonly message: string; readonly hint: string };
  }
  const CASES: Case[] = [
    {
      title: "required by a container left behind (its manifest's requires)", names: ['etcd'],
      problem: {
        name: 'etcd', message: 'api.service requires etcd.service; removing etcd alone would stop it',
        hint: 'remove them together (keel remove api etcd), or drop the dependency from their manifests and apply first',
      },
    },
    {
      title: 'required by a container left behind while its dependents go (api stays, ctl goes)', names: ['ctl', 'etcd'],
      problem: { name: 'etcd', message: 'api.service requires etcd.service; removing etcd alone would stop it', hint: 'remove them together (keel remove api etcd), or drop the dependency from their manifests and apply first' },
    },
    {
      title: "required by a unit systemd knows (the unit's RequiredBy=), not by any manifest", names: ['solo'],
      over: [deployed(X['solo'] as DesiredContainer, { unit: unit('active', 'running', { requiredBy: ['kubelet.service'] }) })],
      problem: { name: 'solo', message: 'kubelet.service requires solo.service; removing solo alone would stop it', hint: 'kubelet.service is a host unit: stop it or remove the Requires=/BindsTo= on solo.service from its unit file first' },
    },
    {
      title: 'required by a host unit that is not a service: named with its suffix, as a host unit', names: ['solo'],
      over: [deployed(X['solo'] as DesiredContainer, { unit: unit('active', 'running', { requiredBy: ['srv-data.mount', 'solo-keep.slice'] }) })],
      problem: { name: 'solo', message: 'srv-data.mount requires solo.service; removing solo alone would stop it', hint: 'srv-data.mount is a host unit: stop it or remove the Requires=/BindsTo= on solo.service from its unit file first' },
    },
    {
      title: 'required by two: both named, sorted, once each (manifest and systemd agree on api)', names: ['etcd'],
      over: [deployed(X['etcd'] as DesiredContainer, { unit: unit('active', 'running', { requiredBy: ['api.service', 'zeta.service', 'keel-etcd.slice'] }) })],
      problem: { name: 'etcd', message: 'api.service, zeta.service require etcd.service; removing etcd alone would stop them', hint: 'remove them together (keel remove api etcd), or drop the dependency from their manifests and apply first; zeta.service is a host unit: stop it or remove the Requires=/BindsTo= on etcd.service from its unit file first' },
    },
  ];
  for (const c of CASES) {
    it(`${c.title}: problem E_CONTAINER_REQUIRED`, () => {
      const plan = planRemove({ names: c.names, observed: world(...(c.over ?? [])), nodes: c.nodes ?? NODES });
      assert.deepEqual(plan.problems, [{ name: c.problem.name, code: 'E_CONTAINER_REQUIRED', message: c.problem.message, hint: c.problem.hint }]);
      assert.ok(!plan.actions.some((a) => a.name === c.problem.name), 'no removal planned for the refused one');
    });
  }

  it('required only by containers removed with it: allowed', () => {
    const plan = planRemove({
      names: ['etcd', 'api'], nodes: NODES,
      observed: world(deployed(X['etcd'] as DesiredContainer, { unit: unit('active', 'running', { requiredBy: ['api.service', 'keel-etcd.slice'] }) })),
    });
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(kinds(plan), [['api', 'remove'], ['etcd', 'remove']]);
  });

  it('a requirer known only from the deployed spec (no manifest) counts the same', () => {
    // remove's nodes come from the active slots' specs (nodeFromSpec), not from manifests.
    const nodes = [node('etcd'), node('api', { requires: ['etcd.service'] })];
    const plan = planRemove({ names: ['etcd'], observed: world(), nodes });
    assert.deepEqual(plan.problems.map((p) => [p.name, p.code]), [['etcd', 'E_CONTAINER_REQUIRED']]);
  });
});

describe('planRemove: after/wants-only dependents', () => {
  it('ordered after it (after): allowed, with a note that its unit stays loaded', () => {
    const plan = planRemove({ names: ['api'], observed: world(), nodes: NODES });
    // api is required by nobody; ctl is only ordered after it.
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(actionOf(plan, 'api').reasons, [
      'requested', 'ctl is ordered after it: its unit stays loaded (inactive) until that one is re-created or removed',
    ]);
  });

  it('wanted by one (wants) and ordered after by another: both named, plural', () => {
    const n = [...NODES, node('late', { after: ['solo.service'] }), node('fan', { wants: ['solo.service'] })];
    const plan = planRemove({ names: ['solo'], observed: world(), nodes: n });
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(actionOf(plan, 'solo').reasons, [
      'requested', 'late, fan are ordered after it: its unit stays loaded (inactive) until those are re-created or removed',
    ]);
  });

  it('the after-only dependent removed too: no note', () => {
    const plan = planRemove({ names: ['api', 'ctl'], observed: world(), nodes: NODES });
    for (const a of plan.actions) assert.deepEqual(a.reasons, ['requested']);
  });
});

describe('planRemove: unknown and foreign names', () => {
  const UNKNOWN: Array<[string, ObservedContainer | undefined]> = [
    ['not observed', undefined],
    ['systemd does not know it, keel has nothing', { name: 'nosuch', owner: 'keel', unit: NOT_FOUND }],
  ];
  for (const [what, o] of UNKNOWN) {
    it(`unknown (${what}): problem E_CONTAINER_NOT_FOUND, the others still planned`, () => {
      const plan = planRemove({ names: ['solo', 'nosuch'], observed: world(...(o ? [o] : [])), nodes: NODES });
      assert.deepEqual(plan.problems, [{ name: 'nosuch', code: 'E_CONTAINER_NOT_FOUND', message: 'keel has no system container named nosuch', hint: 'keel status lists them' }]);
      assert.deepEqual(kinds(plan), [['solo', 'remove']]);
    });
  }

  it('an unknown name does not count as a requirer left behind', () => {
    const plan = planRemove({ names: ['etcd', 'api', 'nosuch'], observed: world(), nodes: NODES });
    assert.deepEqual(plan.problems.map((p) => p.code), ['E_CONTAINER_NOT_FOUND']);
    assert.deepEqual(kinds(plan), [['api', 'remove'], ['etcd', 'remove']]);
  });

  it('a foreign unit: problem E_UNIT_EXISTS, never removed', () => {
    const plan = planRemove({
      names: ['sshd'], nodes: [...NODES, node('sshd')],
      observed: world({ name: 'sshd', owner: 'foreign', foreignReason: 'is a unit file on this host (/lib/systemd/system/sshd.service)', unit: unit('active', 'running') }),
    });
    assert.deepEqual(plan.problems.map((p) => [p.name, p.code]), [['sshd', 'E_UNIT_EXISTS']]);
    assert.match(plan.problems[0]?.message ?? '', /^sshd\.service is a unit file on this host/);
    assert.deepEqual(plan.actions, []);
  });

  it('nothing named: an empty plan', () => {
    assert.deepEqual(planRemove({ names: [], observed: world(), nodes: NODES }), { intent: 'remove', actions: [], problems: [] });
  });
});

it('a spec with requires on a host unit does not make that unit a requirer', () => {
  const s = specs(doc('x', 'requires: [dbus.service]\n')).get('x') as ContainerSpec;
  const plan = planRemove({ names: ['x'], observed: observedMap(deployed(desired(s))), nodes: [s] });
  assert.deepEqual(kinds(plan), [['x', 'remove']]);
});
