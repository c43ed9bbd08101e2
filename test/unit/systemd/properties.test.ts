import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  UINT64_MAX,
  keepAliveSliceName,
  renderKeepAliveProperties,
  renderServiceProperties,
  type ServiceSettings,
} from '../../../src/systemd/properties.ts';

const minimal: ServiceSettings = { description: 'etcd (keel)', execStart: ['/usr/sbin/runc', 'run', '--bundle', '/var/lib/keel/b', 'etcd'] };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('renderServiceProperties', () => {
  it('renders the minimal unit (golden)', () => {
    assert.deepEqual(renderServiceProperties(minimal), [
      { name: 'Description', signature: 's', value: 'etcd (keel)' },
      { name: 'ExecStart', signature: 'a(sasb)', value: [['/usr/sbin/runc', ['/usr/sbin/runc', 'run', '--bundle', '/var/lib/keel/b', 'etcd'], false]] },
      { name: 'Type', signature: 's', value: 'simple' },
    ]);
  });

  it('renders every setting with systemd signatures, µs durations and BigInt 64-bit values (golden)', () => {
    const props = renderServiceProperties({
      ...minimal,
      type: 'notify',
      notifyAccess: 'main',
      syslogIdentifier: 'etcd',
      workingDirectory: '/var/lib/keel',
      environment: { ZED: '1', ALPHA: 'a b\tc' },
      restart: 'on-failure',
      restartDelayMs: 1500,
      startTimeout: 90_000,
      stopTimeout: 'infinity',
      killSignal: 'TERM',
      killMode: 'mixed',
      successExitStatus: [143, 143, 0],
      slice: 'system.slice',
      delegate: true,
      memoryMax: 512 * 1024 * 1024,
      cpuWeight: 200,
      tasksMax: 'infinity',
      limitNofile: 65536,
      requires: ['network-online.target'],
      wants: ['a.service'],
      after: ['network-online.target', 'a.service', 'a.service'],
      before: ['kubelet.service'],
      collectMode: 'inactive',
    });
    assert.deepEqual(
      props.map((p) => [p.name, p.signature, p.value]),
      [
        ['Description', 's', 'etcd (keel)'],
        ['ExecStart', 'a(sasb)', [['/usr/sbin/runc', ['/usr/sbin/runc', 'run', '--bundle', '/var/lib/keel/b', 'etcd'], false]]],
        ['Type', 's', 'notify'],
        ['NotifyAccess', 's', 'main'],
        ['SyslogIdentifier', 's', 'etcd'],
        ['WorkingDirectory', 's', '/var/lib/keel'],
        ['Environment', 'as', ['ALPHA=a b\tc', 'ZED=1']],
        ['Restart', 's', 'on-failure'],
        ['RestartUSec', 't', 1_500_000n],
        ['TimeoutStartUSec', 't', 90_000_000n],
        ['TimeoutStopUSec', 't', 18446744073709551615n],
        ['KillSignal', 'i', 15],
        ['KillMode', 's', 'mixed'],
        ['SuccessExitStatus', '(aiai)', [[143, 0], []]],
        ['Slice', 's', 'system.slice'],
        ['Delegate', 'b', true],
        ['MemoryMax', 't', 536_870_912n],
        ['CPUWeight', 't', 200n],
        ['TasksMax', 't', UINT64_MAX],
        ['LimitNOFILE', 't', 65536n],
        ['LimitNOFILESoft', 't', 65536n],
        ['Requires', 'as', ['network-online.target']],
        ['Wants', 'as', ['a.service']],
        ['After', 'as', ['network-online.target', 'a.service']],
        ['Before', 'as', ['kubelet.service']],
        ['CollectMode', 's', 'inactive'],
      ],
    );
    for (const p of props) if (p.signature === 't') assert.equal(typeof p.value, 'bigint', p.name);
  });

  it('accepts signal numbers and SIG-prefixed names', () => {
    const sig = (killSignal: string | number) => renderServiceProperties({ ...minimal, killSignal }).find((p) => p.name === 'KillSignal')?.value;
    assert.equal(sig('SIGINT'), 2);
    assert.equal(sig('kill'), 9);
    assert.equal(sig(64), 64);
  });

  const rejected: Array<[string, Partial<Record<keyof ServiceSettings, unknown>>]> = [
    ['relative ExecStart path', { execStart: ['runc', 'run'] }],
    ['unnormalized ExecStart path', { execStart: ['/usr/../bin/runc'] }],
    ['empty argv', { execStart: [] }],
    ['NUL in an argument', { execStart: ['/bin/sh', 'a\0b'] }],
    ['lone surrogate (not UTF-8)', { execStart: ['/bin/sh', '\ud800'] }],
    ['control character in Description', { description: 'a\x1bb' }],
    ['empty Description', { description: '' }],
    ['unknown Type', { type: 'forking' }],
    ['NotifyAccess without notify', { notifyAccess: 'all' }],
    ['Restart=always with oneshot', { type: 'oneshot', restart: 'always' }],
    ['unknown Restart', { restart: 'sometimes' }],
    ['negative restart delay', { restartDelayMs: -1 }],
    ['fractional timeout', { startTimeout: 1.5 }],
    ['unknown signal', { killSignal: 'SIGFOO' }],
    ['signal 0', { killSignal: 0 }],
    ['signal 65', { killSignal: 65 }],
    ['CPUWeight 0', { cpuWeight: 0 }],
    ['CPUWeight 10001', { cpuWeight: 10001 }],
    ['MemoryMax 0', { memoryMax: 0 }],
    ['TasksMax 0', { tasksMax: 0 }],
    ['MemoryMax beyond 2^53', { memoryMax: 2 ** 60 }],
    ['exit status 256', { successExitStatus: [256] }],
    ['bad env name', { environment: { '1X': 'y' } }],
    ['env value with NUL', { environment: { X: 'a\0' } }],
    ['relative WorkingDirectory', { workingDirectory: 'var/lib' }],
    ['Slice that is not a slice', { slice: 'system.service' }],
    ['bad dependency name', { after: ['etcd'] }],
    ['template dependency', { wants: ['getty@.service'] }],
    ['SyslogIdentifier with a space', { syslogIdentifier: 'a b' }],
  ];
  for (const [what, change] of rejected) {
    it(`refuses ${what} before anything is sent`, () => {
      assert.equal(codeOf(() => renderServiceProperties({ ...minimal, ...change } as ServiceSettings)), 'E_UNIT_PROPERTY_INVALID');
    });
  }
});

describe('keep-alive slice', () => {
  it('names the slice after the service, escaping dashes (golden)', () => {
    assert.equal(keepAliveSliceName('etcd.service'), 'keel-etcd.slice');
    assert.equal(keepAliveSliceName('kube-proxy.service'), 'keel-kube\\x2dproxy.slice');
  });
  it('renders Wants= naming the service', () => {
    assert.deepEqual(renderKeepAliveProperties('etcd.service'), [
      { name: 'Description', signature: 's', value: 'keel: keeps etcd.service loaded while it is stopped' },
      { name: 'Wants', signature: 'as', value: ['etcd.service'] },
    ]);
  });
  it('refuses a non-service', () => {
    assert.equal(codeOf(() => keepAliveSliceName('etcd.socket')), 'E_UNIT_PROPERTY_INVALID');
  });
});
