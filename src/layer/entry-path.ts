// Entry paths as if the root were `/`: a tar name is split into components,
// `.` and empty components dropped, `..` applied lexically. A `..` that would
// climb above the root is refused (E_LAYER_PATH), never clamped; NUL is
// refused (E_LAYER_MALFORMED); depth and lengths are checked (E_LAYER_LIMIT).
// Whiteout names are classified here too (OCI image spec, "Whiteouts").

import { KeelError } from '../errors.ts';
import type { LayerLimits } from './limits.ts';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

function limitError(what: string, value: number, max: number, name: string): KeelError {
  return new KeelError('E_LAYER_LIMIT', `layer entry ${JSON.stringify(name.slice(0, 200))} has ${what} ${value}, over the limit of ${max}`, {
    detail: { what, value, max },
    hint: 'the layer is hostile or unusual; raise the limit only for an image you trust',
  });
}

/** Splits and normalises a tar name; [] is the root itself. */
export function normaliseEntryPath(raw: string, limits: LayerLimits, what = 'entry name'): string[] {
  if (raw.includes('\0')) {
    throw new KeelError('E_LAYER_MALFORMED', `layer ${what} contains a NUL byte`, { hint: 'the image is corrupt or hostile' });
  }
  const rawBytes = Buffer.byteLength(raw);
  if (rawBytes > limits.maxPathLength) throw limitError('a path length of', rawBytes, limits.maxPathLength, raw);
  const out: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) {
        throw new KeelError('E_LAYER_PATH', `layer ${what} ${JSON.stringify(raw.slice(0, 200))} climbs above the root`, {
          detail: { name: raw.slice(0, 4096) },
          hint: 'the image is hostile: it tries to write outside its root filesystem',
        });
      }
      out.pop();
      continue;
    }
    const bytes = Buffer.byteLength(part);
    if (bytes > limits.maxNameLength) throw limitError('a component of length', bytes, limits.maxNameLength, raw);
    out.push(part);
  }
  if (out.length > limits.maxDepth) throw limitError('a depth of', out.length, limits.maxDepth, raw);
  return out;
}

export type WhiteoutKind = { readonly kind: 'none' } | { readonly kind: 'opaque' } | { readonly kind: 'whiteout'; readonly target: string };

/** Classifies a base name; invalid whiteout names are refused with E_LAYER_WHITEOUT. */
export function classifyWhiteout(base: string): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..' || target.includes('/') || target.startsWith(WHITEOUT_PREFIX)) {
    throw new KeelError('E_LAYER_WHITEOUT', `invalid whiteout name ${JSON.stringify(base.slice(0, 200))}`, {
      hint: 'whiteouts are .wh.NAME or .wh..wh..opq (OCI image spec)',
    });
  }
  return { kind: 'whiteout', target };
}
