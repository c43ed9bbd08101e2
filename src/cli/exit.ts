// The one place where error codes become exit statuses (sysexits), and where
// errors are printed for people.

import { CODES, Exit, KeelError, classifyErrno, errnoCode, fsError, type ExitStatus } from '../errors.ts';

export function exitStatusFor(err: unknown): ExitStatus {
  if (err instanceof KeelError) return CODES[err.code].exit;
  return Exit.SOFTWARE;
}

/** Turns an unexpected non-KeelError into one, so every failure prints a code. */
export function asKeelError(err: unknown): KeelError {
  if (err instanceof KeelError) return err;
  // an errno with a code of its own (disk full, read-only, permission, EIO):
  // the one mapping in src/errors.ts; any other stray errno is a bug (E_INTERNAL)
  if (classifyErrno(errnoCode(err)) !== undefined) return fsError('a system call failed', err);
  if (err instanceof Error && err.name === 'AbortError') {
    return new KeelError('E_INTERRUPTED', 'interrupted', { cause: err });
  }
  return new KeelError('E_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}

export function formatError(err: KeelError, debug: boolean): string {
  const lines = [`keel: error: ${err.message} [${err.code}]`];
  if (err.hint) lines.push(`keel: hint: ${err.hint}`);
  if (debug && err.stack) lines.push(err.stack);
  if (debug && err.cause instanceof Error && err.cause.stack) lines.push(`caused by: ${err.cause.stack}`);
  return `${lines.join('\n')}\n`;
}
