// A manifest's envFiles: host files of KEY=value lines, read at render time
// and merged in order (a later file wins). The syntax is a strict subset of
// systemd's EnvironmentFile= (docs/manifest.md says exactly which): where
// systemd would strip quotes or join continuation lines, this refuses the
// line instead of guessing, so a file means the same to keel and systemd.
//
// Invariant: a value never appears in an error message or error detail; a
// problem is reported by file and line number only (issue 11: values may be
// secrets).

import { promises as fs } from 'node:fs';
import { KeelError, errnoCode } from '../errors.ts';
import { digestOf, type Digest } from '../oci/digest.ts';

/** Cap per file: env files are small; a bigger one is probably the wrong file. */
export const MAX_ENV_FILE_BYTES = 1024 * 1024;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function lineError(file: string, line: number, what: string, hint: string): KeelError {
  return new KeelError('E_ENV_FILE', `env file ${file} line ${line}: ${what}`, { detail: { file, line }, hint });
}

/**
 * Parses one env file's text. Lines end with \n (a \r before it is dropped);
 * blank lines and lines whose first non-blank character is # or ; are
 * ignored; every other line is NAME=VALUE, NAME after optional leading
 * blanks, VALUE everything after the first = up to the end of the line,
 * taken literally (no quotes, escapes or ${} expansion). A value that starts
 * with a quote or a line that ends with a backslash is refused.
 */
export function parseEnvFile(text: string, file: string): Map<string, string> {
  const env = new Map<string, string>();
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const body = line.replace(/^[ \t]+/, '');
    if (body === '' || body.startsWith('#') || body.startsWith(';')) return;
    if (line.includes('\0')) throw lineError(file, n, 'contains a NUL byte', 'env files are text');
    const eq = body.indexOf('=');
    if (eq < 0) throw lineError(file, n, 'is not NAME=VALUE (no "=")', 'write NAME=VALUE, or start the line with # to make it a comment');
    const name = body.slice(0, eq);
    if (!ENV_NAME.test(name)) {
      throw lineError(file, n, 'the name before "=" is not a variable name', 'names are letters, digits and _, not starting with a digit, with no blanks around "=" and no "export"');
    }
    const value = body.slice(eq + 1);
    if (value.startsWith('"') || value.startsWith("'")) {
      throw lineError(file, n, `the value of ${name} starts with a quote`, 'values are taken literally: write the value without quotes');
    }
    if (value.endsWith('\\')) {
      throw lineError(file, n, `the value of ${name} ends with a backslash`, 'continuation lines are not supported: put the value on one line');
    }
    env.set(name, value);
  });
  return env;
}

/** Reads and merges `files` in order (later files win). Throws E_ENV_FILE naming the file. */
export async function readEnvFiles(files: readonly string[]): Promise<Record<string, string>> {
  const merged = new Map<string, string>();
  for (const file of files) {
    let bytes: Buffer;
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      if (st.size > MAX_ENV_FILE_BYTES) {
        throw new KeelError('E_ENV_FILE', `env file ${file} is larger than ${MAX_ENV_FILE_BYTES} bytes`, { detail: { file }, hint: 'envFiles are small KEY=value files; check the path' });
      }
      bytes = await fs.readFile(file);
    } catch (err) {
      if (err instanceof KeelError) throw err;
      const errno = errnoCode(err);
      const why = errno === 'ENOENT' ? 'does not exist' : errno === 'EISDIR' ? 'is not a regular file' : errno === 'EACCES' || errno === 'EPERM' ? 'cannot be read (permission denied)' : `cannot be read (${errno ?? 'error'})`;
      throw new KeelError('E_ENV_FILE', `env file ${file} ${why}`, { detail: { file, errno }, hint: 'create it, or remove it from envFiles in the manifest' });
    }
    if (bytes.length > MAX_ENV_FILE_BYTES) {
      throw new KeelError('E_ENV_FILE', `env file ${file} is larger than ${MAX_ENV_FILE_BYTES} bytes`, { detail: { file }, hint: 'envFiles are small KEY=value files; check the path' });
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new KeelError('E_ENV_FILE', `env file ${file} is not UTF-8 text`, { detail: { file }, hint: 'env files are UTF-8 text of KEY=value lines' });
    }
    for (const [k, v] of parseEnvFile(text, file)) merged.set(k, v);
  }
  return Object.fromEntries(merged);
}

/**
 * What the inputs digest records of the env files: a digest of the merged
 * variables (so a changed value restarts the container on apply), never the
 * values themselves.
 */
export function envFilesFact(env: Readonly<Record<string, string>>): Digest {
  const sorted = Object.keys(env).sort().map((k) => [k, env[k]]);
  return digestOf(JSON.stringify(sorted));
}
