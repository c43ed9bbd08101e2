// Test helpers for layer tests: tars built with tar-stream's pack() or from
// hand-crafted 512-byte headers (for what pack() refuses to write), sandboxes
// under /var/tmp, and a host TRIPWIRE that must be unchanged after every
// hostile case (umoci's "HOST PATH WAS CHANGED").

import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, lstat, rm, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { digestOf } from '../../../src/oci/digest.ts';
import type { Compression } from '../../../src/oci/media-types.ts';
import zlib from 'node:zlib';
import { extractLayer, type LayerLimits, type LayerStats } from '../../../src/layer/index.ts';

export interface PackEntry {
  readonly name: string;
  readonly type?: tarStream.Header['type'];
  readonly data?: string | Buffer;
  readonly linkname?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: Date;
  readonly pax?: Record<string, string>;
}

/** A tar built by tar-stream's pack(). */
export async function packTar(entries: readonly PackEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date(1_600_000_000_000),
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
      ...(e.pax === undefined ? {} : { pax: e.pax }),
    } as tarStream.Header;
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, type === 'file' ? (e.data ?? '') : '', (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface RawHeaderFields {
  name: string;
  typeflag?: string; // one character: '0', '5', 'x', 'g', ...
  size?: number;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** raw bytes for the name field (overrides name) */
  nameBytes?: Buffer;
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, '0') + '\0';
}

/** One hand-crafted ustar header block with a correct checksum. */
export function rawHeader(f: RawHeaderFields): Buffer {
  const b = Buffer.alloc(512);
  (f.nameBytes ?? Buffer.from(f.name)).copy(b, 0, 0, 100);
  b.write(octal(f.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(f.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(f.gid ?? 0, 8), 116, 'latin1');
  b.write(octal(f.size ?? 0, 12), 124, 'latin1');
  b.write(octal(f.mtime ?? 1_600_000_000, 12), 136, 'latin1');
  b.write(f.typeflag ?? '0', 156, 'latin1');
  if (f.linkname !== undefined) b.write(f.linkname, 157);
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/** Data padded to whole blocks. */
export function blockData(data: Buffer | string): Buffer {
  const buf = Buffer.from(data);
  const padded = Buffer.alloc(Math.ceil(buf.length / 512) * 512);
  buf.copy(padded);
  return padded;
}

/** PAX records text for `x`/`g` headers. */
export function paxData(records: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(body) + 1;
    while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
    parts.push(Buffer.from(`${len}${body}`));
  }
  return Buffer.concat(parts);
}

export const END = Buffer.alloc(1024);

export function compress(tar: Buffer, compression: Compression): Buffer {
  if (compression === 'gzip') return zlib.gzipSync(tar);
  if (compression === 'zstd') return zlib.zstdCompressSync(tar);
  return tar;
}

/** Extracts `tar` (compressed as asked) with the right diff_id unless one is given. */
export async function extractTar(
  tar: Buffer,
  dir: string,
  options: { compression?: Compression; limits?: Partial<LayerLimits>; diffId?: string; signal?: AbortSignal } = {},
): Promise<LayerStats> {
  const compression = options.compression ?? 'none';
  const body = compress(tar, compression);
  // small chunks exercise the guard's block reassembly
  const chunks: Buffer[] = [];
  for (let i = 0; i < body.length; i += 7919) chunks.push(body.subarray(i, i + 7919));
  return extractLayer(Readable.from(chunks), dir, {
    compression,
    diffId: (options.diffId ?? digestOf(tar)) as ReturnType<typeof digestOf>,
    limits: options.limits,
    signal: options.signal,
  });
}

/** Asserts that `promise` rejects with a KeelError of `code` within `ms` (never hangs). */
export async function rejectsWith(promise: Promise<unknown>, code: string, ms = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms (expected ${code})`)), ms);
  });
  try {
    await assert.rejects(Promise.race([promise, timeout]), (err: unknown) => {
      assert.equal((err as { code?: unknown }).code, code, `expected ${code}, got ${String((err as Error).stack ?? err)}`);
      return true;
    });
  } finally {
    clearTimeout(timer);
  }
}

export interface Sandbox {
  readonly base: string;
  /** The host directory outside every root; holds `tripwire`. */
  readonly outside: string;
  /** Makes a fresh empty staging dir inside the sandbox. */
  newDir(name: string): Promise<string>;
  /** Fails with HOST PATH WAS CHANGED when anything under `outside` changed. */
  checkTripwire(): Promise<void>;
  cleanup(): Promise<void>;
}

async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    const hash = st.isFile() ? createHash('sha256').update(await readFile(p)).digest('hex') : '';
    out.push(`${name} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${hash}`);
    if (st.isDirectory()) out.push(...(await snapshot(p)).map((l) => `${name}/${l}`));
  }
  return out;
}

/**
 * A sandbox for the whole test file: made before the first test, TRIPWIRE
 * checked after every test, removed after the last. Registers the hooks.
 */
export function useSandbox(): Sandbox {
  let current: Sandbox | undefined;
  before(async () => {
    current = await makeSandbox();
  });
  afterEach(async () => {
    await current?.checkTripwire();
  });
  after(async () => {
    await current?.cleanup();
  });
  const live = (): Sandbox => {
    if (current === undefined) throw new Error('the sandbox is used before the before() hook ran');
    return current;
  };
  return {
    get base() { return live().base; },
    get outside() { return live().outside; },
    newDir: (name) => live().newDir(name),
    checkTripwire: () => live().checkTripwire(),
    cleanup: () => live().cleanup(),
  };
}

export async function makeSandbox(): Promise<Sandbox> {
  const base = await mkdtemp('/var/tmp/keel-layer-test-');
  const outside = path.join(base, 'outside');
  await mkdir(outside, { mode: 0o755 });
  await writeFile(path.join(outside, 'tripwire'), 'TRIPWIRE: keel must never change this file\n');
  await chmod(path.join(outside, 'tripwire'), 0o644);
  await mkdir(path.join(outside, 'dir'), { mode: 0o750 });
  const state = async (): Promise<string[]> => {
    const st = await lstat(outside);
    return [`. ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs}`, ...(await snapshot(outside))];
  };
  const before = await state();
  let n = 0;
  return {
    base,
    outside,
    async newDir(name: string) {
      const dir = path.join(base, `${name}-${n++}`);
      await mkdir(dir, { mode: 0o700 });
      return dir;
    },
    async checkTripwire() {
      const after = await state();
      assert.deepEqual(after, before, 'HOST PATH WAS CHANGED');
    },
    async cleanup() {
      await rm(base, { recursive: true, force: true });
    },
  };
}
