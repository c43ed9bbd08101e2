// The end-to-end helpers of test/helpers/guest.ts against a recording guest:
// keel runs this checkout's bin/keel with the file's flags first, show parses
// `systemctl show` into property → value, ok fails with the command's output,
// tearDown tolerates what a half-done before() left missing.

import { strict as assert } from 'node:assert';
import { mkdtemp, stat } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { KEEL, guestCommands, ok, tearDown } from '../../helpers/guest.ts';
import type { ExecResult, TestHost } from '../../helpers/testhost.ts';

function recordingHost(reply: (cmd: readonly string[]) => ExecResult): { host: TestHost; calls: Array<{ cmd: readonly string[]; timeoutMs?: number | undefined }>; shutdowns: () => number } {
  const calls: Array<{ cmd: readonly string[]; timeoutMs?: number | undefined }> = [];
  let shutdowns = 0;
  const host: TestHost = {
    name: 'recording', pid: 2, busAddress: 'unix:path=/dev/null', bootMs: 0,
    exec: async (cmd, options) => {
      calls.push({ cmd, timeoutMs: options?.timeoutMs });
      return reply(cmd);
    },
    shutdown: async () => {
      shutdowns++;
    },
  };
  return { host, calls, shutdowns: () => shutdowns };
}

describe('guest helpers', () => {
  it('keel runs bin/keel with the flags first; guest runs argv as given', async () => {
    const { host, calls } = recordingHost(() => ({ code: 0, stdout: '', stderr: '' }));
    const { keel, guest } = guestCommands(() => host, ['--root', '/r', '--manifests', '/m']);
    await keel('apply', '--dry-run');
    await guest('systemctl', 'is-active', 'x.service');
    assert.deepEqual(calls[0]?.cmd, [KEEL, '--root', '/r', '--manifests', '/m', 'apply', '--dry-run']);
    assert.ok(KEEL.endsWith('/bin/keel'));
    assert.equal(calls[0]?.timeoutMs, 180_000);
    assert.deepEqual(calls[1]?.cmd, ['systemctl', 'is-active', 'x.service']);
  });

  it('show parses systemctl show (values may hold "="); mainPid reads MainPID', async () => {
    const { host, calls } = recordingHost(() => ({ code: 0, stdout: 'MainPID=42\nEnvironment=A=1 B=2\n', stderr: '' }));
    const { show, mainPid } = guestCommands(() => host, []);
    assert.deepEqual(await show('x.service', 'MainPID', 'Environment'), { MainPID: '42', Environment: 'A=1 B=2' });
    assert.deepEqual(calls[0]?.cmd, ['systemctl', 'show', '-pMainPID', '-pEnvironment', 'x.service']);
    assert.equal(await mainPid('x.service'), '42');
  });

  it('ok resolves with stdout, and fails naming what failed with both outputs', async () => {
    assert.equal(await ok({ code: 0, stdout: 'out', stderr: '' }, 'x'), 'out');
    await assert.rejects(ok(Promise.resolve({ code: 3, stdout: 'said', stderr: 'complained' }), 'keel apply'), (err: Error) => {
      assert.match(err.message, /keel apply failed \(exit 3\):\nsaid\ncomplained/);
      return true;
    });
  });

  it('tearDown powers the guest off and removes the work directory; missing parts are skipped', async () => {
    const { host, shutdowns } = recordingHost(() => ({ code: 0, stdout: '', stderr: '' }));
    const work = await mkdtemp('/var/tmp/keel-guest-helpers-');
    await tearDown({ host, registry: undefined, work });
    assert.equal(shutdowns(), 1);
    await assert.rejects(stat(work), { code: 'ENOENT' });
    await tearDown({});
  });
});
