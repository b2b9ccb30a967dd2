// The error-code table: the README documents exactly its codes with the same
// exit codes, and the CLI's exit code for an error comes from it.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommyError, ConfigError, ErrorCode, errorCodes, isErrorCode } from '../lib/index.js';
import { ProtocolError } from '../lib/protocol/errors.js';
import { CliError, ExitCode, exitCodeFor } from '../lib/cli/exit.js';

const readme = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');

/** The rows of the README's "Error codes" table as code -> exit code. */
function readmeErrorCodes(): Map<string, number> {
  const text = readFileSync(readme, 'utf8');
  const start = text.indexOf('\n## Error codes\n');
  expect(start, 'README has an "Error codes" section').to.be.greaterThan(-1);
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end === -1 ? undefined : end);
  const rows = new Map<string, number>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([A-Z0-9_]+)`\s*\|\s*(\d+)\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    expect(rows.has(m[1]), `${m[1]} listed twice`).to.equal(false);
    expect(m[3].trim(), `${m[1]} has a meaning`).to.not.equal('');
    rows.set(m[1], Number(m[2]));
  }
  return rows;
}

describe('error codes', () => {
  it("the README's Error codes table lists exactly the exported codes, with the same exit codes", () => {
    const documented = readmeErrorCodes();
    const exported = new Map(Object.values(errorCodes).map((e) => [e.code, e.exitCode as number]));
    expect([...documented.keys()].sort()).to.deep.equal([...exported.keys()].sort());
    for (const [code, exitCode] of exported) expect(documented.get(code), code).to.equal(exitCode);
  });

  it('codes are unique and ErrorCode names each one', () => {
    const codes = Object.values(errorCodes).map((e) => e.code);
    expect(new Set(codes).size).to.equal(codes.length);
    expect(Object.values(ErrorCode).sort()).to.deep.equal([...codes].sort());
    for (const c of codes) expect(isErrorCode(c), c).to.equal(true);
    expect(isErrorCode('ERR_NOT_A_COMMY_CODE')).to.equal(false);
  });

  it("the CLI exit code of any error carrying a code is the table's, whatever its class", () => {
    for (const e of Object.values(errorCodes)) {
      // Native addon errors are plain Errors with a code: the table decides for them too.
      const plain = Object.assign(new Error('x'), { code: e.code });
      expect(exitCodeFor(plain), e.code).to.equal(e.exitCode);
      expect(exitCodeFor(new CommyError(e.code, 'x')), e.code).to.equal(e.exitCode);
    }
    expect(exitCodeFor(new ConfigError('peers[0]', 'bad'))).to.equal(ExitCode.Usage);
    expect(exitCodeFor(new ProtocolError(ErrorCode.Auth, 'bad proof'))).to.equal(ExitCode.Runtime);
    expect(exitCodeFor(new CliError(ExitCode.WriterDead, 'dead'))).to.equal(ExitCode.WriterDead);
    expect(exitCodeFor(Object.assign(new Error('x'), { code: 'EADDRINUSE' }))).to.equal(ExitCode.Runtime);
    expect(exitCodeFor(undefined)).to.equal(ExitCode.Runtime);
  });

  it('ConfigError and ProtocolError are CommyErrors with table codes', () => {
    const c = new ConfigError('listen', 'must be "host:port"');
    expect(c).to.be.instanceOf(CommyError);
    expect(c).to.include({ code: ErrorCode.Config, field: 'listen' });
    const p = new ProtocolError(ErrorCode.BadFrame, 'empty frame');
    expect(p).to.be.instanceOf(CommyError);
    expect(isErrorCode(p.code)).to.equal(true);
  });
});
