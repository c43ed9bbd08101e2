// planApply (apply and boot): every per-container transition, blocked
// dependents, foreign units, --prune and the order of the plan.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { planApply, type DesiredContainer, type ObservedContainer } from '../../../src/plan/index.ts';
import {
  actionOf, applied, d, deployed, deployment, desired, doc, kinds, node, nodesOf, NOT_FOUND, observedMap, spec, specs, unit,
} from './fixtures.ts';

const BASE = spec(doc('etcd', 'command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node1 }\nresources: { memoryMax: 1G }\n'));
const CUR = desired(BASE);

/** The same container with `extra` manifest lines in place of BASE's. */
function variant(extra: string, image?: string): DesiredContainer {
  return desired(spec(doc('etcd', extra, image)));
}

interface Case {
  readonly title: string;
  readonly intent?: 'apply' | 'boot';
  readonly want: DesiredContainer;
  readonly seen?: ObservedContainer | undefined;
  readonly action: string;
  /** Each must match one reason, in this order. */
  readonly reasons: readonly RegExp[];
  readonly changes?: readonly string[];
  readonly code?: string;
  readonly image?: { readonly from?: string | undefined; readonly to?: string | undefined; readonly pull?: boolean };
}

const FAILED = unit('failed', 'failed');
const INACTIVE = unit('inactive', 'dead');

const CASES: Case[] = [
  // create
  {
    title: 'a new container (a name systemd does not know, never deployed) is created', want: CUR,
    seen: { name: 'etcd', owner: 'keel', unit: NOT_FOUND }, action: 'create', reasons: [/^new$/], changes: [],
  },
  {
    title: 'a deployed container whose unit is gone (after a reboot) is created again, on its pinned digest',
    want: CUR, seen: deployed(CUR, { unit: NOT_FOUND }), action: 'create', reasons: [/^not registered with systemd$/], changes: [],
    image: { from: d('1'), to: d('1'), pull: false },
  },
  {
    title: 'after a reboot with a changed manifest: created, naming what changed',
    want: variant('command: [/usr/bin/etcd, --debug]\nenv: { ETCD_NAME: node1 }\nresources: { memoryMax: 1G }\n'),
    seen: deployed(CUR, { unit: NOT_FOUND, applied: undefined }), action: 'create',
    reasons: [/^not registered with systemd$/, /^changed: command$/], changes: ['command'],
  },
  {
    title: 'systemd not reachable (dry run without a bus): create, saying the state is unknown',
    want: CUR, seen: deployed(CUR, { unit: undefined }), action: 'create', reasons: [/^unit state unknown \(systemd not reachable\)$/],
  },
  {
    title: 'apply, image not in the store (pull missing): created after a pull',
    want: desired(BASE, { source: 'missing', pull: true }), seen: { name: 'etcd', owner: 'keel', unit: NOT_FOUND }, action: 'create',
    reasons: [/^new$/, /^pull registry\.example\/etcd:1 \(not in the store\)$/], image: { to: undefined, pull: true },
  },
  // recreate
  {
    title: 'unit properties changed: recreate naming them (unit:MemoryMax) beside the spec key',
    want: variant('command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node1 }\nresources: { memoryMax: 2G }\n'),
    seen: deployed(CUR), action: 'recreate', reasons: [/^unit properties changed: MemoryMax$/, /^changed: resources$/],
    changes: ['resources', 'unit:MemoryMax'],
  },
  {
    title: 'several unit properties changed: all named, sorted',
    want: variant('command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node1 }\nresources: { memoryMax: 2G }\nstopTimeout: 45s\n'),
    seen: deployed(CUR), action: 'recreate', reasons: [/^unit properties changed: MemoryMax, TimeoutStopUSec$/, /^changed: resources, stopTimeoutSec$/],
    changes: ['resources', 'stopTimeoutSec', 'unit:MemoryMax', 'unit:TimeoutStopUSec'],
  },
  {
    title: 'a record without unit settings (older keel): recreate without names',
    want: CUR, seen: deployed(CUR, { applied: { inputsDigest: CUR.inputsDigest ?? '', unitDigest: 'sha256:old' } }),
    action: 'recreate', reasons: [/^unit properties changed$/], changes: [],
  },
  {
    title: 'a stopped unit with changed properties is recreated too (not just started)',
    want: variant('command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node1 }\nresources: { memoryMax: 2G }\n'),
    seen: deployed(CUR, { unit: FAILED }), action: 'recreate', reasons: [/MemoryMax/, /resources/],
  },
  // restart
  {
    title: 'inputs changed while running: restart naming the spec keys (command, env, mounts)',
    want: variant('command: [/usr/bin/etcd, --debug]\nenv: { ETCD_NAME: node2 }\nresources: { memoryMax: 1G }\nmounts:\n  - {type: tmpfs, target: /scratch}\n'),
    seen: deployed(CUR), action: 'restart', reasons: [/^changed: command, env, mounts$/], changes: ['command', 'env', 'mounts'],
  },
  {
    title: 'a new image digest while running: restart naming the image change',
    want: desired(BASE, { digest: d('2') }), seen: deployed(CUR), action: 'restart',
    reasons: [/^image 111111111111 -> 222222222222$/], changes: ['image'], image: { from: d('1'), to: d('2'), pull: false },
  },
  {
    title: 'another tag with another digest: "image" named once',
    want: desired(spec(doc('etcd', 'command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node1 }\nresources: { memoryMax: 1G }\n', 'registry.example/etcd:2')), { digest: d('2') }),
    seen: deployed(CUR), action: 'restart', reasons: [/^image 111111111111 -> 222222222222$/], changes: ['image'],
  },
  {
    title: 'another image name whose digest is still to be pulled: the names are given',
    want: desired(spec(doc('etcd', 'command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node1 }\nresources: { memoryMax: 1G }\n', 'registry.example/etcd:2')), { source: 'missing', pull: true }),
    seen: deployed(CUR), action: 'restart',
    reasons: [/^pull registry\.example\/etcd:2 \(not in the store\)$/, /^image registry\.example\/etcd:1 -> registry\.example\/etcd:2$/], changes: ['image'],
  },
  {
    title: 'pull policy always: the pull is a reason',
    want: desired(spec(doc('etcd', 'command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node2 }\nresources: { memoryMax: 1G }\npull: always\n')), { pull: true }),
    seen: deployed(CUR), action: 'restart', reasons: [/^pull registry\.example\/etcd:1 \(pull policy always\)$/, /^changed: env, pull$/], changes: ['env', 'pull'],
  },
  {
    title: 'the record disagrees with the active slot (a render not yet started): restart',
    want: CUR, seen: deployed(CUR, { applied: applied(CUR, { inputsDigest: 'sha256:older' }) }), action: 'restart',
    reasons: [/^rendered inputs changed$/], changes: [],
  },
  {
    title: 'activating counts as running: restart, not start',
    want: desired(BASE, { digest: d('2') }), seen: deployed(CUR, { unit: unit('activating', 'start') }), action: 'restart', reasons: [/^image /],
  },
  // keep
  { title: 'same inputs, running: keep', want: CUR, seen: deployed(CUR), action: 'keep', reasons: [/^unchanged$/], changes: [] },
  {
    title: 'same inputs, reloading: keep', want: CUR, seen: deployed(CUR, { unit: unit('reloading', 'reload') }), action: 'keep', reasons: [/^unchanged$/],
  },
  {
    title: 'a moved tag changes nothing while the digest stays pinned: keep', want: desired(BASE, { source: 'pinned' }),
    seen: deployed(CUR), action: 'keep', reasons: [/^unchanged$/],
  },
  // start
  {
    title: 'same inputs, inactive: start, saying the state', want: CUR, seen: deployed(CUR, { unit: INACTIVE }), action: 'start',
    reasons: [/^the unit is inactive \(dead\)$/], changes: [],
  },
  {
    title: 'same inputs, failed: start', want: CUR, seen: deployed(CUR, { unit: FAILED }), action: 'start', reasons: [/^the unit is failed \(failed\)$/],
  },
  {
    title: 'same inputs, deactivating: start', want: CUR, seen: deployed(CUR, { unit: unit('deactivating', 'stop-sigterm') }), action: 'start',
    reasons: [/^the unit is deactivating \(stop-sigterm\)$/],
  },
  {
    title: 'changed inputs, failed: start on the new inputs, naming them',
    want: variant('command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node2 }\nresources: { memoryMax: 1G }\n'),
    seen: deployed(CUR, { unit: FAILED }), action: 'start', reasons: [/^changed: env$/], changes: ['env'],
  },
  {
    title: 'a tombstone (removed, unit kept loaded, no bundles): applying the same manifest starts it',
    want: CUR, seen: { name: 'etcd', owner: 'keel', unit: INACTIVE, applied: applied(CUR) }, action: 'start', reasons: [/^rendered inputs changed$/],
  },
  // pending
  {
    title: 'a pending record, running: restart (the start was not confirmed)', want: CUR,
    seen: deployed(CUR, { applied: applied(CUR, { pending: true }) }), action: 'restart', reasons: [/^a previous start was not confirmed$/], changes: [],
  },
  {
    title: 'a pending record, failed: start', want: CUR,
    seen: deployed(CUR, { unit: FAILED, applied: applied(CUR, { pending: true }) }), action: 'start', reasons: [/^a previous start was not confirmed$/],
  },
  {
    title: 'a pending record and changed inputs: the changes are the reason',
    want: desired(BASE, { digest: d('2') }), seen: deployed(CUR, { applied: applied(CUR, { pending: true }) }), action: 'restart',
    reasons: [/^image 111111111111 -> 222222222222$/], changes: ['image'],
  },
  // fail
  {
    title: 'image missing with pull never: fail E_IMAGE_NOT_FOUND',
    want: desired(spec(doc('etcd', 'pull: never\n')), { source: 'missing' }), seen: undefined, action: 'fail',
    reasons: [/^image registry\.example\/etcd:1 is not in the store and the pull policy is never$/], code: 'E_IMAGE_NOT_FOUND',
  },
  {
    title: 'boot, image missing with pull never: fail E_IMAGE_NOT_FOUND, not wait', intent: 'boot',
    want: desired(spec(doc('etcd', 'pull: never\n')), { source: 'missing' }), seen: undefined, action: 'fail',
    reasons: [/pull policy is never/], code: 'E_IMAGE_NOT_FOUND',
  },
  {
    title: 'the pull failed: fail with its code and message',
    want: desired(BASE, { source: 'missing', error: { code: 'E_REGISTRY_AUTH', message: '401 from registry.example' } }),
    seen: undefined, action: 'fail', reasons: [/^pulling registry\.example\/etcd:1 failed: 401 from registry\.example$/], code: 'E_REGISTRY_AUTH',
  },
  {
    title: 'a pull error wins over everything else, even for a running container',
    want: desired(BASE, { source: 'missing', error: { code: 'E_REGISTRY_NOT_FOUND', message: 'no such tag' } }),
    seen: deployed(CUR), action: 'fail', reasons: [/failed: no such tag/], code: 'E_REGISTRY_NOT_FOUND', image: { from: d('1'), to: undefined },
  },
  // boot
  {
    title: 'boot, image missing: wait-image', intent: 'boot', want: desired(BASE, { source: 'missing' }), seen: undefined,
    action: 'wait-image', reasons: [/^image registry\.example\/etcd:1 is not in the store: pulled in the background once the network is up, then started$/],
  },
  {
    title: 'boot, pinned image, unit gone: create', intent: 'boot', want: desired(BASE, { source: 'pinned' }),
    seen: deployed(CUR, { unit: NOT_FOUND }), action: 'create', reasons: [/^not registered with systemd$/],
  },
  {
    title: 'boot, already running (keel-boot run twice): keep', intent: 'boot', want: desired(BASE, { source: 'pinned' }),
    seen: deployed(CUR), action: 'keep', reasons: [/^unchanged$/],
  },
];

describe('planApply: one container', () => {
  for (const c of CASES) {
    it(c.title, () => {
      const plan = planApply({
        intent: c.intent ?? 'apply', desired: [c.want], observed: observedMap(...(c.seen ? [c.seen] : [])), nodes: nodesOf(c.want.spec),
      });
      assert.equal(plan.intent, c.intent ?? 'apply');
      assert.deepEqual(plan.problems, []);
      const a = actionOf(plan, 'etcd');
      assert.equal(a.action, c.action, a.reasons.join('; '));
      assert.equal(a.unit, 'etcd.service');
      assert.equal(a.reasons.length, c.reasons.length, `reasons: ${JSON.stringify(a.reasons)}`);
      c.reasons.forEach((re, i) => assert.match(a.reasons[i] ?? '', re));
      if (c.changes !== undefined) assert.deepEqual(a.changes, c.changes);
      assert.equal(a.code, c.code);
      if (c.code === undefined) assert.ok(!('code' in a), 'no code key on a non-failing action');
      if (c.image !== undefined) {
        for (const [k, v] of Object.entries(c.image)) assert.deepEqual((a.image as Record<string, unknown>)[k], v, `image.${k}`);
      }
      assert.deepEqual(a.restartDependents, []);
      assert.equal(a.healthGate, false);
      assert.ok(Object.isFrozen(plan) && Object.isFrozen(plan.actions) && Object.isFrozen(a) && Object.isFrozen(a.reasons));
    });
  }

  it('the image the action runs names the store name, the digest before and after', () => {
    const a = actionOf(planApply({ intent: 'apply', desired: [desired(BASE, { digest: d('2') })], observed: observedMap(deployed(CUR)), nodes: nodesOf(BASE) }), 'etcd');
    assert.deepEqual(a.image, { name: 'registry.example/etcd:1', from: d('1'), to: d('2'), pull: false });
  });

  it('reasons never carry env values (they may be secrets), only the key names', () => {
    const secret = variant('command: [/usr/bin/etcd]\nenv: { ETCD_NAME: node1, TOKEN: hunter2 }\nresources: { memoryMax: 1G }\n');
    const a = actionOf(planApply({ intent: 'apply', desired: [secret], observed: observedMap(deployed(CUR)), nodes: nodesOf(BASE) }), 'etcd');
    assert.equal(a.action, 'restart');
    assert.ok(!JSON.stringify(a).includes('hunter2'));
  });
});

describe('planApply: foreign units', () => {
  const m = specs([doc('etcd'), doc('sshd'), doc('web')].join('---\n'));
  const [etcd, sshd, web] = ['etcd', 'sshd', 'web'].map((n) => desired(m.get(n) as never)) as [DesiredContainer, DesiredContainer, DesiredContainer];

  const FOREIGN: Array<[string, ObservedContainer, RegExp]> = [
    ['a host unit file', { name: 'sshd', owner: 'foreign', foreignReason: 'is a unit file on this host (/lib/systemd/system/sshd.service)', unit: unit('active', 'running') }, /^sshd\.service is a unit file on this host \(\/lib\/systemd\/system\/sshd\.service\); keel will not replace it$/],
    ['a masked unit', { name: 'sshd', owner: 'foreign', foreignReason: 'is masked', unit: unit('inactive', 'dead', { loadState: 'masked' }) }, /^sshd\.service is masked; keel will not replace it$/],
    ['a transient unit keel did not create', { name: 'sshd', owner: 'foreign', foreignReason: 'is a transient unit keel did not create', unit: unit('active', 'running') }, /transient unit keel did not create/],
    ['no reason given', { name: 'sshd', owner: 'foreign', unit: unit('active', 'running') }, /^sshd\.service is not a unit keel created; keel will not replace it$/],
  ];
  for (const [what, o, re] of FOREIGN) {
    it(`${what}: problem E_UNIT_EXISTS refusing the plan, nothing planned for it`, () => {
      const plan = planApply({ intent: 'apply', desired: [etcd, sshd, web], observed: observedMap(o), nodes: nodesOf(etcd.spec, sshd.spec, web.spec) });
      assert.equal(plan.problems.length, 1);
      const [p] = plan.problems;
      assert.equal(p?.name, 'sshd');
      assert.equal(p?.code, 'E_UNIT_EXISTS');
      assert.match(p?.message ?? '', re);
      assert.match(p?.hint ?? '', /systemctl disable --now sshd\.service/);
      assert.deepEqual(kinds(plan), [['etcd', 'create'], ['web', 'create']]);
    });
  }

  it('boot refuses a foreign unit too', () => {
    const plan = planApply({ intent: 'boot', desired: [sshd], observed: observedMap(FOREIGN[0]?.[1] as ObservedContainer), nodes: nodesOf(sshd.spec) });
    assert.deepEqual(plan.problems.map((p) => p.code), ['E_UNIT_EXISTS']);
    assert.deepEqual(plan.actions, []);
  });

  it('one problem per foreign unit', () => {
    const plan = planApply({
      intent: 'apply', desired: [etcd, sshd], nodes: nodesOf(etcd.spec, sshd.spec),
      observed: observedMap({ name: 'etcd', owner: 'foreign', foreignReason: 'is masked' }, { name: 'sshd', owner: 'foreign', foreignReason: 'is masked' }),
    });
    assert.deepEqual(plan.problems.map((p) => [p.name, p.code]), [['etcd', 'E_UNIT_EXISTS'], ['sshd', 'E_UNIT_EXISTS']]);
  });
});

describe('planApply: blocked dependents', () => {
  // api requires etcd; ctl requires api (so etcd transitively); mon only wants etcd; solo is unrelated.
  const m = specs([
    doc('ctl', 'requires: [api]\n'), doc('mon', 'wants: [etcd]\nafter: [etcd]\n'), doc('api', 'requires: [etcd]\n'), doc('solo'), doc('etcd'),
  ].join('---\n'));
  const all = [...m.values()];
  const nodes = nodesOf(...all);

  const STUCK: Array<[string, 'apply' | 'boot', DesiredContainer, string, RegExp]> = [
    ['boot, image missing (wait-image)', 'boot', desired(m.get('etcd') as never, { source: 'missing' }), 'wait-image', /^requires etcd, which waits for its image$/],
    ['apply, pull failed (fail)', 'apply', desired(m.get('etcd') as never, { source: 'missing', error: { code: 'E_REGISTRY_AUTH', message: 'denied' } }), 'fail', /^requires etcd, which cannot start$/],
    ['apply, pull never (fail)', 'apply', desired(spec(doc('etcd', 'pull: never\n')), { source: 'missing' }), 'fail', /^requires etcd, which cannot start$/],
  ];
  for (const [what, intent, etcd, kind, re] of STUCK) {
    it(`a required container that cannot start now (${what}) blocks its requirers, transitively; wants-only and unrelated go ahead`, () => {
      const want = all.map((s) => (s.name === 'etcd' ? etcd : desired(s)));
      const plan = planApply({ intent, desired: want, observed: observedMap(), nodes });
      // Start order: each as early as what it is ordered after allows, manifest order otherwise.
      assert.deepEqual(kinds(plan), [['solo', 'create'], ['etcd', kind], ['mon', 'create'], ['api', 'blocked'], ['ctl', 'blocked']]);
      assert.deepEqual(actionOf(plan, 'api').reasons.length, 1);
      assert.match(actionOf(plan, 'api').reasons[0] ?? '', re);
      assert.deepEqual(actionOf(plan, 'ctl').reasons, ['requires api, which cannot start']);
      assert.equal(actionOf(plan, 'mon').action, 'create');
      assert.equal(actionOf(plan, 'solo').action, 'create');
      assert.deepEqual(plan.problems, []);
    });
  }

  it('a blocked container keeps the image and changes it would have had', () => {
    const apiOld = desired(m.get('api') as never);
    const apiNew = desired(spec(doc('api', 'requires: [etcd.service]\nenv: { A: b }\n')), { digest: d('2') });
    const etcd = desired(m.get('etcd') as never, { source: 'missing' });
    const plan = planApply({ intent: 'boot', desired: [apiNew, etcd], observed: observedMap(deployed(apiOld)), nodes });
    const a = actionOf(plan, 'api');
    assert.equal(a.action, 'blocked');
    assert.deepEqual(a.changes, ['image', 'env']);
    assert.deepEqual(a.image, { name: 'registry.example/api:1', from: d('1'), to: d('2'), pull: false });
  });

  it('a requirer already running is blocked as well when what it requires cannot start', () => {
    const api = desired(m.get('api') as never);
    const etcd = desired(m.get('etcd') as never, { source: 'missing', error: { code: 'E_REGISTRY_UNREACHABLE', message: 'down' } });
    const plan = planApply({ intent: 'apply', desired: [api, etcd], observed: observedMap(deployed(api)), nodes });
    assert.deepEqual(kinds(plan), [['etcd', 'fail'], ['api', 'blocked']]);
  });

  it('a required container that only needs a (re)start blocks nothing', () => {
    const etcd = desired(m.get('etcd') as never);
    const api = desired(m.get('api') as never);
    const plan = planApply({ intent: 'apply', desired: [api, etcd], observed: observedMap(deployed(etcd, { unit: unit('failed', 'failed') })), nodes });
    assert.deepEqual(kinds(plan), [['etcd', 'start'], ['api', 'create']]);
  });

  it('requires on a unit that is not a container (dbus.service) blocks nothing', () => {
    const x = desired(spec(doc('x', 'requires: [dbus.service]\n')));
    assert.deepEqual(kinds(planApply({ intent: 'apply', desired: [x], observed: observedMap(), nodes: nodesOf(x.spec) })), [['x', 'create']]);
  });
});

describe('planApply: order', () => {
  it('follows start order (after, requires, before), not manifest order', () => {
    const m = specs([
      doc('kubelet', 'after: [flannel]\nrequires: [etcd]\n'), doc('flannel', 'after: [etcd]\n'), doc('etcd'), doc('proxy', 'before: [etcd]\n'),
    ].join('---\n'));
    const plan = planApply({ intent: 'apply', desired: [...m.values()].map((s) => desired(s)), observed: observedMap(), nodes: nodesOf(...m.values()) });
    assert.deepEqual(plan.actions.map((a) => a.name), ['proxy', 'etcd', 'flannel', 'kubelet']);
  });

  it('an empty apply plans nothing', () => {
    const plan = planApply({ intent: 'apply', desired: [], observed: observedMap(), nodes: [] });
    assert.deepEqual(plan, { intent: 'apply', actions: [], problems: [] });
  });
});

describe('planApply --prune', () => {
  const m = specs([doc('etcd'), doc('api', 'requires: [etcd]\n')].join('---\n'));
  const etcd = desired(m.get('etcd') as never);
  // Deployed containers no manifest names: old-db <- old-api (requires) <- old-web (after), and their nodes from the active specs.
  const oldDb = desired(spec(doc('old-db')));
  const oldApi = desired(spec(doc('old-api', 'requires: [old-db.service]\n')));
  const oldWeb = desired(spec(doc('old-web', 'after: [old-api.service]\n')));
  const observed = observedMap(
    deployed(etcd),
    deployed(oldDb), deployed(oldWeb), deployed(oldApi),
    // A record only (render done, unit gone): keel's, removed.
    { name: 'half', owner: 'keel', unit: NOT_FOUND, applied: applied(oldDb) },
    // A unit only (bundles gone, unit loaded): keel's, removed.
    { name: 'ghost', owner: 'keel', unit: unit('inactive', 'dead') },
    // Nothing at all (a name keel listed but knows nothing of): not planned.
    { name: 'nothing', owner: 'keel', unit: NOT_FOUND },
    // Foreign units are never removed.
    { name: 'sshd', owner: 'foreign', foreignReason: 'is a unit file on this host (/lib/systemd/system/sshd.service)', unit: unit('active', 'running') },
  );
  const nodes = [...nodesOf(etcd.spec, m.get('api') as never, oldDb.spec, oldApi.spec, oldWeb.spec), node('half'), node('ghost'), node('nothing'), node('sshd')];

  it('removes keel containers no manifest names, first, dependents before what they depend on; never foreign ones', () => {
    const plan = planApply({ intent: 'apply', desired: [desired(m.get('api') as never), etcd], observed, nodes, prune: true });
    assert.deepEqual(plan.problems, []);
    const removals = plan.actions.filter((a) => a.action === 'remove').map((a) => a.name);
    assert.deepEqual(new Set(removals), new Set(['old-db', 'old-api', 'old-web', 'half', 'ghost']));
    assert.ok(removals.indexOf('old-web') < removals.indexOf('old-api'), `old-web before old-api: ${removals.join(' ')}`);
    assert.ok(removals.indexOf('old-api') < removals.indexOf('old-db'), `old-api before old-db: ${removals.join(' ')}`);
    assert.deepEqual(plan.actions.slice(removals.length).map((a) => [a.name, a.action]), [['etcd', 'keep'], ['api', 'create']]);
    assert.ok(!plan.actions.some((a) => a.name === 'sshd' || a.name === 'nothing'));
    for (const a of plan.actions.filter((x) => x.action === 'remove')) assert.deepEqual(a.reasons, ['no manifest names it (--prune)']);
  });

  it('a pruned container names the image it ran; one with no bundles names none', () => {
    const plan = planApply({ intent: 'apply', desired: [etcd], observed, nodes, prune: true });
    assert.deepEqual(actionOf(plan, 'old-db').image, { name: 'registry.example/old-db:1', from: d('1'), pull: false });
    assert.equal(actionOf(plan, 'ghost').image, undefined);
  });

  it('without --prune nothing is removed', () => {
    const plan = planApply({ intent: 'apply', desired: [etcd], observed, nodes });
    assert.deepEqual(kinds(plan), [['etcd', 'keep']]);
  });

  it('--prune with every container named removes nothing', () => {
    const plan = planApply({ intent: 'apply', desired: [etcd], observed: observedMap(deployed(etcd)), nodes: nodesOf(etcd.spec), prune: true });
    assert.deepEqual(kinds(plan), [['etcd', 'keep']]);
  });

  it('--prune with no manifests at all removes every keel container', () => {
    const plan = planApply({ intent: 'apply', desired: [], observed, nodes, prune: true });
    assert.deepEqual(new Set(plan.actions.map((a) => a.name)), new Set(['etcd', 'old-db', 'old-api', 'old-web', 'half', 'ghost']));
    assert.ok(plan.actions.every((a) => a.action === 'remove'));
  });
});

describe('planApply: deployment and unit facts', () => {
  it('a container created again after a reboot takes the deployed digest as "from"', () => {
    const a = actionOf(planApply({ intent: 'boot', desired: [desired(BASE, { source: 'pinned' })], observed: observedMap(deployed(CUR, { unit: NOT_FOUND })), nodes: nodesOf(BASE) }), 'etcd');
    assert.deepEqual(a.image, { name: 'registry.example/etcd:1', from: d('1'), to: d('1'), pull: false });
  });

  it('slot b active is as good as slot a', () => {
    const a = actionOf(planApply({ intent: 'apply', desired: [CUR], observed: observedMap(deployed(CUR, { active: deployment(CUR, 'b') })), nodes: nodesOf(BASE) }), 'etcd');
    assert.equal(a.action, 'keep');
  });
});
