// plan/: deciding apart from doing. Pure functions from desired and observed
// state to a plan (one action per container, with reasons, in order), its
// diff-like and JSON forms, and dependency order. No I/O; ops/ observes the
// world, plans here, and hands the plan to its one executor.

export type {
  ActionKind, AppliedFacts, Deployment, DesiredContainer, ImageFacts, ImageSource, Intent, ObservedContainer, Plan,
  PlannedAction, PlanProblem, UnitFacts,
} from './types.ts';
export { planApply, planRemove, planRollback, planUpdate, type ApplyPlanInput, type NamedPlanInput, type UpdatePlanInput } from './planner.ts';
export { dependentsOf, nodeFromSpec, requirersOf, startOrder, stopOrder, type DependencyNode } from './order.ts';
export { specChanges, unitChanges, shortDigest } from './diff.ts';
export { formatAction, formatPlan, planJson, summarize, PLAN_JSON_VERSION } from './format.ts';
