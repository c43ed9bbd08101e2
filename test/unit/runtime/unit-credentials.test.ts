// credentials as unit properties (issue 11): LoadCredential= and LoadCredentialEncrypted= as the
// a(ss) systemd 252 reads for a transient unit, paths only; nothing added without credentials.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { isKeelError } from '../../../src/errors.ts';
import { parseManifestText, type ContainerSpec } from '../../../src/manifest/index.ts';
import { renderContainerUnit } from '../../../src/runtime/index.ts';
import { renderServiceProperties } from '../../../src/systemd/index.ts';

function spec(yaml: string): ContainerSpec {
  const { specs, problems } = parseManifestText(yaml, 'test.yaml', { builtins: { HOSTNAME: 'h', MACHINE_ID: '0'.repeat(32) } });
  assert.deepEqual(problems, []);
  return specs[0] as ContainerSpec;
}

const BASE = 'name: etcd\nimage: example.com/etcd:3.4\n';
const OPTS = { runc: '/usr/sbin/runc', bundleDir: '/var/lib/keel/containers/etcd/active' };

describe('credentials in the container unit', () => {
  it('plain and encrypted credentials become LoadCredential / LoadCredentialEncrypted a(ss), in manifest order', () => {
    const props = renderContainerUnit(spec(`${BASE}credentials:\n  - {name: peer-key, file: /etc/keel/creds/peer.key}\n  - {name: token, encryptedFile: /etc/keel/creds/token.cred}\n  - {name: ca.pem, file: /etc/keel/creds/ca.pem}\n`), OPTS);
    assert.deepEqual(props.find((p) => p.name === 'LoadCredential'), {
      name: 'LoadCredential', signature: 'a(ss)', value: [['peer-key', '/etc/keel/creds/peer.key'], ['ca.pem', '/etc/keel/creds/ca.pem']],
    });
    assert.deepEqual(props.find((p) => p.name === 'LoadCredentialEncrypted'), {
      name: 'LoadCredentialEncrypted', signature: 'a(ss)', value: [['token', '/etc/keel/creds/token.cred']],
    });
  });

  it('without credentials the unit has neither property (existing units keep their properties digest)', () => {
    const names = renderContainerUnit(spec(BASE), OPTS).map((p) => p.name);
    assert.ok(!names.includes('LoadCredential') && !names.includes('LoadCredentialEncrypted'));
    assert.ok(!renderContainerUnit(spec(`${BASE}credentials: [{name: t, file: /t}]\n`), OPTS).some((p) => p.name === 'LoadCredentialEncrypted'));
  });

  it('renderServiceProperties refuses an id systemd would refuse, or a relative path, before anything is sent', () => {
    const base = { description: 'x', execStart: ['/bin/true'] };
    for (const [id, path] of [['a/b', '/x'], ['a:b', '/x'], ['..', '/x'], ['', '/x'], ['ok', 'rel/x'], ['ok', '/a/../x']]) {
      assert.throws(() => renderServiceProperties({ ...base, loadCredential: [{ id: id as string, path: path as string }] }), (err: unknown) => isKeelError(err, 'E_UNIT_PROPERTY_INVALID'), `${id} ${path}`);
    }
  });
});
