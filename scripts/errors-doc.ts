// Prints docs/errors.md from the CODES table in src/errors.ts
// (`npm run docs:errors`); test/unit/errors.test.ts checks they agree.

import { CODES, Exit } from '../src/errors.ts';

const statusName = new Map<number, string>(Object.entries(Exit).map(([name, n]) => [n, name === 'OK' || name === 'FAILURE' ? name : `EX_${name}`]));

export function renderErrorsDoc(): string {
  const byStatus = new Map<number, string[]>();
  for (const [code, info] of Object.entries(CODES)) byStatus.set(info.exit, [...(byStatus.get(info.exit) ?? []), code]);
  const lines = [
    '# Errors and exit statuses',
    '',
    'Every failure keel reports carries a stable code (`E_…`), printed at the end of the error line',
    '(`keel: error: … [E_CODE]`), followed by a `keel: hint:` line when there is something to do.',
    'Scripts and tests should match on the code, never on the message text. Only the CLI turns a',
    'code into an exit status, using the sysexits(3) numbers (which systemd also knows by name, so',
    '`RestartPreventExitStatus=` and `SuccessExitStatus=` can name them).',
    '',
    '| exit | name | meaning |',
    '| --- | --- | --- |',
    '| 0 | OK | success |',
    '| 64 | EX_USAGE | the command line is wrong |',
    '| 65 | EX_DATAERR | bad input data: a hostile or malformed layer, an inconsistent store (`keel check`) |',
    '| 66 | EX_NOINPUT | the image or blob does not exist |',
    '| 69 | EX_UNAVAILABLE | a service keel needs could not be reached |',
    '| 70 | EX_SOFTWARE | a bug in keel |',
    '| 73 | EX_CANTCREAT | an output cannot be created (it exists, or its filesystem is read-only) |',
    '| 74 | EX_IOERR | an I/O error, or the filesystem is full |',
    '| 75 | EX_TEMPFAIL | a temporary failure: try again (registry overloaded, store locked, interrupted) |',
    '| 76 | EX_PROTOCOL | a registry or source sent something invalid or unverifiable |',
    '| 77 | EX_NOPERM | permission denied (not root, registry refused credentials) |',
    '| 78 | EX_CONFIG | a configuration problem |',
    '',
    '## Codes',
    '',
    '| code | exit | meaning |',
    '| --- | --- | --- |',
  ];
  for (const [code, info] of Object.entries(CODES)) {
    lines.push(`| \`${code}\` | ${info.exit} (${statusName.get(info.exit) ?? '?'}) | ${info.summary.replaceAll('|', '\\|')} |`);
  }
  lines.push('');
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(renderErrorsDoc());
