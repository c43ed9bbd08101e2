// How a plan reads: a diff-like listing for people (`--dry-run`, and the
// outcome lines of a real run build on it) and a versioned JSON shape for
// scripts (`--json`). Pure.

import type { ActionKind, Plan, PlannedAction } from './types.ts';

/** Version of the JSON shapes `--json` prints for plans and outcomes (docs/operations.md). */
export const PLAN_JSON_VERSION = 1;

const MARK: Readonly<Record<ActionKind, string>> = {
  create: '+', keep: '=', start: '~', restart: '~', recreate: '~', update: '~', rollback: '~',
  remove: '-', 'wait-image': '…', blocked: '…', skip: '=', fail: '!',
};

export function formatAction(a: PlannedAction): string {
  const why = a.reasons.join('; ');
  return `${MARK[a.action]} ${a.unit.padEnd(24)} ${a.action.padEnd(10)} ${why}${a.code ? ` [${a.code}]` : ''}${a.restartDependents.length > 0 ? `; then restart ${a.restartDependents.join(', ')}` : ''}`;
}

/** "2 to create, 1 to change, 3 unchanged" */
export function summarize(plan: Plan): string {
  const count = (kinds: readonly ActionKind[]): number => plan.actions.filter((a) => kinds.includes(a.action)).length;
  const parts: Array<[number, string]> = [
    [count(['create']), 'to create'],
    [count(['start', 'restart', 'recreate', 'update', 'rollback']), 'to change'],
    [count(['remove']), 'to remove'],
    [count(['wait-image', 'blocked']), 'waiting'],
    [count(['fail']), 'failing'],
    [count(['keep', 'skip']), 'unchanged'],
  ];
  const text = parts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`).join(', ');
  return text === '' ? 'nothing to do' : text;
}

export function formatPlan(plan: Plan): string {
  const lines = plan.actions.map((a) => `  ${formatAction(a)}`);
  for (const p of plan.problems) lines.push(`  ! ${`${p.name}.service`.padEnd(24)} refused    ${p.message} [${p.code}]`);
  return `${lines.join('\n')}${lines.length > 0 ? '\n' : ''}${summarize(plan)}\n`;
}

/** The plan as `--json` prints it. */
export function planJson(plan: Plan): Record<string, unknown> {
  return {
    version: PLAN_JSON_VERSION,
    intent: plan.intent,
    actions: plan.actions.map((a) => ({
      name: a.name, unit: a.unit, action: a.action, reasons: a.reasons, changes: a.changes,
      ...(a.image ? { image: a.image } : {}),
      restartDependents: a.restartDependents, healthGate: a.healthGate,
      ...(a.code ? { code: a.code } : {}),
    })),
    problems: plan.problems,
  };
}
