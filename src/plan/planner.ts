// The planner: desired state + observed state -> one action per container,
// with its reasons, in execution order. Pure and synchronous: every command
// that changes containers (apply, boot, update, rollback, remove) builds its
// plan here, `--dry-run` prints it, and ops/execute.ts runs it. Invariants:
// a unit keel did not create is a problem that refuses the whole plan before
// anything changes; nothing is ever planned for a container keel did not
// create; removals come first, dependents before what they depend on; the
// rest follows start order; a container whose required container cannot
// start now is `blocked`, never started to fail on a missing dependency.

import type { Digest } from '../oci/digest.ts';
import { imageChange, shortDigest, specChanges, unitChanges } from './diff.ts';
import { dependentsOf, requirersOf, startOrder, stopOrder, type DependencyNode } from './order.ts';
import type {
  ActionKind, DesiredContainer, Intent, ObservedContainer, Plan, PlannedAction, PlanProblem,
} from './types.ts';

const RUNNING = new Set(['active', 'activating', 'reloading']);

function action(
  name: string, kind: ActionKind, reasons: string[], extra: Partial<Omit<PlannedAction, 'name' | 'unit' | 'action' | 'reasons'>> = {},
): PlannedAction {
  return Object.freeze({
    name, unit: `${name}.service`, action: kind, reasons: Object.freeze(reasons),
    changes: Object.freeze([...(extra.changes ?? [])]), image: extra.image,
    restartDependents: Object.freeze([...(extra.restartDependents ?? [])]), healthGate: extra.healthGate ?? false,
    ...(extra.code !== undefined ? { code: extra.code } : {}),
  });
}

function foreignProblem(o: ObservedContainer): PlanProblem {
  return {
    name: o.name, code: 'E_UNIT_EXISTS',
    message: `${o.name}.service ${o.foreignReason ?? 'is not a unit keel created'}; keel will not replace it`,
    hint: `rename the container, or stop and disable the host's ${o.name}.service (systemctl disable --now ${o.name}.service)`,
  };
}

function loaded(o: ObservedContainer | undefined): boolean {
  return o?.unit !== undefined && o.unit.loadState !== 'not-found';
}

function freeze(intent: Intent, actions: PlannedAction[], problems: PlanProblem[]): Plan {
  return Object.freeze({ intent, actions: Object.freeze(actions), problems: Object.freeze(problems) });
}

// ---- apply and boot ------------------------------------------------------

export interface ApplyPlanInput {
  readonly intent: 'apply' | 'boot';
  readonly desired: readonly DesiredContainer[];
  readonly observed: ReadonlyMap<string, ObservedContainer>;
  /** Every container keel knows (desired and deployed), for ordering. */
  readonly nodes: readonly DependencyNode[];
  /** Remove containers keel created that no manifest names. */
  readonly prune?: boolean | undefined;
}

/** What changed between the active deployment and the desired one, as change names and reasons. */
function describeChanges(d: DesiredContainer, o: ObservedContainer | undefined): { changes: string[]; reasons: string[] } {
  const changes: string[] = [];
  const reasons: string[] = [];
  const active = o?.active;
  if (active !== undefined && d.image.digest !== undefined && active.imageDigest !== d.image.digest) {
    changes.push('image');
    reasons.push(imageChange(active.imageDigest, d.image.digest));
  }
  if (active !== undefined && active.imageName !== d.image.name && !changes.includes('image')) {
    changes.push('image');
    reasons.push(`image ${active.imageName} -> ${d.image.name}`);
  }
  const keys = specChanges(active?.spec, d.inputs).filter((k) => k !== 'image');
  if (keys.length > 0) {
    changes.push(...keys);
    reasons.push(`changed: ${keys.join(', ')}`);
  }
  return { changes, reasons };
}

function decideApply(intent: 'apply' | 'boot', d: DesiredContainer, o: ObservedContainer | undefined): PlannedAction {
  const { name } = d.spec;
  const image = { name: d.image.name, from: o?.active?.imageDigest, to: d.image.digest, pull: d.image.pull };
  if (d.image.error !== undefined) {
    return action(name, 'fail', [`pulling ${d.image.name} failed: ${d.image.error.message}`], { image, code: d.image.error.code });
  }
  if (d.error !== undefined) return action(name, 'fail', [d.error.message], { image, code: d.error.code });
  if (d.image.source === 'missing' && d.spec.pull === 'never') {
    return action(name, 'fail', [`image ${d.image.name} is not in the store and the pull policy is never`], {
      image, code: 'E_IMAGE_NOT_FOUND',
    });
  }
  if (intent === 'boot' && d.image.source === 'missing') {
    return action(name, 'wait-image', [`image ${d.image.name} is not in the store: pulled in the background once the network is up, then started`], { image });
  }
  const { changes, reasons } = describeChanges(d, o);
  if (d.image.pull) reasons.unshift(d.image.source === 'missing' ? `pull ${d.image.name} (not in the store)` : `pull ${d.image.name} (pull policy always)`);
  if (o?.unit === undefined || !loaded(o)) {
    const why = o?.unit === undefined ? 'unit state unknown (systemd not reachable)' : o.active === undefined ? 'new' : 'not registered with systemd';
    return action(name, 'create', [why, ...reasons], { image, changes });
  }
  const unitDiff = unitChanges(o.applied?.unitSettings, d.unitSettings);
  if (o.applied?.unitDigest !== d.unitDigest) {
    const what = unitDiff.length > 0 ? `unit properties changed: ${unitDiff.map((u) => u.slice('unit:'.length)).join(', ')}` : 'unit properties changed';
    return action(name, 'recreate', [what, ...reasons], { image, changes: [...changes, ...unitDiff] });
  }
  const running = RUNNING.has(o.unit.activeState);
  const inputsChanged = d.inputsDigest === undefined || d.inputsDigest !== o.active?.inputsDigest || d.inputsDigest !== o.applied?.inputsDigest;
  if (inputsChanged || o.applied?.pending === true) {
    const why = [...reasons];
    if (why.length === 0) why.push(o.applied?.pending === true && !inputsChanged ? 'a previous start was not confirmed' : 'rendered inputs changed');
    return action(name, running ? 'restart' : 'start', why, { image, changes });
  }
  if (running) return action(name, 'keep', ['unchanged'], { image });
  return action(name, 'start', [`the unit is ${o.unit.activeState}${o.unit.subState ? ` (${o.unit.subState})` : ''}`], { image });
}

export function planApply(input: ApplyPlanInput): Plan {
  const problems: PlanProblem[] = [];
  const byName = new Map(input.desired.map((d) => [d.spec.name, d]));
  for (const d of input.desired) {
    const o = input.observed.get(d.spec.name);
    if (o?.owner === 'foreign') problems.push(foreignProblem(o));
  }
  // Removals (prune): containers keel created that no manifest names.
  const removals: string[] = [];
  if (input.prune === true) {
    for (const o of input.observed.values()) {
      if (byName.has(o.name) || o.owner !== 'keel') continue;
      if (o.active !== undefined || o.applied !== undefined || loaded(o)) removals.push(o.name);
    }
  }
  const actions: PlannedAction[] = stopOrder(removals, input.nodes).map((n) => action(n, 'remove', ['no manifest names it (--prune)'], {
    image: input.observed.get(n)?.active ? { name: input.observed.get(n)?.active?.imageName ?? '', from: input.observed.get(n)?.active?.imageDigest, pull: false } : undefined,
  }));
  const decided = new Map<string, PlannedAction>();
  for (const name of startOrder([...byName.keys()], input.nodes)) {
    const d = byName.get(name) as DesiredContainer;
    const o = input.observed.get(name);
    if (o?.owner === 'foreign') continue; // refused above: nothing is planned for a unit keel did not create
    decided.set(name, decideApply(input.intent, d, o));
  }
  // A container that requires one that cannot start now waits with it.
  for (const name of startOrder([...byName.keys()], input.nodes)) {
    const a = decided.get(name);
    if (a === undefined || a.action === 'fail' || a.action === 'wait-image') continue;
    const d = byName.get(name) as DesiredContainer;
    const stuck = d.spec.requires
      .map((u) => [...decided.values()].find((x) => x.unit === u))
      .find((x) => x !== undefined && (x.action === 'fail' || x.action === 'wait-image' || x.action === 'blocked'));
    if (stuck !== undefined) {
      decided.set(name, action(name, 'blocked', [`requires ${stuck.name}, which ${stuck.action === 'wait-image' ? 'waits for its image' : 'cannot start'}`], { image: a.image, changes: a.changes }));
    }
  }
  actions.push(...decided.values());
  return freeze(input.intent, actions, problems);
}

// ---- update --------------------------------------------------------------

export interface UpdatePlanInput {
  /** The containers to update, their images freshly resolved. */
  readonly desired: readonly DesiredContainer[];
  readonly observed: ReadonlyMap<string, ObservedContainer>;
  readonly nodes: readonly DependencyNode[];
  /** Try again a deployment that failed its health gate (keel update --retry-failed). */
  readonly retryFailed?: boolean | undefined;
}

export function planUpdate(input: UpdatePlanInput): Plan {
  const problems: PlanProblem[] = [];
  const byName = new Map(input.desired.map((d) => [d.spec.name, d]));
  const actions: PlannedAction[] = [];
  for (const name of startOrder([...byName.keys()], input.nodes)) {
    const d = byName.get(name) as DesiredContainer;
    const o = input.observed.get(name);
    if (o?.owner === 'foreign') {
      problems.push(foreignProblem(o));
      continue;
    }
    const image = { name: d.image.name, from: o?.active?.imageDigest, to: d.image.digest, pull: d.image.pull };
    if (o?.active === undefined) {
      actions.push(action(name, 'skip', ['not deployed yet: keel apply deploys it'], { image }));
      continue;
    }
    if (d.image.error !== undefined) {
      actions.push(action(name, 'fail', [`resolving ${d.image.name} failed: ${d.image.error.message}`], { image, code: d.image.error.code }));
      continue;
    }
    if (d.error !== undefined) {
      actions.push(action(name, 'fail', [d.error.message], { image, code: d.error.code }));
      continue;
    }
    const { changes, reasons } = describeChanges(d, o);
    const same = d.inputsDigest !== undefined && d.inputsDigest === o.active.inputsDigest;
    if (same) {
      actions.push(action(name, 'keep', [`up to date (${shortDigest(o.active.imageDigest)})`], { image }));
      continue;
    }
    const failed = o.previous?.failed;
    const sameAsFailed = failed !== undefined && (d.inputsDigest !== undefined
      ? d.inputsDigest === o.previous?.inputsDigest
      : d.image.digest === o.previous?.imageDigest);
    if (sameAsFailed && input.retryFailed !== true) {
      // The timer would otherwise take the service down for the same bad image every run.
      actions.push(action(name, 'skip', [
        `${shortDigest(d.image.digest)} failed its health gate at ${failed.at} [${failed.code}]; not tried again until the image or the manifest changes (keel update --retry-failed ${name} tries it now)`,
      ], { image }));
      continue;
    }
    const dependents = dependentsOf(name, input.nodes).filter((n) => input.observed.get(n)?.active !== undefined || byName.has(n));
    actions.push(action(name, 'update', reasons.length > 0 ? reasons : ['rendered inputs changed'], {
      image, changes, restartDependents: dependents, healthGate: true,
    }));
  }
  return freeze('update', actions, problems);
}

// ---- rollback ------------------------------------------------------------

export interface NamedPlanInput {
  readonly names: readonly string[];
  readonly observed: ReadonlyMap<string, ObservedContainer>;
  readonly nodes: readonly DependencyNode[];
}

function known(o: ObservedContainer | undefined): o is ObservedContainer {
  return o !== undefined && (o.active !== undefined || o.applied !== undefined || (o.owner === 'keel' && loaded(o)) || o.owner === 'foreign');
}

function notFound(name: string): PlanProblem {
  return { name, code: 'E_CONTAINER_NOT_FOUND', message: `keel has no system container named ${name}`, hint: 'keel status lists them' };
}

export function planRollback(input: NamedPlanInput): Plan {
  const problems: PlanProblem[] = [];
  const actions: PlannedAction[] = [];
  for (const name of startOrder([...new Set(input.names)], input.nodes)) {
    const o = input.observed.get(name);
    if (!known(o)) {
      problems.push(notFound(name));
      continue;
    }
    if (o.owner === 'foreign') {
      problems.push(foreignProblem(o));
      continue;
    }
    if (o.active === undefined || o.previous === undefined) {
      actions.push(action(name, 'fail', ['no previous deployment to switch back to (the other slot is empty)'], { code: 'E_ROLLBACK_UNAVAILABLE' }));
      continue;
    }
    if (o.previous.failed !== undefined) {
      actions.push(action(name, 'fail', [`the other deployment (slot ${o.previous.slot}, image ${shortDigest(o.previous.imageDigest)}) failed its health gate at ${o.previous.failed.at} [${o.previous.failed.code}]; keel does not switch back to it`], { code: 'E_ROLLBACK_UNAVAILABLE' }));
      continue;
    }
    const from: Digest = o.active.imageDigest;
    const to: Digest = o.previous.imageDigest;
    const reasons = [`slot ${o.active.slot} -> ${o.previous.slot}`, from === to ? `image ${shortDigest(to)} (unchanged)` : imageChange(from, to)];
    const changes = [...(from !== to ? ['image'] : []), ...specChanges(o.active.spec, o.previous.spec ?? {})];
    actions.push(action(name, 'rollback', reasons, {
      image: { name: o.previous.imageName, from, to, pull: false }, changes,
      restartDependents: dependentsOf(name, input.nodes).filter((n) => input.observed.get(n)?.active !== undefined),
    }));
  }
  return freeze('rollback', actions, problems);
}

// ---- remove --------------------------------------------------------------

/** What to do about E_CONTAINER_REQUIRED: containers can be removed together; host units are the admin's. */
function requiredHint(name: string, left: readonly string[]): string {
  const containers = left.filter((n) => !n.includes('.'));
  const hostUnits = left.filter((n) => n.includes('.'));
  const parts: string[] = [];
  if (containers.length > 0) parts.push(`remove them together (keel remove ${[...containers, name].join(' ')}), or drop the dependency from their manifests and apply first`);
  if (hostUnits.length > 0) parts.push(`${hostUnits.join(', ')} ${hostUnits.length === 1 ? 'is a host unit' : 'are host units'}: stop ${hostUnits.length === 1 ? 'it' : 'them'} or remove the Requires=/BindsTo= on ${name}.service from ${hostUnits.length === 1 ? 'its' : 'their'} unit file first`);
  return parts.join('; ');
}

export function planRemove(input: NamedPlanInput): Plan {
  const problems: PlanProblem[] = [];
  const names = [...new Set(input.names)];
  const removing = new Set(names);
  const ok: string[] = [];
  for (const name of names) {
    const o = input.observed.get(name);
    if (!known(o)) {
      problems.push(notFound(name));
      continue;
    }
    if (o.owner === 'foreign') {
      problems.push(foreignProblem(o));
      continue;
    }
    // A unit that requires this one is a container (named bare) or a host unit (named with its suffix).
    const isContainer = (n: string): boolean => input.nodes.some((x) => x.name === n) || input.observed.get(n)?.owner === 'keel';
    const byUnits = (o.unit?.requiredBy ?? []).filter((u) => !u.endsWith('.slice'))
      .map((u) => (u.endsWith('.service') && isContainer(u.slice(0, -'.service'.length)) ? u.slice(0, -'.service'.length) : u));
    const left = [...new Set([...requirersOf(name, input.nodes), ...byUnits])].filter((n) => !removing.has(n)).sort();
    if (left.length > 0) {
      problems.push({
        name, code: 'E_CONTAINER_REQUIRED',
        message: `${left.map((n) => (n.includes('.') ? n : `${n}.service`)).join(', ')} require${left.length === 1 ? 's' : ''} ${name}.service; removing ${name} alone would stop ${left.length === 1 ? 'it' : 'them'}`,
        hint: requiredHint(name, left),
      });
      continue;
    }
    ok.push(name);
  }
  const actions = stopOrder(ok, input.nodes).map((name) => {
    const o = input.observed.get(name) as ObservedContainer;
    const after = input.nodes.filter((n) => n.name !== name && !removing.has(n.name) && [...n.after, ...n.wants].includes(`${name}.service`)).map((n) => n.name);
    const reasons = ['requested'];
    if (after.length > 0) reasons.push(`${after.join(', ')} ${after.length === 1 ? 'is' : 'are'} ordered after it: its unit stays loaded (inactive) until ${after.length === 1 ? 'that one is' : 'those are'} re-created or removed`);
    return action(name, 'remove', reasons, {
      image: o.active ? { name: o.active.imageName, from: o.active.imageDigest, pull: false } : undefined,
    });
  });
  return freeze('remove', actions, problems);
}
