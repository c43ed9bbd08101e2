import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { escapeUnitComponent, parseUnitName, unitObjectPath } from '../../../src/systemd/unit-name.ts';

describe('parseUnitName', () => {
  it('accepts systemd unit names and returns the type', () => {
    assert.equal(parseUnitName('etcd.service'), 'service');
    assert.equal(parseUnitName('network-online.target'), 'target');
    assert.equal(parseUnitName('getty@tty1.service'), 'service');
    assert.equal(parseUnitName('keel-kube\\x2dproxy.slice'), 'slice');
    assert.equal(parseUnitName('getty@.service', { allowTemplate: true }), 'service');
    assert.equal(parseUnitName('a'.repeat(247) + '.service'), 'service');
  });
  for (const bad of ['', 'etcd', '.service', 'etcd.servic', 'et cd.service', 'etcd/x.service', '@x.service', 'a@b@c.service', 'getty@.service', 'a'.repeat(248) + '.service', 'ü.service']) {
    it(`refuses ${JSON.stringify(bad.slice(0, 30))}`, () => {
      assert.throws(() => parseUnitName(bad), { code: 'E_UNIT_PROPERTY_INVALID' });
    });
  }
  it('enforces the wanted type', () => {
    assert.throws(() => parseUnitName('etcd.service', { types: ['slice'] }), { code: 'E_UNIT_PROPERTY_INVALID' });
  });
  it('refuses non-strings', () => {
    assert.throws(() => parseUnitName(42), { code: 'E_UNIT_PROPERTY_INVALID' });
  });
});

describe('escapeUnitComponent', () => {
  it('escapes like systemd-escape', () => {
    assert.equal(escapeUnitComponent('kube-proxy'), 'kube\\x2dproxy');
    assert.equal(escapeUnitComponent('a/b'), 'a-b');
    assert.equal(escapeUnitComponent('.hidden'), '\\x2ehidden');
    assert.equal(escapeUnitComponent('ü'), '\\xc3\\xbc');
    assert.equal(escapeUnitComponent('v1.2_x:y'), 'v1.2_x:y');
  });
});

describe('unitObjectPath', () => {
  it('escapes as systemd does (sd_bus_path_encode): every byte outside [A-Za-z0-9], and a leading digit, is _xx', () => {
    assert.equal(unitObjectPath('etcd.service'), '/org/freedesktop/systemd1/unit/etcd_2eservice');
    assert.equal(unitObjectPath('kube-proxy.service'), '/org/freedesktop/systemd1/unit/kube_2dproxy_2eservice');
    assert.equal(unitObjectPath('keel-kube\\x2dproxy.slice'), '/org/freedesktop/systemd1/unit/keel_2dkube_5cx2dproxy_2eslice');
    assert.equal(unitObjectPath('dbus.socket'), '/org/freedesktop/systemd1/unit/dbus_2esocket');
    assert.equal(unitObjectPath('a_b@1.service'), '/org/freedesktop/systemd1/unit/a_5fb_401_2eservice');
    assert.equal(unitObjectPath('1st.service'), '/org/freedesktop/systemd1/unit/_31st_2eservice');
  });
});
