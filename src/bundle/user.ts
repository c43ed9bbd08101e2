// Resolves an image's or manifest's `user` (name, uid, uid:gid, name:group) to
// numeric ids using the rootfs's own /etc/passwd and /etc/group — never the
// host's resolver, which would answer for the wrong system.

import { KeelError } from '../errors.ts';
import { readFileInRoot } from './root-path.ts';

export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
  readonly home?: string | undefined;
}

const MAX_DB_BYTES = 4 << 20;

interface DbEntry {
  readonly name: string;
  readonly id: number;
  readonly gid: number;
  readonly home: string;
  readonly members: readonly string[];
}

function parseDb(text: string | undefined, kind: 'passwd' | 'group'): DbEntry[] {
  if (text === undefined) return [];
  const entries: DbEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const f = line.split(':');
    const id = Number(f[2]);
    if (!f[0] || !Number.isSafeInteger(id) || id < 0) continue;
    if (kind === 'passwd') {
      entries.push({ name: f[0], id, gid: Number(f[3] ?? 0) || 0, home: f[5] ?? '/', members: [] });
    } else {
      entries.push({ name: f[0], id, gid: id, home: '', members: (f[3] ?? '').split(',').filter(Boolean) });
    }
  }
  return entries;
}

const NUMERIC = /^[0-9]{1,10}$/;

function toId(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xfffffffe) throw new KeelError('E_MANIFEST_INVALID', `${what} ${value} is out of range`);
  return n;
}

export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ResolvedUser> {
  if (spec === undefined || spec === '') return { uid: 0, gid: 0, additionalGids: [] };
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = parseDb((await readFileInRoot(rootfs, '/etc/passwd', MAX_DB_BYTES))?.toString('utf8'), 'passwd');
  const groups = parseDb((await readFileInRoot(rootfs, '/etc/group', MAX_DB_BYTES))?.toString('utf8'), 'group');

  let uid: number;
  let gid = 0;
  let name: string | undefined;
  let home: string | undefined;
  if (NUMERIC.test(userPart)) {
    uid = toId(userPart, 'uid');
    const entry = passwd.find((e) => e.id === uid);
    if (entry) ({ gid, name, home } = { gid: entry.gid, name: entry.name, home: entry.home });
  } else {
    const entry = passwd.find((e) => e.name === userPart);
    if (!entry) {
      throw new KeelError('E_MANIFEST_INVALID', `user ${JSON.stringify(userPart)} is not in the image's /etc/passwd`, {
        hint: 'use a numeric uid[:gid], or a user the image defines',
      });
    }
    ({ id: uid, gid, name, home } = entry);
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = toId(groupPart, 'gid');
    else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw new KeelError('E_MANIFEST_INVALID', `group ${JSON.stringify(groupPart)} is not in the image's /etc/group`);
      gid = g.id;
    }
  }
  const additionalGids = name === undefined ? [] : groups.filter((g) => g.members.includes(name) && g.id !== gid).map((g) => g.id);
  return { uid, gid, additionalGids: [...new Set(additionalGids)], home };
}
