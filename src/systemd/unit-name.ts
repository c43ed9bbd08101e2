// Unit names as systemd 252 accepts them (src/basic/unit-name.c): at most 255
// bytes, characters [A-Za-z0-9:_.\-@\\], a known type suffix, a non-empty
// prefix, and at most one '@' (templates "a@.service" only where allowed).
// Invariant: a string that passes parseUnitName is safe to put on the bus,
// in a path under /run/systemd and in a runc cgroupsPath.

import { KeelError } from '../errors.ts';

export const UNIT_TYPES = [
  'service', 'socket', 'target', 'device', 'mount', 'automount', 'swap', 'timer', 'path', 'slice', 'scope',
] as const;
export type UnitType = (typeof UNIT_TYPES)[number];

/** UNIT_NAME_MAX in systemd: 256 including the NUL. */
export const UNIT_NAME_MAX = 255;

const VALID_CHARS = /^[A-Za-z0-9:_.\\@-]+$/;

export interface UnitNameRules {
  /** Accept only these types (default: any). */
  readonly types?: readonly UnitType[] | undefined;
  /** Accept "foo@.service" (default false: transient units cannot be templates). */
  readonly allowTemplate?: boolean | undefined;
}

function invalid(name: string, why: string, what: string): KeelError {
  return new KeelError('E_UNIT_PROPERTY_INVALID', `${what} ${JSON.stringify(name.slice(0, 300))} is not a valid systemd unit name: ${why}`, {
    detail: { name },
    hint: 'unit names look like NAME.service; use letters, digits and : _ . - only',
  });
}

/** Validates a unit name and returns its type; throws E_UNIT_PROPERTY_INVALID. */
export function parseUnitName(name: unknown, rules: UnitNameRules = {}, what = 'unit name'): UnitType {
  if (typeof name !== 'string') {
    throw new KeelError('E_UNIT_PROPERTY_INVALID', `${what} must be a string, got ${typeof name}`);
  }
  if (name.length === 0) throw invalid(name, 'it is empty', what);
  if (name.length > UNIT_NAME_MAX) throw invalid(name, `it is longer than ${UNIT_NAME_MAX} characters`, what);
  if (!VALID_CHARS.test(name)) throw invalid(name, 'it contains characters other than A-Z a-z 0-9 : _ . - @ \\', what);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) throw invalid(name, 'it has no type suffix such as .service', what);
  const type = name.slice(dot + 1);
  if (!(UNIT_TYPES as readonly string[]).includes(type)) throw invalid(name, `".${type}" is not a unit type`, what);
  const prefix = name.slice(0, dot);
  const at = prefix.indexOf('@');
  if (at === 0) throw invalid(name, 'it starts with @', what);
  if (at >= 0) {
    if (prefix.indexOf('@', at + 1) >= 0) throw invalid(name, 'it has more than one @', what);
    const instance = prefix.slice(at + 1);
    if (instance === '' && rules.allowTemplate !== true) throw invalid(name, 'it is a template (nothing after @)', what);
  }
  if (rules.types !== undefined && !rules.types.includes(type as UnitType)) {
    throw invalid(name, `a .${rules.types.join(' or .')} unit is needed here`, what);
  }
  return type as UnitType;
}

/**
 * Escapes a string for use as one component of a unit name, as
 * `systemd-escape` does: "/" becomes "-", and "-" and anything outside
 * [A-Za-z0-9:_.] becomes \xNN (a leading "." too).
 */
export function escapeUnitComponent(value: string): string {
  let out = '';
  const bytes = Buffer.from(value, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const c = String.fromCharCode(b);
    if (c === '/') out += '-';
    else if (/[A-Za-z0-9:_]/.test(c) || (c === '.' && i > 0)) out += c;
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/**
 * The D-Bus object path of a unit, as systemd names it
 * (/org/freedesktop/systemd1/unit/ + the name with every byte outside
 * [A-Za-z0-9], and a leading digit, written _xx). Asking that path loads the unit, as LoadUnit does,
 * so reading a unit's properties costs one call instead of two.
 */
export function unitObjectPath(name: string): string {
  let out = '';
  const bytes = Buffer.from(name, 'utf8');
  bytes.forEach((b, i) => {
    const alpha = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
    const digit = b >= 0x30 && b <= 0x39 && i > 0; // a leading digit is escaped too
    out += alpha || digit ? String.fromCharCode(b) : `_${b.toString(16).padStart(2, '0')}`;
  });
  return `/org/freedesktop/systemd1/unit/${out === '' ? '_' : out}`;
}
