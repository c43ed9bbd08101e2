// Maps what systemd says into keel's error codes: D-Bus error replies (by
// their error name) and job results from the JobRemoved signal. Pure; one
// place, so every caller reports the same thing for the same cause.

import { KeelError, isKeelError, type ErrorCode } from '../errors.ts';
import { BusCallError } from './bus.ts';

/** The result strings systemd 252 puts in JobRemoved (src/core/job.c job_result_table). */
export type JobResult = 'done' | 'canceled' | 'timeout' | 'failed' | 'dependency' | 'skipped' | 'invalid' | 'assert' | 'unsupported' | 'collected' | 'once';

const JOB_RESULT_CODES: Readonly<Record<string, ErrorCode>> = {
  failed: 'E_UNIT_FAILED',
  assert: 'E_UNIT_FAILED',
  timeout: 'E_UNIT_TIMEOUT',
  dependency: 'E_UNIT_DEPENDENCY',
  canceled: 'E_UNIT_CANCELED',
  collected: 'E_UNIT_CANCELED',
  skipped: 'E_UNIT_SKIPPED',
  invalid: 'E_UNIT_SKIPPED',
  unsupported: 'E_UNIT_SKIPPED',
  once: 'E_UNIT_SKIPPED',
};

/** The error code for a job result other than "done" (unknown results count as failed). */
export function jobResultCode(result: string): ErrorCode {
  return JOB_RESULT_CODES[result] ?? 'E_UNIT_FAILED';
}

const UNAVAILABLE = new Set([
  'org.freedesktop.DBus.Error.ServiceUnknown',
  'org.freedesktop.DBus.Error.NameHasNoOwner',
  'org.freedesktop.DBus.Error.NoReply',
  'org.freedesktop.DBus.Error.Disconnected',
  'org.freedesktop.DBus.Error.Timeout',
  'org.freedesktop.DBus.Error.TimedOut',
  'org.freedesktop.DBus.Error.NoServer',
  'org.freedesktop.DBus.Error.LimitsExceeded',
  'org.freedesktop.systemd1.ShuttingDown',
]);

const DENIED = new Set([
  'org.freedesktop.DBus.Error.AccessDenied',
  'org.freedesktop.DBus.Error.AuthFailed',
  'org.freedesktop.DBus.Error.InteractiveAuthorizationRequired',
]);

/** Wraps a failed bus call in a KeelError that says what keel was doing. */
export function mapBusError(action: string, err: unknown, unit?: string): KeelError {
  if (isKeelError(err)) return err;
  const detail: Record<string, unknown> = unit === undefined ? {} : { unit };
  if (!(err instanceof BusCallError)) {
    const reason = err instanceof Error ? err.message : String(err);
    return new KeelError('E_INTERNAL', `${action}: ${reason}`, { cause: err, detail });
  }
  detail['dbusError'] = err.type;
  const message = `${action}: ${err.message} (${err.type})`;
  if (err.type === 'org.freedesktop.systemd1.NoSuchUnit') {
    return new KeelError('E_UNIT_NOT_FOUND', message, { cause: err, detail, hint: 'systemctl list-units --all shows what is loaded' });
  }
  if (err.type === 'org.freedesktop.systemd1.UnitExists') {
    return new KeelError('E_UNIT_EXISTS', message, { cause: err, detail, hint: 'stop or remove the existing unit first' });
  }
  if (DENIED.has(err.type)) {
    return new KeelError('E_PERMISSION', message, { cause: err, detail, hint: 'run keel as root' });
  }
  if (UNAVAILABLE.has(err.type)) {
    return new KeelError('E_SYSTEMD_UNAVAILABLE', message, { cause: err, detail, hint: 'is systemd running and reachable on the system bus?' });
  }
  return new KeelError('E_SYSTEMD_REFUSED', message, { cause: err, detail });
}
