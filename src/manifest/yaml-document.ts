// One YAML file holding ONE document (keel.yaml) -> a plain value checked
// against an ObjectType of the key-table language, with the manifest
// validator's machinery: every problem (never the first only), each with
// file:line:column and key path, "did you mean" for unknown keys, YAML 1.2
// core schema, duplicate keys refused, the same alias, depth and node limits.
// Strings are taken literally (no ${VAR} substitution). Never throws on bad
// input: every problem comes back in `problems`.

import { Document, LineCounter, isScalar, parseAllDocuments } from 'yaml';
import { MAX_ALIAS_COUNT, MAX_FLOW_DEPTH, MAX_NODES_PER_DOCUMENT } from './constants.ts';
import type { ObjectType } from './field-types.ts';
import { aliasesWithinCap, firstAlias, reportYamlErrors, tooDeep, yamlOptions } from './parse-text.ts';
import type { ManifestProblem } from './problem.ts';
import { INVALID, walk, type RawProblem, type WalkContext } from './walk.ts';

export interface YamlDocumentResult {
  /** The checked value; null for an empty file; undefined when there are problems. */
  readonly value: Record<string, unknown> | null | undefined;
  readonly problems: readonly ManifestProblem[];
}

function context(doc: Document.Parsed | undefined, text: string): WalkContext {
  return {
    doc: doc as Document.Parsed,
    text,
    problems: [],
    lookup: () => ({ error: 'variables are not substituted here' }),
    knownVariables: () => [],
    offsets: new Map(),
    topLevel: Object.create(null) as Record<string, unknown>,
    budget: MAX_NODES_PER_DOCUMENT,
  };
}

/**
 * Parses `text` (named `file` in problems) as a single YAML document and
 * checks it against `type`. A second document in the file is a problem.
 */
export function validateYamlDocument(text: string, file: string, type: ObjectType, maxBytes: number): YamlDocumentResult {
  const problems: ManifestProblem[] = [];
  const fail = (line: number, column: number, message: string, hint?: string): YamlDocumentResult => {
    problems.push({ file, line, column, path: '', message, hint });
    return { value: undefined, problems };
  };
  if (Buffer.byteLength(text, 'utf8') > maxBytes) return fail(0, 0, `file is larger than ${maxBytes} bytes`);
  const deep = tooDeep(text);
  if (deep !== undefined) {
    const before = text.slice(0, deep);
    return fail(before.split('\n').length, deep - before.lastIndexOf('\n'), `flow collections ([ ], { }) nested more than ${MAX_FLOW_DEPTH} deep`);
  }
  const lines = new LineCounter();
  const push = (raw: RawProblem): void => {
    const p = lines.linePos(Math.max(0, Math.min(raw.offset, text.length)));
    problems.push({ file, line: p.line, column: p.col, path: raw.path, message: raw.message, hint: raw.hint });
  };
  const docs = parseAllDocuments(text, yamlOptions(lines));
  const all = Array.isArray(docs) ? docs : [];
  const doc = all[0];
  if (doc === undefined) return { value: null, problems };
  for (const extra of all.slice(1)) push({ offset: (extra.contents?.range ?? extra.range)[0], path: '', message: 'a second YAML document: this file holds one', hint: 'remove the --- and what follows, or merge it into the first document' });
  if (reportYamlErrors(doc, push)) return { value: undefined, problems };
  const contents = doc.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) return { value: problems.length > 0 ? undefined : null, problems };
  const start = (contents.range ?? [0])[0];
  if (!aliasesWithinCap(doc)) {
    push({ offset: firstAlias(doc) ?? start, path: '', message: `aliases expand to too many nodes (more than ${MAX_ALIAS_COUNT} per alias)`, hint: 'write the values out instead of using anchors and aliases' });
    return { value: undefined, problems };
  }
  const ctx = context(doc, text);
  const value = walk(contents, type, '', ctx, start, true);
  ctx.problems.forEach(push);
  return { value: value === INVALID || problems.length > 0 ? undefined : (value as Record<string, unknown>), problems };
}

/**
 * Checks an in-memory value (not from a file) against `type`; problems carry
 * key paths but no position (line 0).
 */
export function validatePlainValue(value: unknown, source: string, type: ObjectType): YamlDocumentResult {
  if (value === null || value === undefined) return { value: null, problems: [] };
  const ctx = context(undefined, '');
  const walked = walk(new Document(value).contents, type, '', ctx, 0, true);
  const problems = ctx.problems.map((p) => ({ file: source, line: 0, column: 0, path: p.path, message: p.message, hint: p.hint }));
  return { value: walked === INVALID || problems.length > 0 ? undefined : (walked as Record<string, unknown>), problems };
}
