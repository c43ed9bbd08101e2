// A dead or absent bus must be E_SYSTEMD_UNAVAILABLE, quickly, never a hang
// or a crash. Fakes here are plain unix sockets that misbehave; the real
// systemd is exercised in test/e2e/systemd/.
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SystemdClient } from '../../../src/systemd/client.ts';

let dir: string;
const servers: Server[] = [];
const sockets: Socket[] = [];

async function listen(name: string, onConnection: (s: Socket) => void): Promise<string> {
  const path = join(dir, name);
  const server = createServer((s) => {
    sockets.push(s);
    onConnection(s);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return `unix:path=${path}`;
}

before(async () => {
  dir = await mkdtemp('/var/tmp/keel-systemd-unit-');
});
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

describe('SystemdClient.connect on a bad bus', () => {
  it('fails with E_SYSTEMD_UNAVAILABLE when the socket does not exist', async () => {
    const t0 = performance.now();
    await assert.rejects(SystemdClient.connect({ address: `unix:path=${dir}/nothing-here`, callTimeoutMs: 5000 }), {
      code: 'E_SYSTEMD_UNAVAILABLE',
    });
    assert.ok(performance.now() - t0 < 2000, 'failed fast, not at the timeout');
  });

  it('fails with E_SYSTEMD_UNAVAILABLE when the peer closes at once', async () => {
    const address = await listen('closer.sock', (s) => s.destroy());
    await assert.rejects(SystemdClient.connect({ address, callTimeoutMs: 5000 }), { code: 'E_SYSTEMD_UNAVAILABLE' });
  });

  it('times out with E_SYSTEMD_UNAVAILABLE when the peer never answers', async () => {
    const address = await listen('silent.sock', () => {});
    const t0 = performance.now();
    await assert.rejects(SystemdClient.connect({ address, callTimeoutMs: 300 }), (err: { code?: string; message?: string }) => {
      assert.equal(err.code, 'E_SYSTEMD_UNAVAILABLE');
      assert.match(err.message ?? '', /no answer in 300 ms/);
      return true;
    });
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
  });

  it('refuses an unsupported address form', async () => {
    await assert.rejects(SystemdClient.connect({ address: 'launchd:env=X' }), { code: 'E_SYSTEMD_UNAVAILABLE' });
  });
});
