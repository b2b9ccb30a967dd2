// Exit codes of the commy CLI, and the mapping from an error to its exit code
// through the error-code table in lib/errors.ts.
import { ExitCode, errorCodeInfo } from '../errors.js';

export { ExitCode };

/** A failure that already knows its exit code and message. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && errorCodeInfo(code)?.exitCode) || ExitCode.Runtime;
}
