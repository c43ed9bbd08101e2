// The plan's vocabulary: what keel knows about each container before it
// decides (desired state from manifests, observed state from its records and
// systemd), and what it decided (one action per container, with reasons).
// Plain, frozen data: the planner builds it without I/O, `--dry-run` and
// `--json` print it, and the executor (ops/execute.ts) runs it as it is.

import type { ContainerSpec } from '../manifest/index.ts';
import type { Digest } from '../oci/digest.ts';

/** The command that asked for the plan. */
export type Intent = 'apply' | 'boot' | 'update' | 'rollback' | 'remove';

export type ActionKind =
  /** Register the unit (and its keep-alive slice) and start it. */
  | 'create'
  /** Nothing to do: the unit runs the wanted deployment. */
  | 'keep'
  /** The unit is registered but not running (stopped, failed): start it (re-rendering first if inputs changed). */
  | 'start'
  /** The rendered inputs changed: render the new deployment, restart the unit on it. */
  | 'restart'
  /** Unit properties changed (limits, ordering, notify): unregister and register the unit again. */
  | 'recreate'
  /** A newer image: render it into the other slot, switch, restart, health-gate, switch back if the gate fails. */
  | 'update'
  /** Switch to the previous deployment and restart the unit. */
  | 'rollback'
  /** Stop and unregister the unit, delete the container's bundles and keel's record. */
  | 'remove'
  /** Boot: the image is not in the store; it is pulled in the background once the network is up, then started. */
  | 'wait-image'
  /** A container it requires cannot start now; it starts with it. */
  | 'blocked'
  /** Not acted on, and not an error (update of a container that is not deployed). */
  | 'skip'
  /** Cannot be done; `reasons` says why. The others still go ahead. */
  | 'fail';

/** Where the digest a container will run comes from. */
export type ImageSource =
  /** The digest the active deployment runs (boot, and apply of an unchanged reference). */
  | 'pinned'
  /** The store's ref for the reference. */
  | 'store'
  /** Just resolved from the registry (update, pull: always). */
  | 'registry'
  /** Not in the store: it must be pulled first. */
  | 'missing';

export interface ImageFacts {
  /** The store name (registry/repo:tag). */
  readonly name: string;
  readonly source: ImageSource;
  /** The platform manifest digest the container will run; undefined while it is still to be pulled. */
  readonly digest?: Digest | undefined;
  /** The executor pulls the image before rendering. */
  readonly pull: boolean;
  /** Pulling it failed (apply): the container fails with this code, the others go ahead. */
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

export interface DesiredContainer {
  readonly spec: ContainerSpec;
  /** The spec as rendered (canonical JSON, no source position): diffed against the active deployment's. */
  readonly inputs: Readonly<Record<string, unknown>>;
  readonly image: ImageFacts;
  /** The inputs digest the render would give (undefined until the digest is known). */
  readonly inputsDigest?: Digest | undefined;
  /** Digest of the unit's properties. */
  readonly unitDigest: string;
  /**
   * Set when the container's host inputs could not be read (an envFiles file,
   * the init binary): it fails alone, as a failed pull does, and the others go on.
   */
  readonly error?: { readonly code: string; readonly message: string } | undefined;
  /** Each unit property's value as JSON, to name the ones that changed. */
  readonly unitSettings: Readonly<Record<string, string>>;
}

/** One rendered slot of a container (keel-bundle.json). */
export interface Deployment {
  readonly slot: 'a' | 'b';
  readonly imageName: string;
  readonly imageDigest: Digest;
  readonly inputsDigest: Digest;
  /** The rendered spec (canonical JSON), when the record has it. */
  readonly spec?: Readonly<Record<string, unknown>> | undefined;
  /** When the slot was rendered (ISO), from the record's mtime. */
  readonly renderedAt?: string | undefined;
  /** The manifest's media type, to read a pinned digest back from the store. */
  readonly mediaType?: string | undefined;
  /** Set when this deployment failed an update's health gate and was switched away from. */
  readonly failed?: { readonly at: string; readonly code: string; readonly message: string } | undefined;
}

/** What systemd says about the container's unit. */
export interface UnitFacts {
  readonly loadState: string;
  readonly activeState: string;
  readonly subState: string;
  readonly mainPid: number;
  /** Units that Require=/BindsTo= it. */
  readonly requiredBy: readonly string[];
}

/** keel's record of what it registered (/run/keel/units/NAME.json). */
export interface AppliedFacts {
  readonly inputsDigest: string;
  readonly unitDigest?: string | undefined;
  readonly unitSettings?: Readonly<Record<string, string>> | undefined;
  /** A (re)start was begun and not confirmed. */
  readonly pending?: boolean | undefined;
}

export interface ObservedContainer {
  readonly name: string;
  /** undefined: systemd was not asked (a dry run without a bus). */
  readonly unit?: UnitFacts | undefined;
  /** keel: created by keel (or nothing registered); foreign: a unit of that name keel did not create. */
  readonly owner: 'keel' | 'foreign';
  /** Why the unit is foreign (for the message). */
  readonly foreignReason?: string | undefined;
  readonly applied?: AppliedFacts | undefined;
  readonly active?: Deployment | undefined;
  /** The other slot, when it holds a complete deployment (the rollback target). */
  readonly previous?: Deployment | undefined;
}

export interface PlannedAction {
  readonly name: string;
  readonly unit: string;
  readonly action: ActionKind;
  /** For people: why (what changed, what is missing). */
  readonly reasons: readonly string[];
  /** For scripts: which inputs changed (image, command, env, mounts, ..., unit:MemoryMax). */
  readonly changes: readonly string[];
  /** The image the container runs after the action (from: before). */
  readonly image?: { readonly name: string; readonly from?: Digest | undefined; readonly to?: Digest | undefined; readonly pull: boolean } | undefined;
  /** Containers restarted after this one (update, rollback), in start order. */
  readonly restartDependents: readonly string[];
  /** The executor health-gates the new deployment and switches back on failure. */
  readonly healthGate: boolean;
  /** For `fail`: the error code the container is reported with. */
  readonly code?: string | undefined;
}

export interface PlanProblem {
  readonly name: string;
  /** An ErrorCode (kept as a string so the plan stays plain data). */
  readonly code: string;
  readonly message: string;
  readonly hint?: string | undefined;
}

export interface Plan {
  readonly intent: Intent;
  /** In execution order: removals (dependents first), then the rest in start order. */
  readonly actions: readonly PlannedAction[];
  /** Refusals that stop the whole plan before anything changes (a foreign unit, a dependency left behind). */
  readonly problems: readonly PlanProblem[];
}
