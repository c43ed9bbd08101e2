// keel apply [PATH...] [--set VAR=VALUE]... [--dry-run] [--prune] [--json]

import { applyManifests } from '../../ops/apply.ts';
import type { Command } from '../command.ts';
import { openStore, sourceOptions, storeViewForReading } from '../context.ts';
import { printOutcomes, printPlan } from '../report.ts';
import { parseSetOptions } from './set-option.ts';

export const apply: Command = {
  name: 'apply',
  usage: 'keel apply [--set VAR=VALUE]... [--dry-run] [--prune] [--json] [PATH...]',
  description: `Validates the manifests (default: the --manifests directory), plans, and acts:
pulls the images that are missing (per each manifest's pull policy), renders each
container's bundle, registers NAME.service with systemd and starts it. All units are
registered together and systemd orders their starts (after/requires in the
manifests); one container that fails does not stop the others. Each container gets
one line: created, restarted, re-created, started, unchanged, removed, failed.

Applying the same input again restarts nothing. A container keeps the image digest
its deployment pinned while its manifest names the same image; a tag that moved
changes nothing here (keel update moves it, health-gated). A container whose inputs
changed (command, env, mounts, image reference, ...) is restarted on a new
deployment; one whose unit settings changed (limits, ordering, notify) is
re-created. A unit of the same name that keel did not create is refused
(E_UNIT_EXISTS) before anything changes.

--dry-run prints the plan — per container the action and why (+ create, ~ change,
- remove, = unchanged, ! failing) — and changes nothing: no store, directory or
unit is created or touched. --prune also removes the system containers keel
created whose manifests are gone (never a unit keel did not create).

Exit status: 0 when every container ended as planned; otherwise the failure's own
status (or 69, E_CONTAINERS_FAILED, when failures differ).

Examples:
  keel apply /etc/keel/manifests.d
  keel apply --set ETCD_IMAGE=127.0.0.1:5000/etcd:3.4 etcd.yaml
  keel apply --dry-run --prune`,
  options: {
    set: { type: 'string', value: 'VAR=VALUE', multiple: true, help: 'override a manifest variable (repeatable)' },
    'dry-run': { type: 'boolean', help: 'print the plan, change nothing' },
    prune: { type: 'boolean', help: 'also remove containers keel created whose manifests are gone' },
    json: { type: 'boolean', help: 'print the plan or the outcomes as JSON' },
    authfile: { type: 'string', value: 'FILE', help: 'registry credentials (auth.json or ~/.docker/config.json format)' },
  },
  minArgs: 0,
  maxArgs: Infinity,
  async run({ global, values, positionals, signal }) {
    const dryRun = values['dry-run'] === true;
    const json = values.json === true;
    const store = dryRun ? await storeViewForReading(global) : await openStore(global);
    const source = await sourceOptions(global, typeof values.authfile === 'string' ? values.authfile : undefined);
    const files = positionals.length > 0 ? positionals : [global.manifests];
    const result = await applyManifests(store, {
      files, set: parseSetOptions(values.set), dryRun, prune: values.prune === true, source, signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    if (dryRun) {
      printPlan(result.plan, json);
      return 0;
    }
    return printOutcomes(result.plan, result.outcomes, json);
  },
};
