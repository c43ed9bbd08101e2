// A tiny JSON Schema (draft-07) checker for exactly the keywords
// manifests/schema.json uses — an independent second reading of the schema,
// so the agreement test does not just compare the generator with itself.
// Any keyword it does not know makes it throw, so it cannot silently accept.

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', 'title', 'description', 'default']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(want: string, v: unknown): boolean {
  const t = typeOf(v);
  return want === t || (want === 'number' && t === 'integer');
}

/** Returns the error messages; empty means valid. */
export function checkSchema(schema: Schema, value: unknown, path = '$'): string[] {
  const errors: string[] = [];
  const sub = (s: unknown, v: unknown, p: string): string[] => checkSchema(s as Schema, v, p);
  for (const [kw, arg] of Object.entries(schema)) {
    if (ANNOTATIONS.has(kw)) continue;
    switch (kw) {
      case 'type':
        if (!(Array.isArray(arg) ? arg : [arg]).some((t: string) => typeMatches(t, value))) errors.push(`${path}: not ${String(arg)}`);
        break;
      case 'enum':
        if (!(arg as unknown[]).includes(value)) errors.push(`${path}: not in enum`);
        break;
      case 'const':
        if (value !== arg) errors.push(`${path}: not ${String(arg)}`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(arg as string, 'u').test(value)) errors.push(`${path}: does not match ${String(arg)}`);
        break;
      case 'minLength':
        if (typeof value === 'string' && [...value].length < (arg as number)) errors.push(`${path}: too short`);
        break;
      case 'maxLength':
        if (typeof value === 'string' && [...value].length > (arg as number)) errors.push(`${path}: too long`);
        break;
      case 'minimum':
        if (typeof value === 'number' && value < (arg as number)) errors.push(`${path}: below minimum`);
        break;
      case 'maximum':
        if (typeof value === 'number' && value > (arg as number)) errors.push(`${path}: above maximum`);
        break;
      case 'items':
        if (Array.isArray(value)) value.forEach((v, i) => errors.push(...sub(arg, v, `${path}[${i}]`)));
        break;
      case 'minItems':
        if (Array.isArray(value) && value.length < (arg as number)) errors.push(`${path}: too few items`);
        break;
      case 'maxItems':
        if (Array.isArray(value) && value.length > (arg as number)) errors.push(`${path}: too many items`);
        break;
      case 'uniqueItems':
        if (arg === true && Array.isArray(value) && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) errors.push(`${path}: items not unique`);
        break;
      case 'properties':
      case 'additionalProperties':
      case 'propertyNames':
      case 'required':
      case 'maxProperties': {
        if (typeOf(value) !== 'object') break;
        const obj = value as Record<string, unknown>;
        const props = (schema['properties'] ?? {}) as Record<string, Schema>;
        if (kw === 'properties') {
          for (const [k, s] of Object.entries(props)) if (Object.hasOwn(obj, k)) errors.push(...sub(s, obj[k], `${path}.${k}`));
        } else if (kw === 'additionalProperties') {
          for (const k of Object.keys(obj)) {
            if (Object.hasOwn(props, k)) continue;
            if (arg === false) errors.push(`${path}: unknown property ${k}`);
            else if (typeof arg === 'object') errors.push(...sub(arg, obj[k], `${path}.${k}`));
          }
        } else if (kw === 'propertyNames') {
          for (const k of Object.keys(obj)) errors.push(...sub(arg, k, `${path}{${k}}`));
        } else if (kw === 'required') {
          for (const k of arg as string[]) if (!Object.hasOwn(obj, k)) errors.push(`${path}: missing ${k}`);
        } else if (Object.keys(obj).length > (arg as number)) errors.push(`${path}: too many properties`);
        break;
      }
      case 'anyOf':
        if (!(arg as Schema[]).some((s) => checkSchema(s, value, path).length === 0)) errors.push(`${path}: matches no anyOf branch`);
        break;
      case 'oneOf':
        if ((arg as Schema[]).filter((s) => checkSchema(s, value, path).length === 0).length !== 1) errors.push(`${path}: does not match exactly one oneOf branch`);
        break;
      default:
        throw new Error(`json-schema-check: unsupported keyword ${kw}`);
    }
  }
  return errors;
}
