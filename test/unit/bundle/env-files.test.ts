// envFiles (issue 11): the KEY=value syntax table, merging in order, and the
// errors, which name the file and line but never a value.

import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { envFilesFact, parseEnvFile, readEnvFiles } from '../../../src/bundle/index.ts';
import { isKeelError } from '../../../src/errors.ts';
import { tempDir } from './helpers.ts';

const SECRET = 'hunter2-s3cr3t';

describe('parseEnvFile', () => {
  const ok: Array<[string, string, Record<string, string>]> = [
    ['one variable', 'A=1\n', { A: '1' }],
    ['no final newline', 'A=1', { A: '1' }],
    ['blank lines and comments', '\n# comment\n  # indented comment\n; semicolon comment\n\t\nA=1\n', { A: '1' }],
    ['CRLF line ends', 'A=1\r\nB=2\r\n', { A: '1', B: '2' }],
    ['leading blanks before the name', '   A=1\n', { A: '1' }],
    ['value taken literally: = # $ spaces', 'URL=http://h/?a=b#frag ${HOME} \n', { URL: 'http://h/?a=b#frag ${HOME} ' }],
    ['empty value', 'EMPTY=\n', { EMPTY: '' }],
    ['a quote inside the value', "MSG=it's\n", { MSG: "it's" }],
    ['later line wins', 'A=1\nA=2\n', { A: '2' }],
  ];
  for (const [what, text, want] of ok) {
    it(`accepts ${what}`, () => assert.deepEqual(Object.fromEntries(parseEnvFile(text, '/f.env')), want));
  }

  const bad: Array<[string, string, number, RegExp]> = [
    ['a line without =', `A=1\n${SECRET}\n`, 2, /no "="/],
    ['export NAME=', `export TOKEN=${SECRET}\n`, 1, /not a variable name/],
    ['a blank before =', `TOKEN =${SECRET}\n`, 1, /not a variable name/],
    ['a name starting with a digit', `1A=${SECRET}\n`, 1, /not a variable name/],
    ['a double-quoted value', `TOKEN="${SECRET}"\n`, 1, /starts with a quote/],
    ['a single-quoted value', `TOKEN='${SECRET}'\n`, 1, /starts with a quote/],
    ['a continuation line', `TOKEN=${SECRET}\\\nmore\n`, 1, /backslash/],
    ['a NUL byte', `TOKEN=${SECRET}\0\n`, 1, /NUL/],
  ];
  for (const [what, text, line, message] of bad) {
    it(`refuses ${what}, naming file and line but not the value`, () => {
      assert.throws(() => parseEnvFile(text, '/etc/keel/x.env'), (err: unknown) => {
        assert.ok(isKeelError(err, 'E_ENV_FILE'));
        assert.match(err.message, new RegExp(`^env file /etc/keel/x\\.env line ${line}: `));
        assert.match(err.message, message);
        assert.deepEqual(err.detail, { file: '/etc/keel/x.env', line });
        assert.ok(!JSON.stringify([err.message, err.hint, err.detail]).includes(SECRET), 'the value is not in the error');
        return true;
      });
    });
  }
});

describe('readEnvFiles', () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir('keel-env-files-');
    await writeFile(`${tmp.path}/a.env`, 'A=from-a\nB=from-a\n');
    await writeFile(`${tmp.path}/b.env`, '# b\nB=from-b\nC=from-b\n');
    await writeFile(`${tmp.path}/latin1.env`, Buffer.from([0x41, 0x3d, 0xe9, 0x0a]));
    await mkdir(`${tmp.path}/dir.env`);
  });
  after(async () => tmp.cleanup());

  it('merges the files in order, a later file winning', async () => {
    assert.deepEqual(await readEnvFiles([`${tmp.path}/a.env`, `${tmp.path}/b.env`]), { A: 'from-a', B: 'from-b', C: 'from-b' });
    assert.deepEqual(await readEnvFiles([`${tmp.path}/b.env`, `${tmp.path}/a.env`]), { A: 'from-a', B: 'from-a', C: 'from-b' });
    assert.deepEqual(await readEnvFiles([]), {});
  });

  for (const [what, name, message] of [
    ['a missing file', 'missing.env', /missing\.env does not exist$/],
    ['a directory', 'dir.env', /dir\.env is not a regular file$/],
    ['a file that is not UTF-8', 'latin1.env', /latin1\.env is not UTF-8 text$/],
  ] as const) {
    it(`${what} is E_ENV_FILE naming it`, async () => {
      await assert.rejects(readEnvFiles([`${tmp.path}/a.env`, `${tmp.path}/${name}`]), (err: unknown) => {
        assert.ok(isKeelError(err, 'E_ENV_FILE'));
        assert.match(err.message, message);
        assert.equal(err.detail['file'], `${tmp.path}/${name}`);
        return true;
      });
    });
  }

  it('an unreadable file is E_ENV_FILE (when not root, who reads anything)', { skip: process.getuid?.() === 0 ? 'root reads a 000 file' : false }, async () => {
    await writeFile(`${tmp.path}/locked.env`, 'A=1\n');
    await chmod(`${tmp.path}/locked.env`, 0);
    await assert.rejects(readEnvFiles([`${tmp.path}/locked.env`]), { code: 'E_ENV_FILE' });
  });

  it('the inputs-digest fact changes with a value and not with comments or order of lines', () => {
    const base = envFilesFact({ A: '1', B: '2' });
    assert.equal(envFilesFact({ B: '2', A: '1' }), base);
    assert.notEqual(envFilesFact({ A: '1', B: '3' }), base);
    assert.match(base, /^sha256:[0-9a-f]{64}$/);
  });
});
