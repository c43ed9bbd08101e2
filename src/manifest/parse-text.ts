// One manifest file's text -> its documents, each walked against the key
// table with variables substituted. Limits are enforced before and during
// parsing: file size, yaml's alias cap (toJS maxAliasCount), duplicate keys
// (uniqueKeys), a node budget, YAML 1.2 core schema only (no !!binary,
// no yes/no booleans, no merge keys). Never throws on bad input: every
// problem comes back in `problems`.

import { LineCounter, isMap, isScalar, parseAllDocuments, visit, type Document, type YAMLMap } from 'yaml';
import { KeelError } from '../errors.ts';
import { MAX_ALIAS_COUNT, MAX_FILE_BYTES, MAX_FLOW_DEPTH, MAX_NODES_PER_DOCUMENT, NAME, VARIABLE_NAME } from './constants.ts';
import { CONTAINER_DOCUMENT } from './keys.ts';
import type { ManifestProblem } from './problem.ts';
import { BUILTIN_NAMES, builtinLookup, type Lookup } from './variables.ts';
import { INVALID, walk, type RawProblem, type WalkContext } from './walk.ts';

export interface LoadOptions {
  /** --set VAR=VALUE overrides. */
  readonly set?: Readonly<Record<string, string>> | undefined;
  /** Injected builtin values (HOSTNAME, MACHINE_ID); a key set to undefined makes that builtin unavailable. */
  readonly builtins?: Partial<Record<string, string>> | undefined;
}

export interface Position {
  readonly line: number;
  readonly column: number;
}

export const ORDERING_KEYS = ['after', 'before', 'requires', 'wants'] as const;

export interface OrderingRef {
  readonly key: (typeof ORDERING_KEYS)[number];
  readonly ref: string;
  readonly path: string;
  readonly at: Position;
}

/** A document after the walk: raw is set only when the document had no problem. */
export interface ParsedDocument {
  readonly file: string;
  readonly line: number;
  readonly name: string | undefined;
  readonly nameAt: Position;
  readonly raw: Record<string, unknown> | undefined;
  readonly refs: readonly OrderingRef[];
}

function checkSet(set: Readonly<Record<string, string>> | undefined): void {
  for (const key of Object.keys(set ?? {})) {
    if (!VARIABLE_NAME.test(key)) {
      throw new KeelError('E_USAGE', `--set ${JSON.stringify(key)}: not a variable name`, { hint: 'use --set NAME=VALUE with NAME made of letters, digits and _' });
    }
  }
}

export function parseDocuments(text: string, file: string, options: LoadOptions = {}): { docs: ParsedDocument[]; problems: ManifestProblem[] } {
  checkSet(options.set);
  const problems: ManifestProblem[] = [];
  const docs: ParsedDocument[] = [];
  if (Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    problems.push({ file, line: 0, column: 0, path: '', message: `file is larger than ${MAX_FILE_BYTES} bytes`, hint: 'split it into several files' });
    return { docs, problems };
  }
  const deep = tooDeep(text);
  if (deep !== undefined) {
    const before = text.slice(0, deep);
    const line = before.split('\n').length;
    problems.push({ file, line, column: deep - before.lastIndexOf('\n'), path: '', message: `flow collections ([ ], { }) nested more than ${MAX_FLOW_DEPTH} deep`, hint: 'a manifest never needs this; the file is refused unparsed' });
    return { docs, problems };
  }
  const lines = new LineCounter();
  const pos = (offset: number): Position => {
    const p = lines.linePos(Math.max(0, Math.min(offset, text.length)));
    return { line: p.line, column: p.col };
  };
  const push = (raw: RawProblem): void => {
    problems.push({ file, ...pos(raw.offset), path: raw.path, message: raw.message, hint: raw.hint });
  };
  const builtin = builtinLookup(options.builtins);
  const parsed = parseAllDocuments(text, yamlOptions(lines));
  for (const doc of parsed) {
    const unusable = reportYamlErrors(doc, push);
    const contents = doc.contents;
    if (unusable) {
      // Still record the name, so other documents referring to it do not fail too.
      const name = isMap(contents) ? contents.items.find((p) => isScalar(p.key) && p.key.value === 'name')?.value : undefined;
      if (isScalar(name) && typeof name.value === 'string' && NAME.test(name.value)) {
        docs.push({ file, line: pos(name.range?.[0] ?? 0).line, name: name.value, nameAt: pos(name.range?.[0] ?? 0), raw: undefined, refs: [] });
      }
      continue;
    }
    if (contents === null || (isScalar(contents) && contents.value === null)) continue; // an empty document
    const start = (contents.range ?? [0])[0];
    if (!aliasesWithinCap(doc)) {
      push({ offset: firstAlias(doc) ?? start, path: '', message: `aliases expand to too many nodes (more than ${MAX_ALIAS_COUNT} per alias): refused as a possible alias bomb`, hint: 'write the values out instead of using anchors and aliases' });
      continue;
    }
    if (!isMap(contents)) {
      push({ offset: start, path: '', message: 'a manifest document must be a mapping (name: …, image: …)' });
      continue;
    }
    const walked = walkDocument(doc, contents, text, file, options, builtin, pos, push);
    docs.push(doc.errors.length > 0 ? { ...walked, raw: undefined } : walked);
  }
  return { docs, problems };
}

/**
 * yaml's parser recurses per nesting level and, on deeply nested flow
 * collections, spends seconds before giving up with a stack overflow (15 s
 * for a 1 MiB file of '['). Counting brackets over-approximates the depth
 * (brackets in strings count too), which only errs towards refusing.
 * Returns the offset of the first bracket over the limit.
 */
/** The YAML dialect of manifests and keel.yaml: 1.2 core schema, unique keys, no merge keys, no tags. */
export function yamlOptions(lineCounter: LineCounter): Parameters<typeof parseAllDocuments>[1] {
  return { lineCounter, uniqueKeys: true, version: '1.2', schema: 'core', merge: false, resolveKnownTags: false, prettyErrors: false, strict: true };
}

/**
 * Reports a document's YAML errors and warnings: every duplicate key, and of
 * the syntax errors only the first (yaml's recovery yields a cascade of
 * follow-on errors). True when the document cannot be used.
 */
export function reportYamlErrors(doc: Document.Parsed, push: (raw: RawProblem) => void): boolean {
  const fatal = doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY');
  const shown = [...doc.errors.filter((e) => e.code === 'DUPLICATE_KEY'), ...fatal.slice(0, 1), ...doc.warnings];
  for (const e of shown.sort((a, b) => a.pos[0] - b.pos[0])) {
    const dup = e.code === 'DUPLICATE_KEY';
    push({
      offset: e.pos[0],
      path: '',
      message: dup ? 'duplicate key in a mapping' : `YAML: ${e.message.split('\n')[0] ?? e.message}`,
      hint: dup ? 'each key may appear once; remove one of them' : undefined,
    });
  }
  return fatal.length > 0 || doc.warnings.length > 0;
}

export function tooDeep(text: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_FLOW_DEPTH) return i;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return undefined;
}

export function aliasesWithinCap(doc: Document.Parsed): boolean {
  try {
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return true;
  } catch (err) {
    if (err instanceof ReferenceError || (err instanceof Error && /alias/i.test(err.message))) return false;
    throw err;
  }
}

export function firstAlias(doc: Document.Parsed): number | undefined {
  let at: number | undefined;
  visit(doc, { Alias: (_, node) => { at ??= node.range?.[0]; return visit.BREAK; } });
  return at;
}

function walkDocument(
  doc: Document.Parsed, contents: YAMLMap, text: string, file: string, options: LoadOptions,
  builtin: ReturnType<typeof builtinLookup>, pos: (o: number) => Position, push: (p: RawProblem) => void,
): ParsedDocument {
  const start = (contents.range ?? [0])[0];
  // The variables map first (in a scratch context: the main walk reports its problems).
  const varsPair = contents.items.find((p) => isScalar(p.key) && p.key.value === 'variables');
  // Take every well-formed entry, so one bad default does not turn every use of the others into an error.
  const vars: Record<string, string> = Object.create(null) as Record<string, string>;
  if (varsPair && isMap(varsPair.value)) {
    for (const p of varsPair.value.items) {
      if (isScalar(p.key) && typeof p.key.value === 'string' && isScalar(p.value) && typeof p.value.value === 'string') vars[p.key.value] = p.value.value;
    }
  }
  const set = options.set ?? {};
  const known = (): string[] => [...new Set([...Object.keys(set), ...Object.keys(vars), ...BUILTIN_NAMES])];
  const lookup: Lookup = (name) => {
    if (Object.hasOwn(set, name)) return { value: set[name] ?? '' };
    if (Object.hasOwn(vars, name)) return { value: vars[name] ?? '' };
    const b = builtin(name);
    if (b !== undefined) return b;
    return { error: `undefined variable \${${name}}`, hint: `give it a default under variables: or pass --set ${name}=VALUE` };
  };
  const ctx = newContext(doc, text, lookup, known);
  const before = ctx.problems.length;
  const raw = walk(contents, CONTAINER_DOCUMENT, '', ctx, start);
  for (const name of Object.keys(vars)) {
    if (BUILTIN_NAMES.includes(name)) {
      ctx.problems.push({ offset: ctx.offsets.get(`variables.${name}`) ?? start, path: `variables.${name}`, message: `${name} is a builtin variable and cannot be given a default`, hint: `override it with --set ${name}=VALUE instead` });
    }
  }
  ctx.problems.forEach(push);
  const ok = raw !== INVALID && ctx.problems.length === before;
  const nameNode = contents.items.find((p) => isScalar(p.key) && p.key.value === 'name')?.value;
  const nameOffset = ctx.offsets.get('name') ?? start;
  const rawName = ok ? (raw as Record<string, unknown>)['name'] : isScalar(nameNode) ? nameNode.value : undefined;
  const refs: OrderingRef[] = [];
  {
    for (const key of ORDERING_KEYS) {
      (ctx.topLevel[key] as string[] | undefined)?.forEach((ref, i) => {
        const path = `${key}[${i}]`;
        refs.push({ key, ref, path, at: pos(ctx.offsets.get(path) ?? start) });
      });
    }
  }
  return {
    file,
    line: pos(start).line,
    name: typeof rawName === 'string' && NAME.test(rawName) ? rawName : undefined,
    nameAt: pos(nameOffset),
    raw: ok ? (raw as Record<string, unknown>) : undefined,
    refs,
  };
}

function newContext(doc: Document.Parsed, text: string, lookup: Lookup, known: () => Iterable<string>): WalkContext {
  return { doc, text, problems: [], lookup, knownVariables: known, offsets: new Map(), topLevel: Object.create(null) as Record<string, unknown>, budget: MAX_NODES_PER_DOCUMENT };
}

