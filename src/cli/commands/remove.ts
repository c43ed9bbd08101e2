// keel remove NAME... [--delete-manifest] [--dry-run] [--json]

import { deleteFiles, manifestFilesOf, manifestFilesToDelete, removeContainers } from '../../ops/remove.ts';
import type { Command } from '../command.ts';
import { storeViewForReading } from '../context.ts';
import { printOutcomes, printPlan } from '../report.ts';

export const remove: Command = {
  name: 'remove',
  usage: 'keel remove [--delete-manifest] [--dry-run] [--json] NAME...',
  description: `Stops NAME.service, unregisters it and its keep-alive slice, deletes a stale runc
state of the same id, the container's bundles and keel's record. Several names are
removed dependents first, whatever order they are given in. A container that another
unit still requires (requires: in its manifest) is refused (E_CONTAINER_REQUIRED):
remove them together. Host state directories (bind-mount sources such as
/var/lib/etcd) are kept; the image stays in the store (keel rmi / keel prune).

A container whose manifest is still in the --manifests directory would come back at
the next boot or apply: keel says so and names the file. --delete-manifest deletes
that file too (refused when the file also describes containers that stay).

Exit status: 0 when all were removed; E_CONTAINER_NOT_FOUND (66) for a name keel has
no container of; E_UNIT_EXISTS (73) for a unit keel did not create.`,
  options: {
    'delete-manifest': { type: 'boolean', help: "also delete the containers' manifest files" },
    'dry-run': { type: 'boolean', help: 'print the plan, change nothing' },
    json: { type: 'boolean', help: 'print the plan or the outcomes as JSON' },
  },
  minArgs: 1,
  maxArgs: Infinity,
  async run({ global, values, positionals, signal }) {
    const dryRun = values['dry-run'] === true;
    const json = values.json === true;
    const deleteManifest = values['delete-manifest'] === true;
    const toDelete = deleteManifest ? await manifestFilesToDelete(global.manifests, positionals) : [];
    const store = await storeViewForReading(global);
    const result = await removeContainers(store, positionals, { dryRun, signal, log: (line) => process.stderr.write(`${line}\n`) });
    if (dryRun) {
      printPlan(result.plan, json);
      return 0;
    }
    const status = printOutcomes(result.plan, result.outcomes, json);
    const removed = result.outcomes.filter((o) => o.status === 'ok').map((o) => o.name);
    if (deleteManifest && status === 0) {
      await deleteFiles(toDelete);
      if (!json) for (const f of toDelete) process.stdout.write(`deleted manifest ${f}\n`);
    } else {
      const left = await manifestFilesOf(global.manifests, removed);
      for (const [name, files] of left) {
        process.stderr.write(`keel: warning: ${name} is still described by ${files.join(', ')}: the next boot or keel apply brings it back (keel remove --delete-manifest ${name} deletes the file)\n`);
      }
    }
    return status;
  },
};
