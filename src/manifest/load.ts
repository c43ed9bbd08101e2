// Reads manifest files and directories (a directory means its *.yaml and
// *.yml files, sorted, not recursive, hidden files skipped) and validates
// them together, so names are unique and references resolve across files.
// Files over MAX_FILE_BYTES, non-regular files and non-UTF-8 text are
// problems, not exceptions; the same file named twice is read once.

import { open, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MAX_FILE_BYTES } from './constants.ts';
import { crossCheck } from './cross-check.ts';
import { parseDocuments, type LoadOptions, type ParsedDocument } from './parse-text.ts';
import type { ManifestProblem } from './problem.ts';
import type { ContainerSpec } from './spec.ts';

const whole = (file: string, message: string, hint?: string): ManifestProblem => ({ file, line: 0, column: 0, path: '', message, hint });

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The files to read, in order; `order` also holds the arguments that failed, where they were given. */
async function expand(args: readonly string[], problems: ManifestProblem[], order: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const arg of args) {
    let st;
    try {
      st = await stat(arg);
    } catch (err) {
      problems.push(whole(arg, `cannot read: ${reason(err)}`));
      order.push(arg);
      continue;
    }
    if (st.isDirectory()) {
      try {
        const names = (await readdir(arg)).filter((n) => !n.startsWith('.') && /\.ya?ml$/.test(n)).sort();
        files.push(...names.map((n) => join(arg, n)));
        order.push(...names.map((n) => join(arg, n)));
      } catch (err) {
        problems.push(whole(arg, `cannot list directory: ${reason(err)}`));
        order.push(arg);
      }
    } else {
      files.push(arg);
      order.push(arg);
    }
  }
  const seen = new Set<string>();
  return files.filter((f) => !seen.has(resolve(f)) && seen.add(resolve(f)));
}

async function readText(file: string): Promise<string | ManifestProblem> {
  let handle;
  try {
    handle = await open(file, 'r');
    const st = await handle.stat();
    if (!st.isFile()) return whole(file, 'not a regular file');
    if (st.size > MAX_FILE_BYTES) return whole(file, `file is larger than ${MAX_FILE_BYTES} bytes`, 'split it into several files');
    // Read at most one byte more than allowed: the file may grow after stat.
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      if (bytesRead === 0 || (n += bytesRead) >= buf.length) break;
    }
    if (n > MAX_FILE_BYTES) return whole(file, `file is larger than ${MAX_FILE_BYTES} bytes`, 'split it into several files');
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, n));
    } catch {
      return whole(file, 'not valid UTF-8 text');
    }
  } catch (err) {
    return whole(file, `cannot read: ${reason(err)}`);
  } finally {
    await handle?.close();
  }
}

/**
 * Validates manifests. Never throws for bad manifests or unreadable files:
 * specs holds every document without a problem, problems every problem
 * found, in file order. Throws KeelError(E_USAGE) only for a malformed
 * `set` name.
 */
export async function loadManifests(files: readonly string[], options: LoadOptions = {}): Promise<{ specs: ContainerSpec[]; problems: ManifestProblem[] }> {
  const problems: ManifestProblem[] = [];
  const docs: ParsedDocument[] = [];
  const order: string[] = [];
  for (const file of await expand(files, problems, order)) {
    const text = await readText(file);
    if (typeof text !== 'string') {
      problems.push(text);
      continue;
    }
    const r = parseDocuments(text, file, options);
    docs.push(...r.docs);
    problems.push(...r.problems);
  }
  const cross = crossCheck(docs);
  return { specs: cross.specs, problems: sortProblems([...problems, ...cross.problems], order) };
}

/** File order as given, then position; stable, so a file's whole-file problem comes first. */
function sortProblems(problems: ManifestProblem[], files: readonly string[] = []): ManifestProblem[] {
  const order = new Map<string, number>();
  for (const f of files) if (!order.has(f)) order.set(f, order.size);
  for (const p of problems) if (!order.has(p.file)) order.set(p.file, order.size);
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (order.get(a.p.file) ?? 0) - (order.get(b.p.file) ?? 0) || a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
    .map(({ p }) => p);
}

/** Validates one file's text (all its documents); the same contract as loadManifests. */
export function parseManifestText(text: string, file: string, options: LoadOptions = {}): { specs: ContainerSpec[]; problems: ManifestProblem[] } {
  const r = parseDocuments(text, file, options);
  const cross = crossCheck(r.docs);
  return { specs: cross.specs, problems: sortProblems([...r.problems, ...cross.problems]) };
}
