// ManifestProblem: one thing wrong in a manifest, with where and what to do.
// line/column are 1-based; line 0 means the problem is about the whole file
// (unreadable, too large) and formatProblem then prints no position.

import { KeelError } from '../errors.ts';

export interface ManifestProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Key path, e.g. mounts[1].source; '' for the document or the file. */
  readonly path: string;
  readonly message: string;
  readonly hint?: string | undefined;
}

/** "file:line:col: path: message (hint)" — the format editors and compilers use. */
export function formatProblem(p: ManifestProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  const path = p.path === '' ? '' : `${p.path}: `;
  const hint = p.hint === undefined || p.hint === '' ? '' : ` (${p.hint})`;
  return `${where}: ${path}${p.message}${hint}`;
}


/**
 * One KeelError (E_SPEC_INVALID) for a non-empty list of problems, for
 * callers that must stop (apply, boot). The message lists the first few;
 * detail.problems holds them all for --json output.
 */
export function problemsError(problems: readonly ManifestProblem[]): KeelError {
  const shown = problems.slice(0, 10).map(formatProblem);
  const more = problems.length > shown.length ? `\n… and ${problems.length - shown.length} more` : '';
  return new KeelError('E_SPEC_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in the manifests:\n${shown.join('\n')}${more}`, {
    detail: { problems: problems.map((p) => ({ ...p })) },
    hint: 'run keel validate on the manifests to see every problem',
  });
}
