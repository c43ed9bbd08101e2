// The background pull unit's name and its retry delays.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { backgroundPullUnit, jittered } from '../../../src/ops/boot.ts';

describe('background pulls', () => {
  it('the unit is keel-pull-NAME.service, a dashed name as it is (like NAME.service)', () => {
    assert.equal(backgroundPullUnit('etcd'), 'keel-pull-etcd.service');
    assert.equal(backgroundPullUnit('web-probe'), 'keel-pull-web-probe.service');
  });

  it('a delay is spread over ±25 %, never outside it', () => {
    assert.equal(jittered(4000, () => 0), 3000);
    assert.equal(jittered(4000, () => 0.5), 4000);
    assert.equal(jittered(4000, () => 0.999999), 5000);
    const seen = new Set(Array.from({ length: 50 }, () => jittered(300_000)));
    assert.ok(seen.size > 1, 'random spread');
    for (const v of seen) assert.ok(v >= 225_000 && v <= 375_000, String(v));
  });
});
