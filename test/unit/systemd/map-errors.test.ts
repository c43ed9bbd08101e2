import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { BusCallError } from '../../../src/systemd/bus.ts';
import { jobResultCode, mapBusError } from '../../../src/systemd/map-errors.ts';

describe('jobResultCode', () => {
  it('gives each job result its own code', () => {
    assert.equal(jobResultCode('failed'), 'E_UNIT_FAILED');
    assert.equal(jobResultCode('timeout'), 'E_UNIT_TIMEOUT');
    assert.equal(jobResultCode('dependency'), 'E_UNIT_DEPENDENCY');
    assert.equal(jobResultCode('canceled'), 'E_UNIT_CANCELED');
    assert.equal(jobResultCode('skipped'), 'E_UNIT_SKIPPED');
    assert.equal(jobResultCode('something-new'), 'E_UNIT_FAILED');
  });
});

describe('mapBusError', () => {
  const cases: Array<[string, string]> = [
    ['org.freedesktop.systemd1.NoSuchUnit', 'E_UNIT_NOT_FOUND'],
    ['org.freedesktop.systemd1.UnitExists', 'E_UNIT_EXISTS'],
    ['org.freedesktop.DBus.Error.AccessDenied', 'E_PERMISSION'],
    ['org.freedesktop.DBus.Error.ServiceUnknown', 'E_SYSTEMD_UNAVAILABLE'],
    ['org.freedesktop.DBus.Error.NoReply', 'E_SYSTEMD_UNAVAILABLE'],
    ['org.freedesktop.DBus.Error.InvalidArgs', 'E_SYSTEMD_REFUSED'],
    ['org.freedesktop.systemd1.UnitMasked', 'E_SYSTEMD_REFUSED'],
  ];
  for (const [type, code] of cases) {
    it(`maps ${type} to ${code}`, () => {
      const err = mapBusError('starting x.service', new BusCallError(type, 'because'), 'x.service');
      assert.equal(err.code, code);
      assert.match(err.message, /^starting x\.service: because/);
      assert.equal(err.detail['dbusError'], type);
      assert.equal(err.detail['unit'], 'x.service');
    });
  }
});
