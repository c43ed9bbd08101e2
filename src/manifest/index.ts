// manifest/: YAML system-container manifests -> validated, frozen ContainerSpecs.
// The format is defined once, in keys.ts; schema.ts derives manifests/schema.json from it.

export type { ContainerSpec, CredentialSpec, HealthCheckSpec, Mount, BindMount, TmpfsMount, UserSpec } from './spec.ts';
export type { ManifestProblem } from './problem.ts';
export type { LoadOptions } from './parse-text.ts';
export type { Capability, Propagation, RestartPolicy, StopSignal } from './constants.ts';
export { formatProblem, problemsError } from './problem.ts';
export { loadManifests, parseManifestText } from './load.ts';
export { manifestSchema, renderSchemaJson } from './schema.ts';
export { CAPABILITIES, CONTAINER_DEFAULT_CAPABILITIES, DEFAULT_STORE_ROOT, SENSITIVE_SOURCES, MAX_FILE_BYTES, sensitiveSource } from './constants.ts';
export { BUILTIN_NAMES } from './variables.ts';
