// Reads keel's configuration file (default /etc/keel/keel.yaml). An absent
// file means the defaults; any other read failure, and every problem of its
// content (each with file:line:column), is E_CONFIG_INVALID.

import { readFile } from 'node:fs/promises';
import { errnoCode, KeelError } from '../errors.ts';
import { validateYamlDocument } from '../manifest/yaml-document.ts';
import { CONFIG_DOCUMENT, DEFAULT_CONFIG, configFromChecked, configProblemsError, type KeelConfig } from './keel-config.ts';

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
  const r = validateYamlDocument(text, path, CONFIG_DOCUMENT, MAX_CONFIG_BYTES);
  if (r.problems.length > 0 || r.value === undefined) throw configProblemsError(r.problems);
  return configFromChecked(r.value);
}
