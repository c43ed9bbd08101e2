// Derives manifests/schema.json (JSON Schema draft-07, which the YAML
// language server supports best) from the key table. Strings constrained by
// a pattern or an enum also accept any string containing `${`, because the
// validator checks them only after variable substitution. `check` hooks
// (cycles, conflicts, sensitive mounts) have no schema counterpart.

import type { FieldType, Field, JsonValue } from './field-types.ts';
import { CONTAINER_DOCUMENT } from './keys.ts';
import { withTag } from './walk.ts';

type Json = { [k: string]: JsonValue };

/** Matches a string that holds a variable reference. */
export const HAS_VARIABLE = '\\$\\{';

function typeSchema(t: FieldType): Json {
  switch (t.kind) {
    case 'string': {
      const s: Json = { type: 'string' };
      if (t.enum) s['enum'] = [...t.enum];
      if (t.pattern) s['pattern'] = t.pattern.source;
      if (t.minLength !== undefined) s['minLength'] = t.minLength;
      if (t.maxLength !== undefined) s['maxLength'] = t.maxLength;
      return t.enum || t.pattern ? { anyOf: [s, { type: 'string', pattern: HAS_VARIABLE }] } : s;
    }
    case 'boolean':
      return { type: 'boolean' };
    case 'integer':
    case 'number': {
      const s: Json = { type: t.kind };
      if (t.minimum !== undefined) s['minimum'] = t.minimum;
      if (t.maximum !== undefined) s['maximum'] = t.maximum;
      return s;
    }
    case 'anyOf':
      return { anyOf: t.options.map(typeSchema) };
    case 'array': {
      const s: Json = { type: 'array', items: typeSchema(t.items) };
      if (t.minItems !== undefined) s['minItems'] = t.minItems;
      if (t.maxItems !== undefined) s['maxItems'] = t.maxItems;
      if (t.uniqueItems) s['uniqueItems'] = true;
      return s;
    }
    case 'map': {
      const s: Json = { type: 'object', propertyNames: { pattern: t.keyPattern.source }, additionalProperties: typeSchema(t.values) };
      if (t.maxProperties !== undefined) s['maxProperties'] = t.maxProperties;
      return s;
    }
    case 'object': {
      const s: Json = {
        type: 'object',
        additionalProperties: false,
        properties: Object.fromEntries(Object.entries(t.fields).map(([k, f]) => [k, fieldSchema(f)])),
      };
      if (t.required?.length) s['required'] = [...t.required];
      return s;
    }
    case 'tagged':
      return { type: 'object', required: [t.tag], oneOf: Object.values(t.variants).map((v) => typeSchema(withTag(v, t))) };
  }
}

function fieldSchema(f: Field): Json {
  const s: Json = { description: f.description, ...typeSchema(f.type) };
  if (f.default !== undefined) s['default'] = f.default;
  return s;
}

export function manifestSchema(): Json {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'keel system container manifest',
    description: 'One YAML document per system container; several documents per file are allowed. See /usr/share/doc/keel/manifest.md (docs/manifest.md in a keel checkout).',
    ...typeSchema(CONTAINER_DOCUMENT),
  };
}

/** The exact bytes of manifests/schema.json. */
export function renderSchemaJson(): string {
  return `${JSON.stringify(manifestSchema(), null, 2)}\n`;
}
