// Reads keel's configuration file (default /etc/keel/keel.yaml). An absent
// file means the defaults; any other read or parse failure is E_CONFIG_INVALID
// with the file and, for YAML errors, line:column.

import { readFile } from 'node:fs/promises';
import { parse, YAMLParseError } from 'yaml';
import { errnoCode, KeelError } from '../errors.ts';
import { DEFAULT_CONFIG, validateConfig, type KeelConfig } from './keel-config.ts';

export const DEFAULT_CONFIG_PATH = '/etc/keel/keel.yaml';

/** The largest configuration file keel reads. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export async function loadConfig(path: string): Promise<KeelConfig> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.byteLength > MAX_CONFIG_BYTES) {
      throw new KeelError('E_CONFIG_INVALID', `${path}: larger than ${MAX_CONFIG_BYTES} bytes`, { detail: { file: path } });
    }
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof KeelError) throw err;
    if (errnoCode(err) === 'ENOENT') return DEFAULT_CONFIG;
    throw new KeelError('E_CONFIG_INVALID', `reading ${path}: ${(err as Error).message}`, {
      cause: err,
      detail: { file: path },
      hint: 'check the file permissions, or pass --config with another file',
    });
  }
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: true, uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    const pos = err instanceof YAMLParseError && err.linePos ? `:${err.linePos[0].line}:${err.linePos[0].col}` : '';
    const firstLine = (err as Error).message.split('\n')[0] ?? '';
    throw new KeelError('E_CONFIG_INVALID', `${path}${pos}: not valid YAML: ${firstLine}`, {
      cause: err,
      detail: { file: path },
    });
  }
  return validateConfig(doc, path);
}
