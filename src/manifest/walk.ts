// Walks one parsed YAML node tree against a FieldType from the key table,
// substituting ${VAR} in strings, and returns the plain value. Every problem
// is recorded with the source offset of the node it is about and its key
// path (mounts[1].source); the walk never stops at the first one. Aliases
// are followed within a node budget, so an expansion bomb that slipped past
// yaml's own alias cap still cannot make the walk explode.

import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node } from 'yaml';
import type { Field, FieldType, Finding, ObjectType, TaggedType } from './field-types.ts';
import { didYouMean } from './suggest.ts';
import { substitute, type Lookup } from './variables.ts';

export const INVALID: unique symbol = Symbol('invalid');
export type Walked = unknown;

export interface RawProblem {
  readonly offset: number;
  readonly path: string;
  readonly message: string;
  readonly hint?: string | undefined;
}

export interface WalkContext {
  readonly doc: Document.Parsed;
  readonly text: string;
  readonly problems: RawProblem[];
  readonly lookup: Lookup;
  readonly knownVariables: () => Iterable<string>;
  /** Offset of the node at each path visited, for later (cross-document) problems. */
  readonly offsets: Map<string, number>;
  /** The valid top-level values, even when the document as a whole is not (for cross-document checks). */
  readonly topLevel: Record<string, unknown>;
  budget: number;
}

export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  const k = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return base === '' ? k : `${base}.${k}`;
}

function offsetOf(node: unknown, fallback: number): number {
  const range = (node as { range?: [number, number, number] | null } | null)?.range;
  return range ? range[0] : fallback;
}

function describe(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || v === undefined) return 'an empty value (null)';
    if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
    if (typeof v === 'boolean') return `the boolean ${v}`;
    if (typeof v === 'number' || typeof v === 'bigint') return `the number ${String(v)}`;
  }
  return 'something else';
}

function expected(type: FieldType): string {
  switch (type.kind) {
    case 'string': return type.enum ? `one of ${type.enum.join(', ')}` : 'a string';
    case 'boolean': return 'true or false';
    case 'integer': return 'an integer';
    case 'number': return 'a number';
    case 'anyOf': return type.options.map(expected).join(' or ');
    case 'array': return 'a list';
    case 'map': case 'object': case 'tagged': return 'a mapping';
  }
}

function hintFor(type: FieldType, node: unknown): string | undefined {
  if (!isScalar(node)) return undefined;
  if (node.value === null) return 'give it a value or remove the key';
  if (type.kind === 'boolean' && typeof node.value === 'string') return 'YAML 1.2: write true or false; yes, no, on and off are strings';
  if (type.kind === 'string' && (typeof node.value === 'number' || typeof node.value === 'boolean')) return 'quote it to make it a string';
  return undefined;
}

export function walk(node: unknown, type: FieldType, path: string, ctx: WalkContext, parentOffset: number, literal = false): Walked {
  if (--ctx.budget < 0) {
    if (ctx.budget === -1) ctx.problems.push({ offset: offsetOf(node, parentOffset), path, message: 'document is too large once aliases are expanded', hint: 'write the values out instead of using aliases' });
    return INVALID;
  }
  if (isAlias(node)) {
    const target = node.resolve(ctx.doc);
    if (target === undefined) {
      ctx.problems.push({ offset: offsetOf(node, parentOffset), path, message: `alias *${node.source} has no anchor` });
      return INVALID;
    }
    return walk(target, type, path, ctx, offsetOf(node, parentOffset), literal);
  }
  const offset = offsetOf(node, parentOffset);
  ctx.offsets.set(path, offset);
  const fail = (message: string, hint?: string): typeof INVALID => {
    ctx.problems.push({ offset, path, message, hint });
    return INVALID;
  };
  const mismatch = (): typeof INVALID => fail(`expected ${expected(type)}, found ${describe(node)}`, hintFor(type, node));

  switch (type.kind) {
    case 'string': {
      if (!isScalar(node) || typeof node.value !== 'string') return mismatch();
      let value = node.value;
      if (!literal) {
        const r = substitute(value, ctx.lookup, ctx.knownVariables);
        if ('errors' in r) {
          const raw = ctx.text.slice(offset, (node.range ?? [offset, offset])[1]);
          for (const e of r.errors) {
            const at = raw.indexOf(e.reference);
            ctx.problems.push({ offset: at >= 0 ? offset + at : offset, path, message: e.message, hint: e.hint });
          }
          return INVALID;
        }
        value = r.value;
      }
      if (value.includes('\0')) return fail('contains a NUL character');
      if (type.minLength !== undefined && value.length < type.minLength) return fail(`must not be empty`);
      if (type.maxLength !== undefined && value.length > type.maxLength) return fail(`is longer than ${type.maxLength} characters`);
      if (type.enum && !type.enum.includes(value)) {
        return fail(`${JSON.stringify(value)} is not one of ${type.enum.length > 12 ? 'the allowed values' : type.enum.join(', ')}`, didYouMean(value, type.enum));
      }
      if (type.pattern && !type.pattern.test(value)) return fail(`${JSON.stringify(value)} is not ${type.patternHelp ?? `matching ${type.pattern.source}`}`);
      return value;
    }
    case 'boolean':
      return isScalar(node) && typeof node.value === 'boolean' ? node.value : mismatch();
    case 'integer':
    case 'number': {
      if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value)) return mismatch();
      const v = node.value;
      if (type.kind === 'integer' && !Number.isSafeInteger(v)) return mismatch();
      if (type.minimum !== undefined && v < type.minimum) return fail(`${v} is less than the minimum ${type.minimum}`);
      if (type.maximum !== undefined && v > type.maximum) return fail(`${v} is more than the maximum ${type.maximum}`);
      return v;
    }
    case 'anyOf': {
      const v = isScalar(node) ? node.value : undefined;
      const option = type.options.find((o) =>
        (o.kind === 'string' && typeof v === 'string') || ((o.kind === 'integer' || o.kind === 'number') && typeof v === 'number') || (o.kind === 'boolean' && typeof v === 'boolean'),
      );
      if (option === undefined) return mismatch();
      ctx.offsets.delete(path);
      return walk(node, option, path, ctx, parentOffset, literal);
    }
    case 'array': {
      if (!isSeq(node)) return mismatch();
      const items = node.items;
      if (type.minItems !== undefined && items.length < type.minItems) return fail(`must have at least ${type.minItems} item${type.minItems === 1 ? '' : 's'}`);
      if (type.maxItems !== undefined && items.length > type.maxItems) return fail(`has more than ${type.maxItems} items`);
      let ok = true;
      const out: unknown[] = [];
      items.forEach((item, i) => {
        const v = walk(item, type.items, joinPath(path, i), ctx, offset, literal);
        if (v === INVALID) ok = false;
        else if (type.uniqueItems && out.some((o) => JSON.stringify(o) === JSON.stringify(v))) {
          ctx.problems.push({ offset: offsetOf(item, offset), path: joinPath(path, i), message: `${JSON.stringify(v)} is listed twice`, hint: 'remove the duplicate' });
          ok = false;
        }
        out.push(v);
      });
      return ok ? out : INVALID;
    }
    case 'map':
      return walkMapping(node, path, ctx, offset, literal, mismatch, (key) =>
        type.keyPattern.test(key) ? { type: type.values } : { problem: `${JSON.stringify(key)} is not ${type.keyHelp}` },
        type.maxProperties,
      );
    case 'object':
      return walkObject(node, type, path, ctx, offset, literal, mismatch);
    case 'tagged':
      return walkTagged(node, type, path, ctx, offset, literal, mismatch);
  }
}

type KeyRule = { type: FieldType; field?: Field } | { problem: string; hint?: string | undefined };

function walkMapping(
  node: unknown, path: string, ctx: WalkContext, offset: number, literal: boolean, mismatch: () => typeof INVALID,
  rule: (key: string) => KeyRule, maxProperties?: number,
): Walked {
  if (!isMap(node)) return mismatch();
  if (maxProperties !== undefined && node.items.length > maxProperties) {
    ctx.problems.push({ offset, path, message: `has more than ${maxProperties} entries` });
    return INVALID;
  }
  let ok = true;
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const keyNode = pair.key as Node | null;
    const keyOffset = offsetOf(keyNode, offset);
    if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
      ctx.problems.push({ offset: keyOffset, path, message: `keys must be strings, found ${describe(keyNode)}` });
      ok = false;
      continue;
    }
    const key = keyNode.value;
    const childPath = joinPath(path, key);
    const r = rule(key);
    if ('problem' in r) {
      ctx.problems.push({ offset: keyOffset, path: childPath, message: r.problem, hint: r.hint });
      ok = false;
      continue;
    }
    const valueOffset = pair.value === null ? keyOffset : offsetOf(pair.value, keyOffset);
    const before = ctx.problems.length;
    const v = walk(pair.value ?? { range: [keyOffset, keyOffset, keyOffset] }, r.type, childPath, ctx, valueOffset, literal || r.field?.literal === true);
    if (v === INVALID) {
      ok = false;
      continue;
    }
    if (r.field?.check && ctx.problems.length === before) {
      for (const f of r.field.check(v)) reportFinding(f, childPath, ctx, valueOffset);
      if (ctx.problems.length !== before) ok = false;
    }
    out[key] = v;
    if (path === '') ctx.topLevel[key] = v;
  }
  return ok ? out : INVALID;
}

function reportFinding(f: Finding, base: string, ctx: WalkContext, fallback: number): void {
  const path = (f.at ?? []).reduce<string>((p, k) => joinPath(p, k), base);
  ctx.problems.push({ offset: ctx.offsets.get(path) ?? fallback, path, message: f.message, hint: f.hint });
}

function walkObject(node: unknown, type: ObjectType, path: string, ctx: WalkContext, offset: number, literal: boolean, mismatch: () => typeof INVALID): Walked {
  const known = Object.keys(type.fields);
  const out = walkMapping(node, path, ctx, offset, literal, mismatch, (key) => {
    const field = Object.hasOwn(type.fields, key) ? type.fields[key] : undefined;
    if (field) return { type: field.type, field };
    return { problem: `unknown key ${JSON.stringify(key)}`, hint: didYouMean(key, known) ?? `known keys: ${known.join(', ')}` };
  });
  if (!isMap(node)) return out;
  let ok = out !== INVALID;
  for (const req of type.required ?? []) {
    if (!node.items.some((p) => isScalar(p.key) && p.key.value === req)) {
      ctx.problems.push({ offset, path: joinPath(path, req), message: `missing required key ${req}`, hint: type.fields[req]?.description });
      ok = false;
    }
  }
  return ok ? out : INVALID;
}

function walkTagged(node: unknown, type: TaggedType, path: string, ctx: WalkContext, offset: number, literal: boolean, mismatch: () => typeof INVALID): Walked {
  if (!isMap(node)) return mismatch();
  const names = Object.keys(type.variants);
  const tagPair = node.items.find((p) => isScalar(p.key) && p.key.value === type.tag);
  if (tagPair === undefined) {
    ctx.problems.push({ offset, path: joinPath(path, type.tag), message: `missing required key ${type.tag}`, hint: `one of ${names.join(', ')}` });
    return INVALID;
  }
  const tagValue = walk(tagPair.value, { kind: 'string', enum: names }, joinPath(path, type.tag), ctx, offsetOf(tagPair.key, offset), literal);
  if (tagValue === INVALID) return INVALID;
  const variant = type.variants[tagValue as string];
  if (variant === undefined) return INVALID;
  return walkObject(node, withTag(variant, type), path, ctx, offset, literal, mismatch);
}

/** A variant with its tag key added (`type: bind`), as the schema has it. */
export function withTag(variant: ObjectType, tagged: TaggedType): ObjectType {
  const tagName = Object.entries(tagged.variants).find(([, v]) => v === variant)?.[0] ?? '';
  return {
    ...variant,
    required: [tagged.tag, ...(variant.required ?? [])],
    fields: { [tagged.tag]: { type: { kind: 'string', enum: [tagName] }, description: tagged.tagDescription }, ...variant.fields },
  };
}
