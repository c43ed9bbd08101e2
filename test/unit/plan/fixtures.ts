// Desired and observed state for the planner's table tests, built the way
// ops/observe.ts builds them but without I/O: specs come from small YAML
// manifests (parseManifestText), unit properties from the real unit renderer,
// and the inputs digest from the canonical spec and the image digest, so a
// change to the manifest changes every digest the planner compares.

import { strict as assert } from 'node:assert';
import { canonicalJson, specInputs } from '../../../src/bundle/index.ts';
import { parseManifestText, type ContainerSpec } from '../../../src/manifest/index.ts';
import { digestOf, type Digest } from '../../../src/oci/digest.ts';
import { storeName } from '../../../src/oci/reference.ts';
import { propertiesDigest, propertySettings } from '../../../src/ops/observe.ts';
import type {
  AppliedFacts, DependencyNode, Deployment, DesiredContainer, ImageFacts, ObservedContainer, PlannedAction, Plan, UnitFacts,
} from '../../../src/plan/index.ts';
import { renderContainerUnit } from '../../../src/runtime/index.ts';

const BUILTINS = { HOSTNAME: 'node1', MACHINE_ID: '0123456789abcdef0123456789abcdef' };

/** Every document of a manifest text, by name (the text must be valid). */
export function specs(yaml: string): Map<string, ContainerSpec> {
  const { specs: out, problems } = parseManifestText(yaml, 'plan.yaml', { builtins: BUILTINS });
  assert.deepEqual(problems, []);
  return new Map(out.map((s) => [s.name, s]));
}

/** The one container of a manifest text. */
export function spec(yaml: string): ContainerSpec {
  const all = [...specs(yaml).values()];
  assert.equal(all.length, 1);
  return all[0] as ContainerSpec;
}

/** A minimal manifest document for `name` with `extra` lines. */
export function doc(name: string, extra = '', image = `registry.example/${name}:1`): string {
  return `name: ${name}\nimage: ${image}\n${extra}`;
}

/** A fixed, valid sha256 digest: `d('a')` is sha256:aaaa... */
export function d(ch: string): Digest {
  return `sha256:${ch.repeat(64).slice(0, 64)}` as Digest;
}

/** The inputs digest a render of `spec` on `image` would give (deterministic, like plannedInputsDigest). */
export function inputsDigest(s: ContainerSpec, image: Digest): Digest {
  return digestOf(canonicalJson({ image, spec: specInputs(s) }));
}

export interface DesiredOptions {
  readonly digest?: Digest | undefined;
  readonly source?: ImageFacts['source'];
  readonly pull?: boolean;
  readonly error?: { readonly code: string; readonly message: string };
}

/** The desired state of `s`: by default its image is in the store at d('1'). */
export function desired(s: ContainerSpec, o: DesiredOptions = {}): DesiredContainer {
  const source = o.source ?? 'store';
  const digest = 'digest' in o ? o.digest : source === 'missing' ? undefined : d('1');
  const props = renderContainerUnit(s, { runc: '/usr/sbin/runc', bundleDir: `/var/lib/keel/containers/${s.name}/active` });
  return Object.freeze({
    spec: s,
    inputs: JSON.parse(canonicalJson(specInputs(s))) as Record<string, unknown>,
    image: { name: storeName(s.reference), source, digest, pull: o.pull ?? false, ...(o.error !== undefined ? { error: o.error } : {}) },
    inputsDigest: digest === undefined ? undefined : inputsDigest(s, digest),
    unitDigest: propertiesDigest(props),
    unitSettings: propertySettings(props),
  });
}

/** The deployment a render of `x` gives in `slot`. */
export function deployment(x: DesiredContainer, slot: 'a' | 'b' = 'a', extra: Partial<Deployment> = {}): Deployment {
  const digest = x.image.digest ?? d('1');
  return {
    slot, imageName: x.image.name, imageDigest: digest, inputsDigest: x.inputsDigest ?? inputsDigest(x.spec, digest),
    spec: x.inputs, ...extra,
  };
}

export function unit(activeState: string, subState: string, extra: Partial<UnitFacts> = {}): UnitFacts {
  return { loadState: 'loaded', activeState, subState, mainPid: activeState === 'active' ? 4242 : 0, requiredBy: [], ...extra };
}

export const NOT_FOUND: UnitFacts = { loadState: 'not-found', activeState: 'inactive', subState: 'dead', mainPid: 0, requiredBy: [] };
export const RUNNING: UnitFacts = unit('active', 'running');

/** keel's applied record after registering `x`. */
export function applied(x: DesiredContainer, extra: Partial<AppliedFacts> = {}): AppliedFacts {
  return { inputsDigest: x.inputsDigest ?? '', unitDigest: x.unitDigest, unitSettings: x.unitSettings, ...extra };
}

/**
 * What keel observes once `x` was applied and runs: its unit loaded and
 * running, the record and the active slot matching `x`. `over` replaces parts.
 */
export function deployed(x: DesiredContainer, over: Partial<ObservedContainer> = {}): ObservedContainer {
  return { name: x.spec.name, owner: 'keel', unit: RUNNING, applied: applied(x), active: deployment(x), ...over };
}

export function observedMap(...list: ObservedContainer[]): Map<string, ObservedContainer> {
  return new Map(list.map((o) => [o.name, o]));
}

/** Ordering nodes as ops/observe.ts's dependencyNodes gives them. */
export function nodesOf(...list: ContainerSpec[]): DependencyNode[] {
  return list.map((s) => ({ name: s.name, unit: s.unit, after: s.after, before: s.before, requires: s.requires, wants: s.wants }));
}

/** A bare ordering node (a deployed container known only by name). */
export function node(name: string, rel: Partial<Omit<DependencyNode, 'name' | 'unit'>> = {}): DependencyNode {
  return { name, unit: `${name}.service`, after: [], before: [], requires: [], wants: [], ...rel };
}

/** The one action for `name` (fails the test when it is absent or repeated). */
export function actionOf(plan: Plan, name: string): PlannedAction {
  const found = plan.actions.filter((a) => a.name === name);
  assert.equal(found.length, 1, `one action for ${name} in ${JSON.stringify(plan.actions.map((a) => [a.name, a.action]))}`);
  return found[0] as PlannedAction;
}

/** [name, action] pairs in plan order. */
export function kinds(plan: Plan): Array<[string, string]> {
  return plan.actions.map((a) => [a.name, a.action]);
}
