// A Transform in front of tar-stream that follows the tar block structure
// itself and refuses a hostile or malformed archive BEFORE tar-stream parses
// the offending header. It exists because tar-stream is lenient: it skips zero
// blocks and goes on parsing after the end-of-archive marker, accepts an input
// that stops at a header boundary, merges global PAX paths, and with a size on
// a directory entry can stall forever. Invariants:
// - a header is forwarded only after it was decoded and checked (tar-header.ts);
// - every forwarded entry header is queued in `entries`, in order, so the
//   extractor can check that tar-stream saw the same entry;
// - nothing after the two end-of-archive zero blocks is forwarded, and it must
//   be zero bytes; `_flush` fails unless the end was reached.

import { Transform, type TransformCallback } from 'node:stream';
import { KeelError } from '../errors.ts';
import { BLOCK, decodeHeader, decodePax, decodeString, isAllZero, isZeroBlock, malformed, type HeaderKind } from './tar-header.ts';

/** One entry as keel's own parser decoded it, long names and PAX applied. */
export interface GuardedEntry {
  readonly kind: HeaderKind;
  readonly name: string;
  readonly linkname: string | null;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  /** Effective PAX records (global ones under the entry's own). */
  readonly pax: ReadonlyMap<string, string>;
  /**
   * The entry's own `SCHILY.xattr.NAME` records, NAME -> raw bytes. A global
   * header's are not among them (umoci refuses a layer with a global header;
   * keel ignores the attributes it sets, docs/layers.md).
   */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

type State = 'header' | 'meta' | 'data' | 'zero1' | 'end';

const FILE_KINDS: ReadonlySet<HeaderKind> = new Set(['file', 'contiguous-file']);
const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

export class TarGuard extends Transform {
  readonly entries: GuardedEntry[] = [];
  readonly #maxMeta: number;
  #state: State = 'header';
  #block = Buffer.alloc(BLOCK);
  #blockFill = 0;
  /** bytes left in the current data/meta section (including padding) */
  #remaining = 0;
  #metaKind: HeaderKind | null = null;
  #metaSize = 0;
  #meta: Buffer[] = [];
  #globalPax = new Map<string, string>();
  #pax: Map<string, string> | null = null;
  #paxXattrs: ReadonlyMap<string, Buffer> = NO_XATTRS;
  #longPath: string | null = null;
  #longLink: string | null = null;

  constructor(maxPaxHeaderSize: number) {
    super();
    this.#maxMeta = maxPaxHeaderSize;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#consume(chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.#state !== 'end') {
      const where = this.#state === 'data' || this.#state === 'meta' || this.#blockFill > 0 ? 'in the middle of an entry' : 'before the end-of-archive blocks';
      callback(malformed(`the stream ended ${where} (truncated)`));
      return;
    }
    callback();
  }

  #consume(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#state === 'end') {
        if (!isAllZero(chunk.subarray(pos))) throw malformed('non-zero data after the end-of-archive blocks');
        return;
      }
      if (this.#state === 'data') {
        const n = Math.min(this.#remaining, chunk.length - pos);
        this.push(chunk.subarray(pos, pos + n));
        pos += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = 'header';
        continue;
      }
      if (this.#state === 'meta') {
        const n = Math.min(this.#remaining, chunk.length - pos);
        const part = chunk.subarray(pos, pos + n);
        this.#meta.push(Buffer.from(part));
        this.push(part);
        pos += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#finishMeta();
        continue;
      }
      // header or zero1: fill one block
      const n = Math.min(BLOCK - this.#blockFill, chunk.length - pos);
      chunk.copy(this.#block, this.#blockFill, pos, pos + n);
      this.#blockFill += n;
      pos += n;
      if (this.#blockFill < BLOCK) return;
      this.#blockFill = 0;
      this.#header(this.#block);
    }
  }

  #header(block: Buffer): void {
    if (isZeroBlock(block)) {
      if (!isAllZero(block)) throw malformed('end-of-archive block with a checksum');
      if (this.#metaKind !== null || this.#pax !== null || this.#longPath !== null || this.#longLink !== null) {
        throw malformed('an extended header is not followed by an entry');
      }
      this.push(Buffer.from(block));
      this.#state = this.#state === 'zero1' ? 'end' : 'zero1';
      return;
    }
    if (this.#state === 'zero1') throw malformed('a lone zero block before more entries (data hidden after the end of the archive)');
    const raw = decodeHeader(block);
    switch (raw.kind) {
      case 'pax-header':
      case 'pax-global-header':
      case 'gnu-long-path':
      case 'gnu-long-link-path':
        this.#startMeta(raw.kind, raw.size);
        this.push(Buffer.from(block));
        return;
      default:
        break;
    }
    const pax = new Map([...this.#globalPax, ...(this.#pax ?? [])]);
    let name = raw.name;
    let linkname = raw.linkname;
    let size = raw.size;
    if (this.#longPath) name = this.#longPath; // empty means unset, as in tar-stream
    if (this.#longLink) linkname = this.#longLink;
    if (this.#pax !== null) {
      const p = this.#pax.get('path');
      const l = this.#pax.get('linkpath');
      const s = this.#pax.get('size');
      if (p) name = p;
      if (l) linkname = l;
      if (s) {
        if (!/^[0-9]{1,16}$/.test(s) || !Number.isSafeInteger(Number(s))) throw malformed('bad PAX size');
        size = Number(s);
      }
    }
    const xattrs = this.#paxXattrs;
    this.#pax = null;
    this.#paxXattrs = NO_XATTRS;
    this.#longPath = null;
    this.#longLink = null;
    const uid = paxId(pax, 'uid') ?? raw.uid;
    const gid = paxId(pax, 'gid') ?? raw.gid;
    if (!FILE_KINDS.has(raw.kind) && size !== 0) {
      // tar-stream 3.2.2 can stall forever on a directory with a size: refuse before it sees it
      throw malformed(`${raw.kind} entry ${JSON.stringify(name.slice(0, 200))} has a size (${size})`, { name: name.slice(0, 200) });
    }
    this.entries.push({ kind: raw.kind, name, linkname, size, mode: raw.mode, uid, gid, mtime: raw.mtime, pax, xattrs });
    this.push(Buffer.from(block));
    if (size > 0) {
      this.#state = 'data';
      this.#remaining = padded(size);
    }
  }

  #startMeta(kind: HeaderKind, size: number): void {
    const pending = kind === 'gnu-long-path' ? this.#longPath : kind === 'gnu-long-link-path' ? this.#longLink : this.#pax;
    if (pending !== null || (kind === 'pax-global-header' && (this.#pax !== null || this.#longPath !== null || this.#longLink !== null))) {
      throw malformed(`two ${kind} records for one entry`);
    }
    if (size > this.#maxMeta) {
      throw new KeelError('E_LAYER_LIMIT', `layer tar has a ${kind} of ${size} bytes, over the limit of ${this.#maxMeta}`, {
        detail: { limit: 'maxPaxHeaderSize', value: size, max: this.#maxMeta },
      });
    }
    this.#metaKind = kind;
    this.#metaSize = size;
    this.#meta = [];
    this.#remaining = padded(size);
    this.#state = 'meta';
    if (this.#remaining === 0) this.#finishMeta();
  }

  #finishMeta(): void {
    const kind = this.#metaKind;
    const data = Buffer.concat(this.#meta).subarray(0, this.#metaSize);
    this.#meta = [];
    this.#metaKind = null;
    this.#state = 'header';
    switch (kind) {
      case 'gnu-long-path':
        this.#longPath = decodeString(data, 'GNU long name');
        break;
      case 'gnu-long-link-path':
        this.#longLink = decodeString(data, 'GNU long link name');
        break;
      case 'pax-header': {
        const xattrs = new Map<string, Buffer>();
        this.#pax = decodePax(data, xattrs);
        if (xattrs.size > 0) this.#paxXattrs = xattrs;
        break;
      }
      case 'pax-global-header': {
        const records = decodePax(data);
        for (const key of ['path', 'linkpath', 'size']) {
          if (records.has(key)) throw malformed(`a global PAX header sets ${key} for every entry`);
        }
        for (const [k, v] of records) this.#globalPax.set(k, v);
        break;
      }
      default:
        throw new KeelError('E_INTERNAL', 'tar guard finished a meta section without a kind');
    }
  }
}

function paxId(pax: ReadonlyMap<string, string>, key: string): number | undefined {
  const value = pax.get(key);
  if (value === undefined || value === '') return undefined;
  if (!/^[0-9]{1,10}$/.test(value) || Number(value) > 0xffffffff) throw malformed(`bad PAX ${key}`);
  return Number(value);
}
