// keel update [NAME...|--all|--auto] [--dry-run] [--json] [--window SECONDS]

import { KeelError } from '../../errors.ts';
import { updateContainers } from '../../ops/update.ts';
import type { Command } from '../command.ts';
import { openStore, sourceOptions, storeViewForReading } from '../context.ts';
import { printOutcomes, printPlan } from '../report.ts';
import { parseSetOptions } from './set-option.ts';

export const update: Command = {
  name: 'update',
  usage: 'keel update [--dry-run] [--json] [--window SECONDS] [--retry-failed] [--set VAR=VALUE]... NAME...|--all|--auto',
  description: `Re-resolves the image of each named container (of the --manifests directory) at its
source, pulls what is new, renders the new deployment into the container's inactive
slot, switches to it and restarts the unit. The new deployment must pass a health
gate: the unit reaches active (ready, for notify: true) within its start timeout,
stays up for the stability window (--window, default 5 s), and passes the
manifest's healthCheck if it has one. If the gate fails, keel switches back to the
previous deployment by itself, restarts it, says why on stderr and in the journal
(E_UPDATE_ROLLED_BACK) and exits non-zero. Containers that depend on an updated one
(requires/wants/after in their manifests) are restarted after it, on the way
forward and back. Host bind mounts are never touched.

A container whose image did not change restarts nothing ("unchanged"). --dry-run
resolves without pulling and prints, per container, the old and new digest.
--all updates every container of the manifest directory; --auto those whose
manifest says autoUpdate: true (what keel-update.timer runs).

An image (with the same manifest) that failed its health gate once is not tried
again: update skips it and says so, until the image or the manifest changes, so
that the timer does not take a service down for the same bad image every day.
--retry-failed tries it anyway.`,
  options: {
    all: { type: 'boolean', help: 'update every container of the manifest directory' },
    auto: { type: 'boolean', help: 'update the containers whose manifest says autoUpdate: true' },
    'dry-run': { type: 'boolean', help: 'print what would change (old and new digests), change nothing' },
    json: { type: 'boolean', help: 'print the plan or the outcomes as JSON' },
    'retry-failed': { type: 'boolean', help: 'try again an image that failed its health gate before' },
    window: { type: 'string', value: 'SECONDS', help: 'how long a new deployment must stay up (default 5)' },
    set: { type: 'string', value: 'VAR=VALUE', multiple: true, help: 'override a manifest variable (repeatable)' },
    authfile: { type: 'string', value: 'FILE', help: 'registry credentials (auth.json or ~/.docker/config.json format)' },
  },
  minArgs: 0,
  maxArgs: Infinity,
  async run({ global, values, positionals, signal }) {
    const all = values.all === true;
    const auto = values.auto === true;
    if ((positionals.length > 0 ? 1 : 0) + (all ? 1 : 0) + (auto ? 1 : 0) !== 1) {
      throw new KeelError('E_USAGE', 'keel update takes container names, or --all, or --auto (one of them)', { hint: "see 'keel update --help'" });
    }
    const window = typeof values.window === 'string' ? Number(values.window) : 5;
    if (!Number.isFinite(window) || window < 0 || window > 3600) {
      throw new KeelError('E_USAGE', `--window ${String(values.window)} is not a number of seconds between 0 and 3600`);
    }
    const dryRun = values['dry-run'] === true;
    const json = values.json === true;
    const store = dryRun ? await storeViewForReading(global) : await openStore(global);
    const source = await sourceOptions(global, typeof values.authfile === 'string' ? values.authfile : undefined);
    const result = await updateContainers(store, {
      files: [global.manifests], set: parseSetOptions(values.set), names: positionals, all, auto, retryFailed: values['retry-failed'] === true, dryRun, source, signal,
      windowMs: window * 1000, log: (line) => process.stderr.write(`${line}\n`),
    });
    if (dryRun) {
      printPlan(result.plan, json);
      return 0;
    }
    if (!json && result.plan.actions.every((a) => a.action === 'keep' || a.action === 'skip')) {
      const skipped = result.plan.actions.some((a) => a.action === 'skip');
      process.stderr.write(`keel update: ${skipped ? 'nothing restarted' : 'nothing newer; nothing restarted'}\n`);
    }
    return printOutcomes(result.plan, result.outcomes, json);
  },
};
