// The systemd face: a D-Bus client for systemd's Manager API (client.ts) and
// the pure rendering of unit settings into D-Bus properties (properties.ts).

export { SystemdClient } from './client.ts';
export type { JobMode, JobOptions, JobOutcome, PendingJob, StartTransientOptions, SystemdClientOptions, UnitState } from './client.ts';
export {
  UINT64_MAX,
  durationToUsec,
  keepAliveSliceName,
  renderKeepAliveProperties,
  renderServiceProperties,
  signalNumber,
} from './properties.ts';
export type {
  CollectMode,
  Duration,
  KillMode,
  Limit,
  NotifyAccess,
  RestartPolicy,
  ServiceSettings,
  ServiceType,
  UnitProperties,
  UnitProperty,
} from './properties.ts';
export { escapeUnitComponent, parseUnitName, unitObjectPath, UNIT_NAME_MAX, UNIT_TYPES } from './unit-name.ts';
export type { UnitNameRules, UnitType } from './unit-name.ts';
export { jobResultCode, mapBusError } from './map-errors.ts';
export type { JobResult } from './map-errors.ts';
