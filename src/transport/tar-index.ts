// Reads the headers of an uncompressed tar file (ustar, pax, GNU long names)
// without extracting it, and returns where each regular file's bytes lie, so
// oci-archive: and docker-archive: sources can serve blobs straight from the
// archive with ranged reads.
//
// Invariants: every header checksum is verified; every name is normalised to a
// relative path with no `.`/`..`/empty components and no NUL, and an archive
// holding any other kind of name is refused whole (E_SOURCE_INVALID); every
// entry's data lies inside the file, which must end with an end-of-archive
// block; symlinks and hardlinks are resolved only inside the archive.

import type { FileHandle } from 'node:fs/promises';
import { KeelError } from '../errors.ts';

export interface TarEntry {
  /** Offset of the first data byte in the file. */
  readonly offset: number;
  readonly size: number;
}

/** The file's identity when it was indexed, to notice a replaced or rewritten archive. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface TarIndex {
  readonly file: string;
  readonly identity: FileIdentity;
  readonly files: ReadonlyMap<string, TarEntry>;
  /** Symlinks (target relative to the link's directory) and hardlinks (target from the archive root). */
  readonly links: ReadonlyMap<string, { readonly kind: 'symlink' | 'hardlink'; readonly target: string }>;
}

const BLOCK = 512;
const MAX_ENTRIES = 1_000_000;
const MAX_NAME = 4096;
const MAX_META = 1024 * 1024;
const MAX_LINK_HOPS = 16;

function invalid(file: string, problem: string, hint?: string): KeelError {
  return new KeelError('E_SOURCE_INVALID', `archive ${file}: ${problem}`, {
    detail: { path: file },
    ...(hint === undefined ? {} : { hint }),
  });
}

/**
 * Normalises an archive entry name to `a/b/c`; returns undefined for the root
 * itself (`./`). Throws for absolute names, `..` components and NUL.
 */
export function normalizeEntryName(raw: string, file: string): string | undefined {
  if (raw.includes('\0')) throw invalid(file, `entry name ${JSON.stringify(raw.slice(0, 200))} contains NUL`);
  if (raw.startsWith('/')) throw invalid(file, `entry name ${JSON.stringify(raw.slice(0, 200))} is absolute`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw invalid(file, `entry name ${JSON.stringify(raw.slice(0, 200))} contains ".."`);
  return parts.length === 0 ? undefined : parts.join('/');
}

/** Throws unless `head` (the file's first bytes) could start a tar archive. */
export function refuseCompressed(head: Buffer, file: string): void {
  const kind =
    head[0] === 0x1f && head[1] === 0x8b ? 'gzip' :
    head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])) ? 'zstd' :
    head.subarray(0, 3).toString('latin1') === 'BZh' ? 'bzip2' :
    head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ? 'xz' : undefined;
  if (kind !== undefined) {
    throw invalid(file, `is ${kind}-compressed; keel reads uncompressed tar archives only`, {
      gzip: `decompress it first, e.g. gunzip -k ${file} (docker save | gzip output must be gunzipped)`,
      zstd: `decompress it first, e.g. zstd -d ${file}`,
      bzip2: `decompress it first, e.g. bunzip2 -k ${file}`,
      xz: `decompress it first, e.g. unxz -k ${file}`,
    }[kind]);
  }
}

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return (nul < 0 ? field : field.subarray(0, nul)).toString('utf8');
}

/** Octal, or GNU base-256 for big values; undefined when malformed. */
function parseNumber(buf: Buffer, start: number, length: number): number | undefined {
  const field = buf.subarray(start, start + length);
  if (field[0] !== undefined && (field[0] & 0x80) !== 0) {
    if ((field[0] & 0x40) !== 0) return undefined; // negative
    let value = field[0] & 0x3f;
    for (let i = 1; i < field.length; i++) {
      value = value * 256 + (field[i] ?? 0);
      if (!Number.isSafeInteger(value)) return undefined;
    }
    return value;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  const value = parseInt(text, 8);
  return Number.isSafeInteger(value) ? value : undefined;
}

function checksumOk(header: Buffer): boolean {
  const stored = parseNumber(header, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  return stored === sum;
}

/** pax records: "<len> key=value\n"... */
function parsePax(data: Buffer, file: string): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(data.subarray(pos, space).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= space - pos || pos + len > data.length) {
      throw invalid(file, 'malformed pax extended header');
    }
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return records;
}

async function readAt(handle: FileHandle, position: number, length: number, fileSize: number, file: string): Promise<Buffer> {
  if (position + length > fileSize) throw invalid(file, `is truncated (an entry at byte ${position} runs past the end of the file)`);
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw invalid(file, `is truncated at byte ${position + done}`);
    done += bytesRead;
  }
  return buf;
}

/**
 * Scans every header of the tar archive open as `handle` (seeking over entry
 * data) and returns the index. `file` names the archive in messages.
 */
export async function indexTar(handle: FileHandle, file: string): Promise<TarIndex> {
  const stat = await handle.stat();
  if (stat.isDirectory()) throw invalid(file, 'is a directory, not a tar archive', `for an OCI layout directory use oci:${file}`);
  if (!stat.isFile()) throw invalid(file, 'is not a regular file');
  const fileSize = stat.size;
  if (fileSize < BLOCK) {
    const head = await readAt(handle, 0, fileSize, fileSize, file);
    refuseCompressed(head, file);
    throw invalid(file, `is too short to be a tar archive (${fileSize} bytes)`);
  }
  const files = new Map<string, TarEntry>();
  const links = new Map<string, { kind: 'symlink' | 'hardlink'; target: string }>();
  let position = 0;
  let entries = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Map<string, string> | undefined;
  for (;;) {
    const header = await readAt(handle, position, BLOCK, fileSize, file);
    if (position === 0) refuseCompressed(header, file);
    if (header.every((b) => b === 0)) {
      if (longName !== undefined || longLink !== undefined || pax !== undefined) throw invalid(file, 'ends after an extended header with no entry');
      break; // end-of-archive; a second zero block and padding may follow
    }
    if (!checksumOk(header)) {
      throw invalid(file, position === 0 ? 'is not a tar archive (bad header checksum)' : `has a corrupt tar header at byte ${position}`);
    }
    if (++entries > MAX_ENTRIES) throw invalid(file, `has more than ${MAX_ENTRIES} entries`);
    const type = String.fromCharCode(header[156] ?? 0);
    let size = parseNumber(header, 124, 12);
    if (size === undefined) throw invalid(file, `has a malformed size field at byte ${position}`);
    const dataStart = position + BLOCK;
    const paddedEnd = (s: number): number => dataStart + Math.ceil(s / BLOCK) * BLOCK;

    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > MAX_META) throw invalid(file, `has an extended header of ${size} bytes (limit ${MAX_META})`);
      const data = await readAt(handle, dataStart, size, fileSize, file);
      if (type === 'x') pax = parsePax(data, file);
      else if (type === 'L') longName = cString(data, 0, data.length);
      else if (type === 'K') longLink = cString(data, 0, data.length);
      // 'g' (global pax) carries nothing keel needs (comments, mtimes).
      position = paddedEnd(size);
      continue;
    }

    let name = cString(header, 0, 100);
    const magic = header.subarray(257, 263).toString('latin1');
    if (magic === 'ustar\0') {
      const prefix = cString(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let linkName = cString(header, 157, 100);
    if (longName !== undefined) name = longName;
    if (longLink !== undefined) linkName = longLink;
    const paxPath = pax?.get('path');
    const paxLink = pax?.get('linkpath');
    const paxSize = pax?.get('size');
    if (paxPath !== undefined) name = paxPath;
    if (paxLink !== undefined) linkName = paxLink;
    if (paxSize !== undefined) {
      const n = /^[0-9]+$/.test(paxSize) ? Number(paxSize) : NaN;
      if (!Number.isSafeInteger(n)) throw invalid(file, `has a malformed pax size at byte ${position}`);
      size = n;
    }
    longName = longLink = pax = undefined;
    if (name.length > MAX_NAME) throw invalid(file, `has an entry name longer than ${MAX_NAME} bytes`);

    const normalized = normalizeEntryName(name, file);
    const end = paddedEnd(size);
    if (dataStart + size > fileSize) throw invalid(file, `is truncated (entry ${JSON.stringify(name.slice(0, 200))} runs past the end of the file)`);
    if (normalized !== undefined) {
      if (type === '0' || type === '\0' || type === '7') {
        files.set(normalized, Object.freeze({ offset: dataStart, size }));
        links.delete(normalized);
      } else if (type === '1' || type === '2') {
        if (linkName.includes('\0') || linkName.length > MAX_NAME) throw invalid(file, `link ${normalized} has a malformed target`);
        links.set(normalized, Object.freeze({ kind: type === '2' ? 'symlink' : 'hardlink', target: linkName }));
        files.delete(normalized);
      } else {
        // directories, devices, FIFOs and unknown types are never blobs.
        files.delete(normalized);
        links.delete(normalized);
      }
    }
    position = end;
  }
  return Object.freeze({
    file,
    identity: Object.freeze({ dev: stat.dev, ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs }),
    files,
    links,
  });
}

/**
 * The regular file an archive path names, following symlinks and hardlinks
 * inside the archive; undefined when nothing is there. A link that leads out
 * of the archive or loops is refused.
 */
export function lookupEntry(index: TarIndex, name: string): TarEntry | undefined {
  let current = normalizeEntryName(name, index.file);
  for (let hops = 0; current !== undefined; hops++) {
    const entry = index.files.get(current);
    if (entry !== undefined) return entry;
    const link = index.links.get(current);
    if (link === undefined) return undefined;
    if (hops >= MAX_LINK_HOPS) throw invalid(index.file, `too many links to follow from ${JSON.stringify(name)}`);
    current = resolveLinkTarget(current, link, index.file);
  }
  return undefined;
}

function resolveLinkTarget(from: string, link: { kind: 'symlink' | 'hardlink'; target: string }, file: string): string {
  if (link.target.startsWith('/')) throw invalid(file, `link ${from} points at an absolute path`);
  const base = link.kind === 'symlink' ? from.split('/').slice(0, -1) : [];
  const parts = [...base];
  for (const part of link.target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw invalid(file, `link ${from} points outside the archive`);
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  if (parts.length === 0) throw invalid(file, `link ${from} points at the archive root`);
  return parts.join('/');
}
