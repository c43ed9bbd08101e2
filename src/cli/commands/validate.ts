// keel validate FILE...

import { CODES } from '../../errors.ts';
import { formatProblem, loadManifests } from '../../manifest/index.ts';
import type { Command } from '../command.ts';
import { parseSetOptions } from './set-option.ts';

/** The shape of `keel validate --json` (docs/operations.md); bumped on an incompatible change. */
export const VALIDATE_JSON_VERSION = 1;

export const validate: Command = {
  name: 'validate',
  usage: 'keel validate [--set VAR=VALUE]... FILE|DIR...',
  description: `Checks every document of every FILE (a directory means its *.yaml and *.yml files)
and prints every problem at once, one per line, as FILE:LINE:COLUMN: KEY: what is wrong
(what to do). Exits 0 only when all are valid; otherwise ${CODES.E_SPEC_INVALID.exit} (E_SPEC_INVALID).

--json prints {"version": 1, "valid": BOOL, "containers": [{"name", "file"}...],
"problems": [{"file", "line", "column", "key", "message", "hint"}...]} instead
(line and column 0 for a problem about a whole file).

Examples:
  keel validate /etc/keel/manifests.d
  keel validate --set ETCD_IMAGE=127.0.0.1:5000/etcd:3.4 etcd.yaml`,
  options: {
    set: { type: 'string', value: 'VAR=VALUE', multiple: true, help: 'override a manifest variable (repeatable)' },
    quiet: { type: 'boolean', short: 'q', help: 'print nothing when valid' },
    json: { type: 'boolean', help: 'print the containers and the problems as JSON' },
  },
  minArgs: 1,
  maxArgs: Infinity,
  async run({ values, positionals }) {
    const { specs, problems } = await loadManifests(positionals, { set: parseSetOptions(values.set) });
    if (values.json === true) {
      process.stdout.write(`${JSON.stringify({
        version: VALIDATE_JSON_VERSION,
        valid: problems.length === 0,
        containers: specs.map((s) => ({ name: s.name, file: s.source.file })),
        problems: problems.map((p) => ({ file: p.file, line: p.line, column: p.column, key: p.path, message: p.message, ...(p.hint !== undefined ? { hint: p.hint } : {}) })),
      }, null, 2)}\n`);
      return problems.length > 0 ? CODES.E_SPEC_INVALID.exit : 0;
    }
    for (const p of problems) process.stdout.write(`${formatProblem(p)}\n`);
    if (problems.length > 0) {
      process.stderr.write(`keel: ${problems.length} problem${problems.length === 1 ? '' : 's'} [E_SPEC_INVALID]\n`);
      return CODES.E_SPEC_INVALID.exit;
    }
    if (!values.quiet) process.stdout.write(`valid: ${specs.length} system container${specs.length === 1 ? '' : 's'} (${specs.map((s) => s.name).join(', ')})\n`);
    return 0;
  },
};
