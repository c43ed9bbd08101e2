// keel validate FILE...

import { CODES } from '../../errors.ts';
import { formatProblem, loadManifests } from '../../manifest/index.ts';
import type { Command } from '../command.ts';
import { parseSetOptions } from './set-option.ts';

export const validate: Command = {
  name: 'validate',
  usage: 'keel validate [--set VAR=VALUE]... FILE|DIR...',
  description: `Checks every document of every FILE (a directory means its *.yaml and *.yml files)
and prints every problem at once, one per line, as FILE:LINE:COLUMN: KEY: what is wrong
(what to do). Exits 0 only when all are valid; otherwise ${CODES.E_SPEC_INVALID.exit} (E_SPEC_INVALID).

Examples:
  keel validate /etc/keel/manifests.d
  keel validate --set ETCD_IMAGE=127.0.0.1:5000/etcd:3.4 etcd.yaml`,
  options: {
    set: { type: 'string', value: 'VAR=VALUE', multiple: true, help: 'override a manifest variable (repeatable)' },
    quiet: { type: 'boolean', short: 'q', help: 'print nothing when valid' },
  },
  minArgs: 1,
  maxArgs: Infinity,
  async run({ values, positionals }) {
    const { specs, problems } = await loadManifests(positionals, { set: parseSetOptions(values.set) });
    for (const p of problems) process.stdout.write(`${formatProblem(p)}\n`);
    if (problems.length > 0) {
      process.stderr.write(`keel: ${problems.length} problem${problems.length === 1 ? '' : 's'} [E_SPEC_INVALID]\n`);
      return CODES.E_SPEC_INVALID.exit;
    }
    if (!values.quiet) process.stdout.write(`valid: ${specs.length} system container${specs.length === 1 ? '' : 's'} (${specs.map((s) => s.name).join(', ')})\n`);
    return 0;
  },
};
