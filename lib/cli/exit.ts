// Exit codes of the commy CLI (README, "Exit codes") and the mapping from errors.
import { ConfigError } from '../errors.js';

export const ExitCode = {
  Ok: 0,
  Runtime: 1,
  Usage: 2,
  NoRegion: 3,
  WriterDead: 4,
} as const;

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
  if (err instanceof ConfigError) return ExitCode.Usage;
  const code = (err as { code?: string }).code;
  if (code === 'ERR_REGION_NOT_FOUND') return ExitCode.NoRegion;
  if (code === 'ERR_INVALID_ARG') return ExitCode.Usage;
  return ExitCode.Runtime;
}
