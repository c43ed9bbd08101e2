import { strict as assert } from 'node:assert';
import { it } from 'node:test';
import { deleteArgv, execArgv, RUNC_ROOT, runArgv } from '../../../src/runtime/index.ts';

const O = { runc: '/usr/sbin/runc' };

it('every runc argv names keel’s own state root', () => {
  assert.equal(RUNC_ROOT, '/run/keel/runc');
  assert.deepEqual(runArgv(O, 'etcd', '/b'), ['/usr/sbin/runc', '--root', RUNC_ROOT, 'run', '--bundle', '/b', '--no-new-keyring', 'etcd']);
  assert.deepEqual(deleteArgv({ ...O, root: '/r' }, 'etcd'), ['/usr/sbin/runc', '--root', '/r', 'delete', '--force', 'etcd']);
});

it('execArgv puts --env before the id and the command after it', () => {
  assert.deepEqual(execArgv(O, 'etcd', ['etcdctl', 'version'], ['A=1']), [
    '/usr/sbin/runc', '--root', RUNC_ROOT, 'exec', '--env', 'A=1', 'etcd', 'etcdctl', 'version',
  ]);
});
