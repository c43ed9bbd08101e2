// --set VAR=VALUE (repeatable), shared by validate, apply and boot.

import { KeelError } from '../../errors.ts';

export function parseSetOptions(value: string | boolean | string[] | undefined): Record<string, string> {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new KeelError('E_USAGE', `--set ${JSON.stringify(item)} is not VAR=VALUE`, { hint: 'e.g. --set ETCD_IMAGE=quay.io/coreos/etcd:v3.5.17' });
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
