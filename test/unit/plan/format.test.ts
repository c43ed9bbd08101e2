// How a plan reads: the diff-like marks, the summary line, the listing with
// its refusals, and planJson's versioned shape.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  formatAction, formatPlan, planApply, planJson, PLAN_JSON_VERSION, summarize, type ActionKind, type Plan, type PlannedAction,
} from '../../../src/plan/index.ts';
import { d, deployed, desired, doc, NOT_FOUND, observedMap, specs } from './fixtures.ts';

function act(name: string, action: ActionKind, extra: Partial<PlannedAction> = {}): PlannedAction {
  return { name, unit: `${name}.service`, action, reasons: ['why'], changes: [], restartDependents: [], healthGate: false, ...extra };
}

function plan(actions: PlannedAction[], problems: Plan['problems'] = []): Plan {
  return { intent: 'apply', actions, problems };
}

const MARKS: Array<[ActionKind, string]> = [
  ['create', '+'], ['keep', '='], ['start', '~'], ['restart', '~'], ['recreate', '~'], ['update', '~'], ['rollback', '~'],
  ['remove', '-'], ['wait-image', '…'], ['blocked', '…'], ['skip', '='], ['fail', '!'],
];

describe('formatAction', () => {
  for (const [kind, mark] of MARKS) {
    it(`${kind} is marked ${mark}`, () => {
      const line = formatAction(act('etcd', kind));
      assert.equal(line, `${mark} ${'etcd.service'.padEnd(24)} ${kind.padEnd(10)} why`);
    });
  }

  it('reasons are joined with "; ", the code follows in brackets', () => {
    const line = formatAction(act('etcd', 'fail', { reasons: ['pulling x failed: denied', 'second'], code: 'E_REGISTRY_AUTH' }));
    assert.equal(line, `! etcd.service             fail       pulling x failed: denied; second [E_REGISTRY_AUTH]`);
  });

  it('dependents restarted after are named', () => {
    const line = formatAction(act('etcd', 'update', { reasons: ['image 111111111111 -> 222222222222'], restartDependents: ['api', 'ctl'] }));
    assert.equal(line, '~ etcd.service             update     image 111111111111 -> 222222222222; then restart api, ctl');
  });

  it('a unit name longer than the column is not cut', () => {
    const name = 'a-very-long-container-name-indeed';
    assert.ok(formatAction(act(name, 'create')).startsWith(`+ ${name}.service create`));
  });
});

describe('summarize', () => {
  const CASES: Array<[string, ActionKind[], string]> = [
    ['nothing', [], 'nothing to do'],
    ['one create', ['create'], '1 to create'],
    ['every change kind counts as a change', ['start', 'restart', 'recreate', 'update', 'rollback'], '5 to change'],
    ['keep and skip are unchanged', ['keep', 'skip', 'keep'], '3 unchanged'],
    ['wait-image and blocked are waiting', ['wait-image', 'blocked'], '2 waiting'],
    ['all of them, in a fixed order', ['keep', 'fail', 'remove', 'blocked', 'restart', 'create', 'create'], '2 to create, 1 to change, 1 to remove, 1 waiting, 1 failing, 1 unchanged'],
  ];
  for (const [title, kinds, want] of CASES) {
    it(title, () => assert.equal(summarize(plan(kinds.map((k, i) => act(`c${i}`, k)))), want));
  }

  it('problems do not count as actions', () => {
    assert.equal(summarize(plan([], [{ name: 'x', code: 'E_UNIT_EXISTS', message: 'm' }])), 'nothing to do');
  });
});

describe('formatPlan', () => {
  it('one indented line per action in plan order, the refusals, then the summary', () => {
    const text = formatPlan(plan(
      [act('old', 'remove', { reasons: ['no manifest names it (--prune)'] }), act('etcd', 'keep', { reasons: ['unchanged'] }), act('api', 'create', { reasons: ['new'] })],
      [{ name: 'sshd', code: 'E_UNIT_EXISTS', message: 'sshd.service is masked; keel will not replace it' }],
    ));
    assert.equal(text, [
      '  - old.service              remove     no manifest names it (--prune)',
      '  = etcd.service             keep       unchanged',
      '  + api.service              create     new',
      '  ! sshd.service             refused    sshd.service is masked; keel will not replace it [E_UNIT_EXISTS]',
      '1 to create, 1 to remove, 1 unchanged',
      '',
    ].join('\n'));
  });

  it('an empty plan is just the summary', () => {
    assert.equal(formatPlan(plan([])), 'nothing to do\n');
  });

  it('a planned apply reads as a diff', () => {
    const m = specs([doc('etcd', 'env: { A: b }\n'), doc('api', 'requires: [etcd]\n')].join('---\n'));
    const before = desired(m.get('etcd') as never);
    const after = desired(specs(doc('etcd', 'env: { A: c }\n')).get('etcd') as never, { digest: d('2') });
    const p = planApply({
      intent: 'apply', desired: [after, desired(m.get('api') as never)], nodes: [...m.values()],
      observed: observedMap(deployed(before), { name: 'api', owner: 'keel', unit: NOT_FOUND }),
    });
    const lines = formatPlan(p).split('\n');
    assert.match(lines[0] ?? '', /^ {2}~ etcd\.service +restart +image 111111111111 -> 222222222222; changed: env$/);
    assert.match(lines[1] ?? '', /^ {2}\+ api\.service +create +new$/);
    assert.equal(lines[2], '1 to create, 1 to change');
  });
});

describe('planJson', () => {
  it('has version 1, the intent, the actions and the problems', () => {
    assert.equal(PLAN_JSON_VERSION, 1);
    const p: Plan = {
      intent: 'update',
      actions: [
        act('etcd', 'update', { reasons: ['image a -> b'], changes: ['image'], restartDependents: ['api'], healthGate: true, image: { name: 'r/etcd:1', from: d('1'), to: d('2'), pull: false } }),
        act('web', 'fail', { code: 'E_REGISTRY_AUTH' }),
      ],
      problems: [{ name: 'sshd', code: 'E_UNIT_EXISTS', message: 'm', hint: 'h' }],
    };
    const j = planJson(p);
    assert.deepEqual(j, {
      version: 1, intent: 'update',
      actions: [
        {
          name: 'etcd', unit: 'etcd.service', action: 'update', reasons: ['image a -> b'], changes: ['image'],
          image: { name: 'r/etcd:1', from: d('1'), to: d('2'), pull: false }, restartDependents: ['api'], healthGate: true,
        },
        { name: 'web', unit: 'web.service', action: 'fail', reasons: ['why'], changes: [], restartDependents: [], healthGate: false, code: 'E_REGISTRY_AUTH' },
      ],
      problems: [{ name: 'sshd', code: 'E_UNIT_EXISTS', message: 'm', hint: 'h' }],
    });
    assert.ok(!('image' in ((j['actions'] as Array<Record<string, unknown>>)[1] ?? {})), 'no image key when there is none');
    assert.ok(!('code' in ((j['actions'] as Array<Record<string, unknown>>)[0] ?? {})), 'no code key when there is none');
  });

  it('survives JSON.stringify unchanged (plain data, no BigInt, no undefined that matters)', () => {
    const m = specs(doc('etcd'));
    const p = planApply({ intent: 'apply', desired: [desired(m.get('etcd') as never)], observed: observedMap(), nodes: [...m.values()] });
    const j = planJson(p);
    const back = JSON.parse(JSON.stringify(j)) as Record<string, unknown>;
    assert.equal(back['version'], 1);
    assert.equal(back['intent'], 'apply');
    assert.deepEqual((back['actions'] as Array<Record<string, unknown>>).map((a) => a['action']), ['create']);
  });
});
