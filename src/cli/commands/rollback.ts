// keel rollback NAME... [--dry-run] [--json]

import { rollbackContainers } from '../../ops/update.ts';
import type { Command } from '../command.ts';
import { storeViewForReading } from '../context.ts';
import { printOutcomes, printPlan } from '../report.ts';

export const rollback: Command = {
  name: 'rollback',
  usage: 'keel rollback [--dry-run] [--json] NAME...',
  description: `Switches each named container back to its previous deployment (the other slot:
what ran before the last update or change), restarts it, then restarts the
containers that depend on it (requires/wants/after in their manifests). Running it
again switches forward again. keel status shows both deployments.

Exit status: 0 when every container is running its previous deployment;
E_ROLLBACK_UNAVAILABLE (66) when a container has no previous deployment;
E_CONTAINER_NOT_FOUND (66) for a name keel has no container of.`,
  options: {
    'dry-run': { type: 'boolean', help: 'print the plan, change nothing' },
    json: { type: 'boolean', help: 'print the plan or the outcomes as JSON' },
  },
  minArgs: 1,
  maxArgs: Infinity,
  async run({ global, values, positionals, signal }) {
    const dryRun = values['dry-run'] === true;
    const json = values.json === true;
    const store = await storeViewForReading(global);
    const result = await rollbackContainers(store, {
      files: [global.manifests], names: positionals, dryRun, signal, log: (line) => process.stderr.write(`${line}\n`),
    });
    if (dryRun) {
      printPlan(result.plan, json);
      return 0;
    }
    return printOutcomes(result.plan, result.outcomes, json);
  },
};
