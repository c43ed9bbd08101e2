// The host's OCI platform and matching index entries against a wanted one.

import { KeelError } from '../errors.ts';
import type { Platform } from './types.ts';

const NODE_TO_OCI_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
};

export function hostPlatform(): Platform {
  const architecture = NODE_TO_OCI_ARCH[process.arch] ?? process.arch;
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  return { os: 'linux', architecture };
}

/** Parses `os/arch[/variant]` as given to --platform. */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  const [os, architecture, variant] = parts;
  const word = /^[a-z0-9_.-]+$/;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || !word.test(os) || !word.test(architecture) || (variant !== undefined && !word.test(variant))) {
    throw new KeelError('E_USAGE', `invalid platform ${JSON.stringify(value)}`, { hint: 'use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8' });
  }
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * Whether an index entry's platform satisfies the wanted one. A missing variant
 * on either side matches (arm64 images often omit v8).
 */
export function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate) return false;
  if (candidate.os !== wanted.os || candidate.architecture !== wanted.architecture) return false;
  return !candidate.variant || !wanted.variant || candidate.variant === wanted.variant;
}
