// Extended attributes of layer entries (PAX `SCHILY.xattr.NAME`), applied as
// `umoci unpack` applies them (issue 9: Parity with umoci). Node cannot call
// setxattr, so keel hands one dump per tree to `setfattr -h --restore=-` (the
// attr package) and reads one back with `getfattr` when it copies a tree.
//
// Invariants:
// - what umoci 0.4.7 ignores, keel ignores (UMOCI_IGNORED, LIBARCHIVE.xattr.*,
//   empty values, a hardlink entry's own records), and says so in a warning;
// - a path goes to setfattr only after every component of it below the root
//   was lstat-ed as a real directory (no symlink) and its final node is the
//   inode recorded when it was written: keel runs as root and the tree may hold
//   hostile symlinks (a later entry may have replaced a parent with one). The
//   trees are written by keel alone, so nothing changes between check and use;
// - `-h`: setfattr uses lsetxattr, never following a final symlink;
// - values go as hex (`0x...`), paths and names with octal escapes, so any
//   byte survives the dump format (setfattr unquotes `\ooo` anywhere).

import { spawn } from 'node:child_process';
import { constants, lstatSync, type Stats } from 'node:fs';
import path from 'node:path';
import { KeelError, errnoCode, fsError } from '../errors.ts';

/** Attributes umoci 0.4.7 (`ignoreXattrs`) never applies: host-specific labels and overlayfs internals. */
export const UMOCI_IGNORED: ReadonlySet<string> = new Set([
  'security.selinux',
  'system.nfs4_acl',
  'trusted.overlay.opaque',
  'trusted.overlay.redirect',
  'trusted.overlay.origin',
  'trusted.overlay.impure',
  'trusted.overlay.nlink',
  'trusted.overlay.upper',
  'trusted.overlay.metacopy',
]);

/** Linux's limits (XATTR_NAME_MAX, XATTR_SIZE_MAX): anything larger fails in the kernel. */
const NAME_MAX = 255;
const VALUE_MAX = 65536;

export type XattrNodeKind = 'file' | 'directory' | 'symlink' | 'fifo';

/** An attribute set: name -> raw value. */
export type Xattrs = ReadonlyMap<string, Buffer>;

/**
 * The node a record is for: inode number and file type (`mode & S_IFMT`). The
 * type matters because a removed node's inode number is soon reused (a
 * symlink made where a file was often gets the file's number).
 */
export interface NodeId {
  readonly ino: number;
  readonly fmt: number;
}

/** NodeId of a Stats. */
export function nodeId(st: { ino: number; mode: number }): NodeId {
  return { ino: st.ino, fmt: st.mode & constants.S_IFMT };
}

/** A node and the attributes for it. */
export interface XattrRecord extends NodeId {
  readonly xattrs: Xattrs;
}

/**
 * Why keel does not apply attribute `name` on a node of `kind`, or null when it
 * does. The first reasons are umoci's; the others are what the kernel would
 * refuse anyway (a failing setfattr would only hide a real failure).
 */
export function xattrSkipReason(name: string, value: Uint8Array, kind: XattrNodeKind): string | null {
  if (UMOCI_IGNORED.has(name)) return 'host-specific (umoci ignores it too)';
  if (value.byteLength === 0) return 'empty (a PAX record with no value unsets it; umoci applies none)';
  if (Buffer.byteLength(name) > NAME_MAX || value.byteLength > VALUE_MAX) return 'larger than Linux allows';
  const dot = name.indexOf('.');
  const ns = dot > 0 && dot < name.length - 1 ? name.slice(0, dot) : '';
  if (ns === 'user') return kind === 'file' || kind === 'directory' ? null : 'user.* is allowed only on files and directories';
  if (ns === 'trusted' || ns === 'security') return null;
  if (name === 'system.posix_acl_access' || (name === 'system.posix_acl_default' && kind === 'directory')) return null;
  return 'not an attribute Linux stores';
}

/** Splits `xattrs` into what keel applies on a node of `kind` and what it ignores (name -> reason). */
export function filterXattrs(xattrs: Xattrs, kind: XattrNodeKind): { apply: Map<string, Buffer>; ignored: Map<string, string> } {
  const apply = new Map<string, Buffer>();
  const ignored = new Map<string, string>();
  for (const [name, value] of xattrs) {
    const why = xattrSkipReason(name, value, kind);
    if (why === null) apply.set(name, value);
    else ignored.set(name, why);
  }
  return { apply, ignored };
}

/**
 * The recorded attributes of one tree: root-relative host path -> the inode
 * the entry made there and the attributes for it. A later entry at a path
 * replaces the record (and the records below it unless it keeps a directory).
 */
export class XattrRecords {
  readonly #byPath = new Map<string, XattrRecord>();
  /** Every ancestor of a recorded path, so a drop scans only when something below may be recorded. */
  readonly #parents = new Map<string, number>();

  get size(): number {
    return this.#byPath.size;
  }

  get(rel: string): XattrRecord | undefined {
    return this.#byPath.get(rel);
  }

  set(rel: string, node: NodeId, xattrs: Xattrs): void {
    this.#delete(rel);
    this.#byPath.set(rel, { ino: node.ino, fmt: node.fmt, xattrs });
    for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) {
      const parent = rel.slice(0, i);
      this.#parents.set(parent, (this.#parents.get(parent) ?? 0) + 1);
    }
  }

  /** Something new is at `rel`: its record goes, and with `subtree` (the node there was replaced, not a directory kept) all below it. */
  drop(rel: string, subtree: boolean): void {
    this.#delete(rel);
    if (!subtree || !this.#parents.has(rel)) return;
    const prefix = `${rel}/`;
    for (const key of [...this.#byPath.keys()]) if (key.startsWith(prefix)) this.#delete(key);
  }

  entries(): IterableIterator<[string, XattrRecord]> {
    return this.#byPath.entries();
  }

  #delete(rel: string): void {
    if (!this.#byPath.delete(rel)) return;
    for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) {
      const parent = rel.slice(0, i);
      const n = (this.#parents.get(parent) ?? 1) - 1;
      if (n === 0) this.#parents.delete(parent);
      else this.#parents.set(parent, n);
    }
  }
}

// Bytes written as themselves in a dump; everything else as `\ooo` (setfattr
// unquotes any backslash followed by three octal digits; getfattr writes `\012`
// for a newline and `\134` for a backslash the same way).
function plain(byte: number): boolean {
  return byte > 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x3d && byte !== 0x22;
}

/** A path or an attribute name as the getfattr/setfattr dump format writes it. */
export function quoteDump(text: string | Uint8Array): string {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let out = '';
  for (const byte of bytes) out += plain(byte) ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  return out;
}

/** The inverse of quoteDump (and of getfattr's own quoting), to raw bytes. */
export function unquoteDump(text: string): Buffer {
  const latin = Buffer.from(text, 'latin1');
  const out: number[] = [];
  for (let i = 0; i < latin.length; i++) {
    const b = latin[i] as number;
    if (b === 0x5c && i + 3 < latin.length && /^[0-7]{3}$/.test(latin.subarray(i + 1, i + 4).toString('latin1'))) {
      out.push(parseInt(latin.subarray(i + 1, i + 4).toString('latin1'), 8) & 0xff);
      i += 3;
    } else {
      out.push(b);
    }
  }
  return Buffer.from(out);
}

/** The `setfattr --restore` input for `nodes` (absolute host paths): hex values, quoted paths and names. */
export function encodeRestoreDump(nodes: Iterable<{ readonly hostPath: string; readonly xattrs: Xattrs }>): Buffer {
  const parts: string[] = [];
  for (const { hostPath, xattrs } of nodes) {
    if (xattrs.size === 0) continue;
    parts.push(`# file: ${quoteDump(hostPath)}\n`);
    for (const [name, value] of [...xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      parts.push(`${quoteDump(name)}=0x${value.toString('hex')}\n`);
    }
    parts.push('\n');
  }
  return Buffer.from(parts.join(''), 'latin1');
}

/**
 * Parses `getfattr --dump -e hex --absolute-names` output into host path ->
 * (name -> bytes). Values getfattr did not print as hex (it never does with
 * `-e hex`) are refused rather than guessed.
 */
export function parseDump(text: string): Map<string, Map<string, Buffer>> {
  const out = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | null = null;
  for (const line of text.split('\n')) {
    if (line === '') {
      current = null;
      continue;
    }
    if (line.startsWith('# file: ')) {
      current = new Map();
      out.set(unquoteDump(line.slice(8)).toString('utf8'), current);
      continue;
    }
    if (current === null) continue;
    const eq = line.indexOf('=');
    const name = unquoteDump(eq < 0 ? line : line.slice(0, eq)).toString('utf8');
    const raw = eq < 0 ? '' : line.slice(eq + 1);
    if (raw === '' || raw === '""' || raw === '0x') current.set(name, Buffer.alloc(0));
    else if (/^0x([0-9a-fA-F]{2})+$/.test(raw)) current.set(name, Buffer.from(raw.slice(2), 'hex'));
    else throw new KeelError('E_STORE_IO', `getfattr printed a value that is not hex for ${JSON.stringify(name)}`);
  }
  return out;
}

/**
 * Checks `rel` inside `root` before setfattr is given it: every parent below
 * the root is a real directory (lstat, never a symlink) and the final node is
 * `node` (same inode number and type). Returns why not, or null. `dirs` caches
 * parents already checked.
 */
export function checkNode(root: string, rel: string, node: NodeId, dirs: Set<string> = new Set()): string | null {
  const comps = rel.split('/');
  if (rel === '' || comps.some((c) => c === '' || c === '.' || c === '..')) return 'is not a clean path';
  let prefix = '';
  for (const c of comps.slice(0, -1)) {
    prefix = prefix === '' ? c : `${prefix}/${c}`;
    if (dirs.has(prefix)) continue;
    const st = lstatQuiet(path.join(root, prefix));
    if (st === null) return 'has a parent that no longer exists';
    if (st.isSymbolicLink()) return 'has a parent that is a symlink';
    if (!st.isDirectory()) return 'has a parent that is not a directory';
    dirs.add(prefix);
  }
  const st = lstatQuiet(path.join(root, rel));
  if (st === null) return 'no longer exists';
  if (st.ino !== node.ino || (st.mode & constants.S_IFMT) !== node.fmt) return 'was replaced by another node';
  return null;
}

function lstatQuiet(hostPath: string): Stats | null {
  try {
    return lstatSync(hostPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return null;
    throw fsError(`inspecting ${hostPath}`, err);
  }
}

export interface ApplyResult {
  /** Root-relative paths that were handed to setfattr. */
  readonly applied: string[];
  /** Paths refused by checkNode, with why. */
  readonly refused: Array<{ rel: string; why: string }>;
  /** setfattr's own complaints (one per failed attribute), if it ran and failed. */
  readonly failures: string[];
  /** setfattr is not installed: nothing was applied. */
  readonly missing: boolean;
}

/**
 * Applies `records` (root-relative path -> node + attributes) under `root`
 * with ONE `setfattr -h --restore=-` process, after checkNode on each path.
 * setfattr goes on past an attribute it cannot set; its messages come back in
 * `failures`. A host without setfattr gets `missing` and nothing changes.
 */
export async function applyXattrs(root: string, records: Iterable<readonly [string, XattrRecord]>): Promise<ApplyResult> {
  const result: ApplyResult = { applied: [], refused: [], failures: [], missing: false };
  const nodes: Array<{ hostPath: string; xattrs: Xattrs }> = [];
  const dirs = new Set<string>();
  for (const [rel, record] of records) {
    const { xattrs } = record;
    if (xattrs.size === 0) continue;
    const why = checkNode(root, rel, record, dirs);
    if (why !== null) {
      result.refused.push({ rel, why });
      continue;
    }
    nodes.push({ hostPath: path.join(root, rel), xattrs });
    result.applied.push(rel);
  }
  if (nodes.length === 0) return result;
  const run = await runTool('setfattr', ['-h', '--restore=-'], encodeRestoreDump(nodes));
  if (run === 'missing') return { applied: [], refused: result.refused, failures: [], missing: true };
  if (run.code !== 0) {
    result.failures.push(...run.stderr.split('\n').filter((l) => l.trim() !== ''));
    if (result.failures.length === 0) result.failures.push(`setfattr exited with status ${run.code}`);
  }
  return result;
}

/**
 * Reads the attributes of a tree keel wrote (a stored layer) with ONE getfattr
 * process: of `rels` when given (root-relative), else of the whole tree
 * (`-R -P`: a physical walk, never through a symlink). Keys are root-relative.
 */
export async function readXattrs(root: string, rels?: readonly string[]): Promise<Map<string, Map<string, Buffer>> | 'missing'> {
  if (rels !== undefined && rels.length === 0) return new Map();
  const args = ['--dump', '-h', '-m', '-', '-e', 'hex', '--absolute-names'];
  // One argument list stays well under the kernel's limit (ARG_MAX); a longer list walks the tree instead.
  const listed = rels !== undefined && rels.reduce((n, r) => n + Buffer.byteLength(r) + root.length + 2, 0) < 512 * 1024;
  if (listed) args.push('--', ...rels.map((r) => path.join(root, r)));
  else args.push('-R', '-P', '--', root);
  const run = await runTool('getfattr', args, null);
  if (run === 'missing') return 'missing';
  if (run.code !== 0) {
    // getfattr goes on past a listed path that is gone (exit 1); checkNode looks at every path again when applying
    const complaints = run.stderr.split('\n').filter((l) => l.trim() !== '' && !(listed && l.endsWith('No such file or directory')));
    if (complaints.length > 0 || !listed) throw new KeelError('E_STORE_IO', `reading extended attributes under ${root}: ${complaints[0] ?? `getfattr exited with status ${run.code}`}`);
  }
  const out = new Map<string, Map<string, Buffer>>();
  for (const [hostPath, xattrs] of parseDump(run.stdout)) {
    const rel = path.relative(root, hostPath);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) continue; // the root's own (never applied)
    out.set(rel, xattrs);
  }
  return out;
}

/** Removes attributes `names` of `hostPath` (without following a final symlink); ENODATA (already gone) is fine. */
export async function removeXattrs(hostPath: string, names: Iterable<string>): Promise<string[]> {
  const failures: string[] = [];
  for (const name of names) {
    const run = await runTool('setfattr', ['-h', '-x', name, '--', hostPath], null);
    if (run === 'missing') return ['setfattr is not installed'];
    if (run.code !== 0 && !/No such attribute/.test(run.stderr)) failures.push(run.stderr.trim());
  }
  return failures;
}

interface ToolRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool of the attr package; 'missing' when it is not installed. stdout is read as latin1 (quoted dumps are ASCII). */
function runTool(file: string, args: readonly string[], input: Buffer | null): Promise<ToolRun | 'missing'> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [input === null ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      if (errnoCode(e) === 'ENOENT') resolve('missing');
      else reject(fsError(`running ${file}`, e));
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('utf8') }));
    if (input !== null) {
      child.stdin?.on('error', () => undefined); // an early exit is reported by 'close'
      child.stdin?.end(input);
    }
  });
}

/** The counts and examples behind one layer's (or one stacking's) extended-attribute warnings. */
export class XattrReport {
  ignored = 0;
  ignoredExample: string | undefined;
  notApplied = 0;
  notAppliedExample: string | undefined;
  capabilities = 0;
  capabilityExample: string | undefined;
  refused = 0;
  refusedExample: string | undefined;
  failures: string[] = [];
  missing = false;

  /** An attribute keel does not apply, by design. */
  noteIgnored(where: string, name: string, why: string): void {
    this.ignored += 1;
    this.ignoredExample ??= `${where} ${name}: ${why}`;
  }

  /** Merges what applying (or failing to apply) a set of records came to. */
  noteApply(result: ApplyResult, records: Iterable<readonly [string, { readonly xattrs: Xattrs }]>, show: (rel: string) => string): void {
    for (const { rel, why } of result.refused) {
      this.refused += 1;
      this.refusedExample ??= `${show(rel)} ${why}`;
    }
    this.failures.push(...result.failures);
    if (!result.missing) return;
    this.missing = true;
    for (const [rel, { xattrs }] of records) {
      if (result.refused.some((r) => r.rel === rel)) continue;
      this.notApplied += 1;
      this.notAppliedExample ??= show(rel);
      if (xattrs.has('security.capability')) {
        this.capabilities += 1;
        this.capabilityExample ??= show(rel);
      }
    }
  }

  warnings(): string[] {
    const out: string[] = [];
    const s = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
    if (this.notApplied > 0) {
      out.push(
        `extended attributes not applied on ${s(this.notApplied, 'entry', 'entries')} (setfattr not found: install the attr package), e.g. ${this.notAppliedExample ?? '?'}` +
          (this.capabilities > 0 ? ` (file capabilities dropped on ${this.capabilities}, e.g. ${this.capabilityExample ?? '?'})` : ''),
      );
    }
    if (this.ignored > 0) out.push(`ignored ${s(this.ignored, 'extended attribute', 'extended attributes')} as umoci does, e.g. ${this.ignoredExample ?? '?'}`);
    if (this.refused > 0) out.push(`skipped extended attributes on ${s(this.refused, 'path', 'paths')} that changed after the entry was written, e.g. ${this.refusedExample ?? '?'}`);
    if (this.failures.length > 0) out.push(`could not set ${s(this.failures.length, 'extended attribute', 'extended attributes')}, e.g. ${this.failures[0] ?? '?'}`);
    return out;
  }
}
