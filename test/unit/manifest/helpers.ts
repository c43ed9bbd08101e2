// Shared test helpers: validate a manifest text with fixed builtins and get
// its problems as "line:col path: message" strings.

import { formatProblem, parseManifestText, type LoadOptions } from '../../../src/manifest/index.ts';

export const BUILTINS = { HOSTNAME: 'node1', MACHINE_ID: '0123456789abcdef0123456789abcdef' };

export function check(text: string, options: LoadOptions = {}): ReturnType<typeof parseManifestText> {
  return parseManifestText(text, 'm.yaml', { builtins: BUILTINS, ...options });
}

/** Problems as `line:col path: message` (no file, no hint). */
export function problems(text: string, options: LoadOptions = {}): string[] {
  return check(text, options).problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);
}

export function formatted(text: string, options: LoadOptions = {}): string[] {
  return check(text, options).problems.map(formatProblem);
}

/** A minimal valid document followed by `extra` lines. */
export function doc(extra = ''): string {
  return `name: web\nimage: docker.io/library/nginx:1.27\n${extra}`;
}
