// A real CNCF distribution registry (Debian's `docker-registry`, 2.8) on a free loopback port, for
// integration tests. Invariants: storage lives in its own mkdtemp under /var/tmp and is removed by
// stop(); the server dies with the test process (parent-death signal via setpriv, plus an exit hook);
// startRegistry() resolves only once `GET /v2/` answers 200, and rejects with the server's stderr.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface Registry {
  /** `127.0.0.1:PORT`, for references like `${host}/repo:tag`. */
  readonly host: string;
  /** The registry's temp dir (config.yml, data/); removed by stop(). */
  readonly dataDir: string;
  /** The server's captured stderr so far (the last 64 KiB), for failure messages. */
  logs(): string;
  /** Kill the server and remove dataDir. Idempotent. */
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Extra YAML lines appended to the config (indent as top-level keys). */
  extraConfig?: string | undefined;
  /** How long to wait for `GET /v2/` (default 20 s). */
  readyTimeoutMs?: number | undefined;
  /** Listen on this port (a registry started again where a stopped one was); default: a free one. */
  port?: number | undefined;
}

const REGISTRY_BIN = '/usr/bin/docker-registry';
const LOG_CAP = 64 * 1024;

/** A port that was free a moment ago: listen on port 0 and close. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function configYaml(dataDir: string, port: number, extra: string | undefined): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog: { disabled: false }',
    'storage:',
    `  filesystem: { rootdirectory: ${join(dataDir, 'data')} }`,
    '  delete: { enabled: true }',
    '  maintenance: { uploadpurging: { enabled: false } }',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    extra ?? '',
    '',
  ].join('\n');
}

async function waitReady(host: string, child: ChildProcess, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before answering:\n${logs()}`);
    }
    try {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      lastErr = `GET /v2/ answered ${res.status}`;
    } catch (err) {
      lastErr = String(err);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry on ${host} not ready after ${timeoutMs} ms (${lastErr}):\n${logs()}`);
}

async function startOnce(opts: RegistryOptions): Promise<Registry> {
  const dataDir = await mkdtemp('/var/tmp/keel-registry-');
  const port = opts.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const configPath = join(dataDir, 'config.yml');
  await writeFile(configPath, configYaml(dataDir, port, opts.extraConfig));

  // setpriv --pdeathsig: the registry is SIGKILLed even if this process dies by SIGKILL.
  const useSetpriv = existsSync('/usr/bin/setpriv');
  const argv = useSetpriv
    ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', REGISTRY_BIN, 'serve', configPath]
    : [REGISTRY_BIN, 'serve', configPath];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const append = (chunk: Buffer): void => {
    log += chunk.toString('utf8');
    if (log.length > LOG_CAP) log = log.slice(log.length - LOG_CAP);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => {});

  let stopped = false;
  const onExit = (): void => {
    if (stopped) return;
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await Promise.race([waitReady(host, child, opts.readyTimeoutMs ?? 20_000, () => log), spawnError]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, dataDir, logs: () => log, stop };
}

/**
 * Start a registry on 127.0.0.1 with a fresh storage dir. Retries twice when the port picked turned
 * out to be taken (the listen-0-then-close trick has a window).
 */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastErr = err;
      if (!/address already in use/i.test(String(err))) break;
    }
  }
  throw lastErr;
}
