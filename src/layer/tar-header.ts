// Strict decoding of one 512-byte tar header block and of PAX records. This is
// keel's own reading of the format, independent of tar-stream's: the guard
// (tar-guard.ts) refuses what this finds malformed before tar-stream ever sees
// it, and the extractor checks that both parsers agree on every entry.
// Invariant: anything accepted here decodes to the same name, link name, size
// and type in tar-stream 3.2.2 (its parsing is more lenient, never stricter).

import { KeelError } from '../errors.ts';

export const BLOCK = 512;

/** Entry kinds keel knows; tar-stream's names. Meta kinds never reach the extractor. */
export type HeaderKind =
  | 'file'
  | 'contiguous-file'
  | 'link'
  | 'symlink'
  | 'character-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'pax-header'
  | 'pax-global-header'
  | 'gnu-long-path'
  | 'gnu-long-link-path';

export interface RawHeader {
  readonly kind: HeaderKind;
  /** ustar name (with prefix), before long names are applied. */
  readonly name: string;
  readonly linkname: string | null;
  readonly size: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
}

const KINDS: Readonly<Record<number, HeaderKind>> = {
  0: 'file',
  0x30: 'file',
  0x31: 'link',
  0x32: 'symlink',
  0x33: 'character-device',
  0x34: 'block-device',
  0x35: 'directory',
  0x36: 'fifo',
  0x37: 'contiguous-file',
  0x78: 'pax-header', // 'x'
  0x67: 'pax-global-header', // 'g'
  0x4c: 'gnu-long-path', // 'L'
  0x4b: 'gnu-long-link-path', // 'K'
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function malformed(message: string, detail?: Record<string, unknown>): KeelError {
  return new KeelError('E_LAYER_MALFORMED', `layer tar is malformed: ${message}`, {
    ...(detail === undefined ? {} : { detail }),
    hint: 'the image is corrupt or hostile; rebuild it with a standard tar writer',
  });
}

/** True when the block is an end-of-archive block (as tar-stream sees it: all zero outside the checksum field). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) {
    if (i === 148) i = 156;
    if (block[i] !== 0) return false;
  }
  return true;
}

export function isAllZero(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte !== 0) return false;
  return true;
}

/** Decodes a NUL-terminated UTF-8 string field; bytes after the terminator must be NUL. */
export function decodeString(bytes: Uint8Array, what: string): string {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  else if (!isAllZero(bytes.subarray(end))) throw malformed(`NUL inside ${what}`);
  try {
    return utf8.decode(bytes.subarray(0, end));
  } catch {
    throw new KeelError('E_LAYER_UNSUPPORTED', `layer tar has a ${what} that is not valid UTF-8`, {
      hint: 'keel only extracts layers whose file names are UTF-8',
    });
  }
}

/** Parses a numeric field: octal (space/NUL padded) or base-256 (high bit set, non-negative). */
export function decodeNumber(block: Uint8Array, offset: number, length: number, what: string): number {
  const field = block.subarray(offset, offset + length);
  const first = field[0] ?? 0;
  if ((first & 0x80) !== 0) {
    if (first !== 0x80) throw malformed(`negative or invalid base-256 ${what}`);
    let value = 0;
    for (let i = 1; i < length; i++) value = value * 256 + (field[i] ?? 0);
    if (!Number.isSafeInteger(value)) throw malformed(`${what} is too large`);
    return value;
  }
  let start = 0;
  let end = length;
  while (start < end && (field[start] === 0x20 || field[start] === 0)) start++;
  while (end > start && (field[end - 1] === 0x20 || field[end - 1] === 0)) end--;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = field[i] ?? 0;
    if (c < 0x30 || c > 0x37) throw malformed(`${what} is not an octal number`);
    value = value * 8 + (c - 0x30);
  }
  return value;
}

function checksum(block: Uint8Array): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i] ?? 0;
  for (let i = 156; i < BLOCK; i++) sum += block[i] ?? 0;
  return sum;
}

const USTAR = Buffer.from('ustar\0', 'latin1');
const GNU = Buffer.from('ustar  \0', 'latin1');

/** Decodes a non-zero header block strictly. */
export function decodeHeader(block: Uint8Array): RawHeader {
  if (checksum(block) !== decodeNumber(block, 148, 8, 'checksum')) throw malformed('header checksum mismatch');
  const isUstar = Buffer.compare(block.subarray(257, 263), USTAR) === 0;
  const isGnu = Buffer.compare(block.subarray(257, 265), GNU) === 0;
  if (!isUstar && !isGnu) throw malformed('unknown tar format (neither ustar nor GNU)');
  const flag = block[156] ?? 0;
  let kind = KINDS[flag];
  if (kind === undefined) {
    throw new KeelError('E_LAYER_UNSUPPORTED', `layer tar has an entry of unsupported type ${JSON.stringify(String.fromCharCode(flag))}`, {
      detail: { typeflag: flag },
      hint: 'keel extracts regular files, directories, symlinks, hardlinks, FIFOs and (skipped) devices',
    });
  }
  let name = decodeString(block.subarray(0, 100), 'entry name');
  if (isUstar && block[345] !== 0) name = `${decodeString(block.subarray(345, 500), 'entry name prefix')}/${name}`;
  const linkname = block[157] === 0 ? null : decodeString(block.subarray(157, 257), 'link name');
  // as tar-stream does: an old-style regular file whose name ends in '/' is a directory
  if (flag === 0x30 || flag === 0) {
    if (name.endsWith('/')) kind = 'directory';
  }
  return {
    kind,
    name,
    linkname,
    size: decodeNumber(block, 124, 12, 'size'),
    mode: decodeNumber(block, 100, 8, 'mode') & 0o7777,
    uid: decodeNumber(block, 108, 8, 'uid'),
    gid: decodeNumber(block, 116, 8, 'gid'),
    mtime: decodeNumber(block, 136, 12, 'mtime'),
  };
}

/** The PAX key prefix of an extended attribute (GNU tar, Go, umoci); its value is raw bytes. */
export const PAX_XATTR_PREFIX = 'SCHILY.xattr.';

/**
 * Parses PAX records (`LEN KEY=VALUE\n`) strictly; trailing NUL padding is
 * allowed. Values are decoded as UTF-8, except that `SCHILY.xattr.NAME`
 * values, which are raw bytes (a file capability is binary), also go to
 * `xattrs` (NAME -> bytes) when it is given; a later record of a key wins.
 */
export function decodePax(data: Uint8Array, xattrs?: Map<string, Buffer>): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0 && isAllZero(data.subarray(pos))) break;
    const space = data.indexOf(0x20, pos);
    const lenText = space < 0 ? '' : Buffer.from(data.subarray(pos, space)).toString('latin1');
    if (!/^[1-9][0-9]{0,8}$/.test(lenText)) throw malformed('bad PAX record length');
    const end = pos + Number(lenText);
    if (end > data.length || data[end - 1] !== 0x0a) throw malformed('bad PAX record framing');
    const record = data.subarray(space + 1, end - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw malformed('PAX record without a key');
    const key = decodeString(record.subarray(0, eq), 'PAX key');
    const raw = record.subarray(eq + 1);
    if (key === 'path' || key === 'linkpath') {
      if (raw.includes(0)) throw malformed(`NUL in PAX ${key}`);
      records.set(key, decodeString(raw, `PAX ${key}`));
    } else {
      records.set(key, Buffer.from(raw).toString('utf8'));
      if (xattrs !== undefined && key.startsWith(PAX_XATTR_PREFIX)) xattrs.set(key.slice(PAX_XATTR_PREFIX.length), Buffer.from(raw));
    }
    pos = end;
  }
  return records;
}
