// runtime/: how keel runs a rendered bundle — runc argv and calls, the
// transient unit that runs it, keel's record of applied units, the journal.

export { RUNC_ROOT, deleteArgv, execArgv, runArgv, runcDelete, runcPath, runcState } from './runc.ts';
export type { RuncOptions, RuncState } from './runc.ts';
export { CONTAINER_SLICE, containerCgroupsPath, containerServiceSettings, renderContainerUnit, signalExitStatus } from './unit.ts';
export type { ContainerUnitOptions } from './unit.ts';
export { RECORD_DIR, listAppliedRecords, readAppliedRecord, removeAppliedRecord, writeAppliedRecord } from './applied-record.ts';
export type { AppliedRecord } from './applied-record.ts';
export { journalArgv, journalTail } from './journal.ts';
export { managerNofileHardLimit } from './host-limits.ts';
