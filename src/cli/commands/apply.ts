// keel apply [PATH...] [--set VAR=VALUE]... [--dry-run]

import { applyManifests, formatPlanLine } from '../../ops/apply.ts';
import type { Command } from '../command.ts';
import { openStore, sourceOptions } from '../context.ts';
import { parseSetOptions } from './set-option.ts';

export const apply: Command = {
  name: 'apply',
  usage: 'keel apply [--set VAR=VALUE]... [--dry-run] [PATH...]',
  description: `Validates the manifests (default: the --manifests directory), pulls the images that
are missing (per each manifest's pull policy), renders each container's bundle, and
registers NAME.service with systemd in dependency order, starting it. Applying the
same input again restarts nothing; a container whose inputs changed is restarted on
its new bundle. A unit of the same name that keel did not create is refused
(E_UNIT_EXISTS). A unit that fails to start is reported with its job result and the
last lines of its journal.

--dry-run prints the plan (order, image and unit actions) and changes nothing.

Examples:
  keel apply /etc/keel/manifests.d
  keel apply --set ETCD_IMAGE=127.0.0.1:5000/etcd:3.4 etcd.yaml
  keel apply --dry-run`,
  options: {
    set: { type: 'string', value: 'VAR=VALUE', multiple: true, help: 'override a manifest variable (repeatable)' },
    'dry-run': { type: 'boolean', help: 'print the plan, change nothing' },
    authfile: { type: 'string', value: 'FILE', help: 'registry credentials (auth.json or ~/.docker/config.json format)' },
  },
  minArgs: 0,
  maxArgs: Infinity,
  async run({ global, values, positionals, signal }) {
    const dryRun = values['dry-run'] === true;
    const store = await openStore(global);
    const source = await sourceOptions(global, typeof values.authfile === 'string' ? values.authfile : undefined);
    const files = positionals.length > 0 ? positionals : [global.manifests];
    const result = await applyManifests(store, {
      files, set: parseSetOptions(values.set), dryRun, source, signal,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    if (dryRun) {
      process.stdout.write(`plan (dry run, nothing changed), in start order:\n`);
      for (const p of result.plan) process.stdout.write(`  ${formatPlanLine(p)}\n`);
      return 0;
    }
    for (const a of result.applied) {
      const verb = { create: 'created', recreate: 're-created', restart: 'restarted', start: 'started', keep: 'unchanged', check: 'checked' }[a.action];
      process.stdout.write(`${a.unit} ${verb} (${a.activeState}${a.mainPid > 0 ? `, pid ${a.mainPid}` : ''}, slot ${a.slot}${a.pulled ? ', image pulled' : ''})\n`);
    }
    return 0;
  },
};
