// Running the real `keel` command line the way a user does, and temp dirs for tests.
// Invariants: keel runs under the project's Node 24 (node_modules/.bin/node, via bin/keel's own
// launcher), never the system node; runKeel never throws on a non-zero exit (it returns the code) and only rejects when the
// process cannot be started; temp dirs live under /var/tmp (never /tmp: 10x slower here).

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root (this file is test/helpers/run.ts). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
export const KEEL_BIN: string = join(REPO_ROOT, 'bin/keel');
export const PROJECT_NODE: string = join(REPO_ROOT, 'node_modules/.bin/node');

export interface RunKeelOptions {
  /** Environment additions/overrides (the rest of process.env is kept; PATH gets node_modules/.bin first). */
  env?: Record<string, string | undefined> | undefined;
  cwd?: string | undefined;
  /** Written to stdin, then stdin is closed (default: stdin is empty). */
  input?: string | Buffer | undefined;
  /** Kill with SIGKILL after this long (default 120 s); the result then has code 137 and timedOut. */
  timeoutMs?: number | undefined;
}

export interface RunResult {
  /** Exit status; 128 + signal number when killed by a signal. */
  code: number;
  stdout: string;
  stderr: string;
  signal?: NodeJS.Signals | undefined;
  timedOut?: boolean | undefined;
}

const SIGNALS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11 };

/** Run any program; never throws on a non-zero exit. */
export function runProgram(file: string, args: readonly string[], opts: RunKeelOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
    env['PATH'] = `${join(REPO_ROOT, 'node_modules/.bin')}:${env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
    const child = spawn(file, args, { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {}); // the child may exit without reading stdin
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${file}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        signal: signal ?? undefined,
        timedOut,
      });
    });
  });
}

/**
 * Run `bin/keel ARGS...` with the project's Node 24; never throws on a non-zero exit. bin/keel is
 * executed as is when it is a shell launcher (it picks node_modules/.bin/node itself, and PATH has
 * node_modules/.bin first anyway); a JavaScript bin/keel is given to the project's node.
 */
export function runKeel(args: readonly string[], opts: RunKeelOptions = {}): Promise<RunResult> {
  let head = '';
  try {
    head = readFileSync(KEEL_BIN, 'utf8').slice(0, 200).split('\n')[0] ?? '';
  } catch {
    // missing bin/keel: let spawn report it
  }
  const isShell = /^#!.*\b(sh|bash|dash)\b/.test(head);
  return isShell ? runProgram(KEEL_BIN, args, opts) : runProgram(PROJECT_NODE, [KEEL_BIN, ...args], opts);
}

export interface TempDir {
  readonly path: string;
  /** Remove the dir and everything in it. Idempotent. */
  cleanup(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A fresh dir `/var/tmp/<prefix>XXXXXX`; call cleanup() (e.g. in `after`) or use `await using`. */
export async function tempDir(prefix = 'keel-test-'): Promise<TempDir> {
  const path = await mkdtemp(join('/var/tmp', prefix));
  const cleanup = async (): Promise<void> => {
    await rm(path, { recursive: true, force: true });
  };
  return { path, cleanup, [Symbol.asyncDispose]: cleanup };
}
