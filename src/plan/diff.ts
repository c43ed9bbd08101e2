// What changed between two deployments of a container, by name: the top-level
// spec keys (command, env, mounts, ...) whose canonical JSON differs, the
// image digest, and the unit properties. Pure; values never appear in the
// result (an env value may be a secret), only the names of what changed.

import type { Digest } from '../oci/digest.ts';

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Spec keys that do not reach the bundle (derived or positional): not reported as changes. */
const IGNORED = new Set(['source', 'given', 'reference', 'unit']);

/** The spec keys whose values differ (sorted); every key when `before` is unknown. */
export function specChanges(before: Readonly<Record<string, unknown>> | undefined, after: Readonly<Record<string, unknown>>): string[] {
  if (before === undefined) return [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => !IGNORED.has(k) && canonical(before[k]) !== canonical(after[k])).sort();
}

/** The unit properties whose values differ (sorted), as `unit:NAME`. */
export function unitChanges(before: Readonly<Record<string, string>> | undefined, after: Readonly<Record<string, string>>): string[] {
  if (before === undefined) return [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => before[k] !== after[k]).sort().map((k) => `unit:${k}`);
}

export function shortDigest(d: Digest | string | undefined): string {
  if (d === undefined) return '?';
  const hex = d.slice(d.indexOf(':') + 1);
  return hex.slice(0, 12);
}

/** "image sha256:aaaa -> sha256:bbbb" style reason. */
export function imageChange(from: Digest | undefined, to: Digest | undefined): string {
  return `image ${shortDigest(from)} -> ${shortDigest(to)}`;
}
