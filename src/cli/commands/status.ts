// keel status [NAME] [--json]

import { containerStatus } from '../../ops/status.ts';
import type { Command } from '../command.ts';
import { shortDigest } from '../../plan/index.ts';
import { table } from '../format.ts';

export const status: Command = {
  name: 'status',
  usage: 'keel status [--json] [NAME]',
  description: `Shows each system container keel knows (or NAME): its image and digest, the unit's
state (active/running, failed/…; NOT-KEEL when a unit of that name was not created by
keel; not-loaded when it is rendered but not registered), main pid, since when, and how
often systemd restarted it. With NAME, also both deployments (the active one and the
rollback target): slot, image, digest, when rendered. --json prints
{ "version": 1, "containers": [...] } with every field and full digests.`,
  options: { json: { type: 'boolean', help: 'machine-readable output' } },
  minArgs: 0,
  maxArgs: 1,
  async run({ global, values, positionals }) {
    const rows = await containerStatus({ root: global.root }, positionals[0]);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ version: 1, containers: rows }, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(table(
      ['NAME', 'STATE', 'PID', 'RESTARTS', 'SINCE', 'IMAGE', 'DIGEST'],
      rows.map((r) => [
        r.name,
        !r.keel ? 'NOT-KEEL' : r.loadState === 'not-found' ? 'not-loaded' : `${r.activeState}/${r.subState}`,
        r.mainPid > 0 ? String(r.mainPid) : '-',
        String(r.restarts),
        r.since ?? '-',
        r.image ?? '-',
        r.imageDigest ? shortDigest(r.imageDigest) : '-',
      ]),
    ));
    if (positionals[0] !== undefined) {
      for (const r of rows) {
        if (r.deployments.length === 0) continue;
        process.stdout.write(`\ndeployments of ${r.name}:\n`);
        process.stdout.write(table(
          ['', 'SLOT', 'IMAGE', 'DIGEST', 'RENDERED', 'NOTE'],
          r.deployments.map((d) => [d.active ? '*' : ' ', d.slot, d.image, shortDigest(d.imageDigest), d.renderedAt ?? '-', d.failed ? `failed its health gate [${d.failed.code}]` : '']),
        ));
      }
    }
    return 0;
  },
};
