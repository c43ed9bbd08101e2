// How the commands that change containers (apply, boot, update, rollback,
// remove) report: the plan for a dry run, one line per container for a real
// run (stdout), each failure with its code and hint (stderr), and the exit
// status — 0 when every container ended as planned, the failure's own status
// when all failures share a code, else E_CONTAINERS_FAILED's. `--json`
// prints the documented, versioned shapes instead (docs/operations.md).

import { CODES, type ErrorCode } from '../errors.ts';
import type { Outcome } from '../ops/execute.ts';
import { formatPlan, planJson, PLAN_JSON_VERSION, type Plan } from '../plan/index.ts';

export function printPlan(plan: Plan, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...planJson(plan), dryRun: true }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`plan (dry run, nothing changed), in order:\n${formatPlan(plan)}`);
}

function describe(o: Outcome): string {
  const facts: string[] = [];
  if (o.activeState !== undefined) facts.push(o.activeState);
  if (o.mainPid !== undefined && o.mainPid > 0) facts.push(`pid ${o.mainPid}`);
  if (o.slot !== undefined && o.action !== 'remove') facts.push(`slot ${o.slot}`);
  if (o.pulled === true) facts.push('image pulled');
  return `${o.unit} ${o.result}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`;
}

/** The exit status of a run: 0, the shared failure code's, or E_CONTAINERS_FAILED's. */
export function outcomesExit(outcomes: readonly Outcome[]): number {
  const codes = new Set(outcomes.filter((o) => o.status === 'failed').map((o) => o.error?.code ?? 'E_INTERNAL'));
  if (codes.size === 0) return 0;
  const [only] = [...codes];
  if (codes.size === 1 && only !== undefined && Object.hasOwn(CODES, only)) return CODES[only as ErrorCode].exit;
  return CODES.E_CONTAINERS_FAILED.exit;
}

export function printOutcomes(plan: Plan, outcomes: readonly Outcome[], json: boolean): number {
  const status = outcomesExit(outcomes);
  if (json) {
    process.stdout.write(`${JSON.stringify({ version: PLAN_JSON_VERSION, intent: plan.intent, dryRun: false, outcomes }, null, 2)}\n`);
    return status;
  }
  for (const o of outcomes) {
    process.stdout.write(`${describe(o)}\n`);
    if (o.status === 'failed' && o.error !== undefined) {
      process.stderr.write(`keel: error: ${o.error.message} [${o.error.code}]\n`);
      if (o.error.hint) process.stderr.write(`keel: hint: ${o.error.hint}\n`);
    }
  }
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (failed.length > 0 && outcomes.length > 1) {
    const codes = [...new Set(failed.map((o) => o.error?.code ?? 'E_INTERNAL'))];
    process.stderr.write(`keel: ${failed.length} of ${outcomes.length} containers failed (${failed.map((o) => o.name).join(', ')})${codes.length > 1 ? ' [E_CONTAINERS_FAILED]' : ''}\n`);
  }
  return status;
}
