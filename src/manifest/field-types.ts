// The small type language the manifest key table is written in. One table
// (keys.ts) in this language drives both the validator (walk.ts) and the
// JSON Schema shipped for editors (schema.ts), so the two cannot drift.
// Invariant: every construct here has an exact draft-07 counterpart; checks
// that JSON Schema cannot express live in `check` hooks, which the schema
// generator ignores (they are semantic, run after substitution).

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [k: string]: JsonValue };

/** A problem found by a `check` hook, relative to the value it was given. */
export interface Finding {
  /** Path below the checked value, e.g. ['add', 2] or ['source']. */
  readonly at?: readonly (string | number)[] | undefined;
  readonly message: string;
  readonly hint?: string | undefined;
}

export type Check = (value: unknown) => readonly Finding[];

export interface StringType {
  readonly kind: 'string';
  readonly pattern?: RegExp;
  /** What the pattern means, in words, for error messages. */
  readonly patternHelp?: string;
  readonly enum?: readonly string[];
  readonly minLength?: number;
  readonly maxLength?: number;
}
export interface BooleanType {
  readonly kind: 'boolean';
}
export interface IntegerType {
  readonly kind: 'integer';
  readonly minimum?: number;
  readonly maximum?: number;
}
export interface NumberType {
  readonly kind: 'number';
  readonly minimum?: number;
  readonly maximum?: number;
}
/** One of several types of different kinds (e.g. an integer or a string). */
export interface AnyOfType {
  readonly kind: 'anyOf';
  readonly options: readonly FieldType[];
}
export interface ArrayType {
  readonly kind: 'array';
  readonly items: FieldType;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems?: boolean;
}
/** A mapping with free keys (env, variables). */
export interface MapType {
  readonly kind: 'map';
  readonly keyPattern: RegExp;
  readonly keyHelp: string;
  readonly values: FieldType;
  readonly maxProperties?: number;
}
/** A mapping with a fixed set of keys; unknown keys are errors. */
export interface ObjectType {
  readonly kind: 'object';
  readonly fields: Readonly<Record<string, Field>>;
  readonly required?: readonly string[];
}
/** A mapping whose `tag` key (e.g. `type`) selects one of several object types. */
export interface TaggedType {
  readonly kind: 'tagged';
  readonly tag: string;
  readonly tagDescription: string;
  readonly variants: Readonly<Record<string, ObjectType>>;
}

export type FieldType = StringType | BooleanType | IntegerType | NumberType | AnyOfType | ArrayType | MapType | ObjectType | TaggedType;

export interface Field {
  readonly type: FieldType;
  readonly description: string;
  /** The default, when it is a constant; shown by editors. */
  readonly default?: JsonValue;
  /** Semantic check run on the value after substitution, when it is otherwise valid. */
  readonly check?: Check;
  /** Strings below this key are taken literally: no ${VAR} substitution (the variables map itself). */
  readonly literal?: boolean;
}
