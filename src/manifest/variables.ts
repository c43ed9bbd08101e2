// ${VAR} substitution in manifest strings. `$${` is a literal `${`; a `$` not
// followed by `{` is literal. An undefined or malformed reference is an
// error, never an empty string. Precedence: --set, then the document's
// `variables:`, then builtins (HOSTNAME, MACHINE_ID), which are read lazily
// and only when used, so tests can inject them and hosts without
// /etc/machine-id still validate manifests that do not use it.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { VARIABLE_NAME } from './constants.ts';
import { didYouMean } from './suggest.ts';

export const BUILTIN_NAMES: readonly string[] = ['HOSTNAME', 'MACHINE_ID'];

export interface VariableError {
  /** Index in the string of the offending `${`. */
  readonly index: number;
  readonly reference: string;
  readonly message: string;
  readonly hint?: string | undefined;
}

export type Lookup = (name: string) => { value: string } | { error: string; hint?: string | undefined };

/** The builtins, from the injected values or the host; undefined (injected or unreadable) means unavailable. */
export function builtinLookup(injected: Partial<Record<string, string>> | undefined): (name: string) => { value: string } | { error: string } | undefined {
  const cache = new Map<string, { value: string } | { error: string }>();
  const read = (name: string): { value: string } | { error: string } => {
    if (injected !== undefined && Object.hasOwn(injected, name)) {
      const v = injected[name];
      return v === undefined ? { error: `builtin ${name} is not available` } : { value: v };
    }
    if (name === 'HOSTNAME') return { value: hostname() };
    try {
      const id = readFileSync('/etc/machine-id', 'utf8').trim();
      if (/^[0-9a-f]{32}$/.test(id)) return { value: id };
      return { error: 'builtin MACHINE_ID: /etc/machine-id does not hold a machine id' };
    } catch (err) {
      return { error: `builtin MACHINE_ID: cannot read /etc/machine-id: ${err instanceof Error ? err.message : String(err)}` };
    }
  };
  return (name) => {
    if (!BUILTIN_NAMES.includes(name)) return undefined;
    let r = cache.get(name);
    if (r === undefined) cache.set(name, (r = read(name)));
    return r;
  };
}

/** Substitutes every reference in `text`; returns the result, or every error found. */
export function substitute(text: string, lookup: Lookup, known: () => Iterable<string>): { value: string } | { errors: VariableError[] } {
  if (!text.includes('$')) return { value: text };
  let out = '';
  const errors: VariableError[] = [];
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
    } else if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2);
      if (end < 0) {
        errors.push({ index: i, reference: text.slice(i, i + 20), message: 'unterminated ${ (no closing })', hint: 'write ${NAME}, or $${ for a literal ${' });
        break;
      }
      const name = text.slice(i + 2, end);
      const reference = text.slice(i, end + 1);
      if (!VARIABLE_NAME.test(name)) {
        errors.push({ index: i, reference, message: `invalid variable reference ${reference}`, hint: 'names are letters, digits and _, not starting with a digit; $${ is a literal ${' });
      } else {
        const r = lookup(name);
        if ('value' in r) out += r.value;
        else {
          const hint = [didYouMean(name, known()), r.hint].filter((h) => h !== undefined).join('; ');
          errors.push({ index: i, reference, message: r.error, hint: hint || undefined });
        }
      }
      i = end + 1;
    } else {
      out += text[i];
      i++;
    }
  }
  return errors.length ? { errors } : { value: out };
}
