// Dependency order: startOrder / stopOrder, dependentsOf, requirersOf, nodeFromSpec.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { canonicalJson, specInputs } from '../../../src/bundle/index.ts';
import { dependentsOf, nodeFromSpec, requirersOf, startOrder, stopOrder, type DependencyNode } from '../../../src/plan/index.ts';
import { doc, node, specs } from './fixtures.ts';

// etcd <- flannel (after) <- kubelet (requires etcd, after flannel); proxy before etcd; dns wants etcd; solo.
const N: DependencyNode[] = [
  node('kubelet', { requires: ['etcd.service'], after: ['flannel.service', 'network-online.target'] }),
  node('dns', { wants: ['etcd.service'] }),
  node('flannel', { after: ['etcd.service'] }),
  node('solo'),
  node('etcd'),
  node('proxy', { before: ['etcd.service'] }),
];

describe('startOrder / stopOrder', () => {
  const CASES: Array<[string, string[], DependencyNode[], string[]]> = [
    ['after, requires and before put dependencies first', ['kubelet', 'dns', 'flannel', 'solo', 'etcd', 'proxy'], N, ['dns', 'solo', 'proxy', 'etcd', 'flannel', 'kubelet']],
    ['wants is not ordering', ['dns', 'etcd'], N, ['dns', 'etcd']],
    ['unrelated names keep their order', ['solo', 'dns'], N, ['solo', 'dns']],
    ['a dependency not asked for does not hold the others back', ['kubelet', 'flannel'], N, ['flannel', 'kubelet']],
    ['names with no node are ordered as given', ['zz', 'aa'], N, ['zz', 'aa']],
    ['a unit that is not a container (network-online.target) is ignored', ['kubelet'], N, ['kubelet']],
    ['a self-reference is ignored', ['a', 'b'], [node('a', { after: ['a.service'] }), node('b')], ['a', 'b']],
    ['a cycle is broken by input order, without looping', ['a', 'b'], [node('a', { after: ['b.service'] }), node('b', { after: ['a.service'] })], ['a', 'b']],
    ['a cycle given after its dependent still comes out whole', ['a', 'b', 'c'], [node('a', { after: ['b.service'] }), node('b', { after: ['a.service'] }), node('c', { after: ['a.service'] })], ['a', 'b', 'c']],
    ['a long chain given backwards comes out forwards', ['d', 'c', 'b', 'a'], [node('a'), node('b', { after: ['a.service'] }), node('c', { requires: ['b.service'] }), node('d', { after: ['c.service'] })], ['a', 'b', 'c', 'd']],
    ['nothing', [], N, []],
  ];
  for (const [title, names, nodes, want] of CASES) {
    it(title, () => {
      assert.deepEqual(startOrder(names, nodes), want);
      assert.deepEqual(stopOrder(names, nodes), [...want].reverse());
    });
  }

  it('every name comes out exactly once, whatever the input order', () => {
    const names = N.map((n) => n.name);
    for (let i = 0; i < names.length; i++) {
      const rotated = [...names.slice(i), ...names.slice(0, i)];
      const out = startOrder(rotated, N);
      assert.deepEqual([...out].sort(), [...names].sort());
      assert.ok(out.indexOf('etcd') < out.indexOf('flannel') && out.indexOf('flannel') < out.indexOf('kubelet'), out.join(' '));
      assert.ok(out.indexOf('proxy') < out.indexOf('etcd'), out.join(' '));
    }
  });

  it('orders specs from manifests as it orders nodes (container names normalised to units)', () => {
    const m = specs([doc('kubelet', 'requires: [etcd]\nafter: [flannel]\n'), doc('flannel', 'after: [etcd]\n'), doc('etcd')].join('---\n'));
    assert.deepEqual(startOrder([...m.keys()], [...m.values()]), ['etcd', 'flannel', 'kubelet']);
  });
});

describe('dependentsOf', () => {
  const CASES: Array<[string, string, DependencyNode[], string[]]> = [
    ['through requires, wants and after, transitively, in start order', 'etcd', N, ['dns', 'flannel', 'kubelet']],
    ['a middle one: only what is downstream of it', 'flannel', N, ['kubelet']],
    ['a leaf has none', 'kubelet', N, []],
    ['an unrelated one has none', 'solo', N, []],
    ['an unknown name has none', 'nosuch', N, []],
    ['a cycle terminates and never lists the container itself', 'a', [node('a', { after: ['b.service'] }), node('b', { after: ['a.service'] })], ['b']],
    ['diamond: each dependent once', 'a', [node('a'), node('b', { requires: ['a.service'] }), node('c', { wants: ['a.service'] }), node('d', { after: ['b.service', 'c.service'] })], ['b', 'c', 'd']],
  ];
  for (const [title, name, nodes, want] of CASES) {
    it(title, () => assert.deepEqual(dependentsOf(name, nodes), want));
  }
});

describe('requirersOf', () => {
  const CASES: Array<[string, string, DependencyNode[], string[]]> = [
    ['direct requires only', 'etcd', N, ['kubelet']],
    ['after and wants do not require', 'flannel', N, []],
    ['not transitive', 'a', [node('a'), node('b', { requires: ['a.service'] }), node('c', { requires: ['b.service'] })], ['b']],
    ['a name with no node is matched by NAME.service', 'gone', [node('x', { requires: ['gone.service'] })], ['x']],
    ['a self-requirement is not a requirer', 'a', [node('a', { requires: ['a.service'] })], []],
  ];
  for (const [title, name, nodes, want] of CASES) {
    it(title, () => assert.deepEqual(requirersOf(name, nodes), want));
  }
});

describe('nodeFromSpec', () => {
  it('reads the ordering keys of a stored spec (canonical JSON of a rendered spec)', () => {
    const s = specs(doc('kubelet', 'requires: [etcd.service]\nafter: [flannel.service]\nbefore: [late.service]\nwants: [dns.service]\n')).get('kubelet');
    const stored = JSON.parse(canonicalJson(specInputs(s as never))) as Record<string, unknown>;
    assert.deepEqual(nodeFromSpec(stored), {
      name: 'kubelet', unit: 'kubelet.service', after: ['flannel.service'], before: ['late.service'], requires: ['etcd.service'], wants: ['dns.service'],
    });
  });

  const BAD: Array<[string, Record<string, unknown> | undefined]> = [
    ['no spec (an older record)', undefined],
    ['no name', { unit: 'x.service' }],
    ['no unit', { name: 'x' }],
    ['a name that is not a string', { name: 1, unit: 'x.service' }],
  ];
  for (const [what, value] of BAD) {
    it(`undefined for ${what}`, () => assert.equal(nodeFromSpec(value), undefined));
  }

  it('missing lists are empty, entries that are not strings dropped', () => {
    assert.deepEqual(nodeFromSpec({ name: 'x', unit: 'x.service', after: ['a.service', 3, null], requires: 'b.service' }), {
      name: 'x', unit: 'x.service', after: ['a.service'], before: [], requires: [], wants: [],
    });
  });
});
