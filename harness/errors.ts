// Harness (see harness/README.md): what a call threw, for tests that check
// error codes and messages.
import { CommyError } from '../lib/errors.js';

/** The error `fn` threw (its code and message), or undefined if it returned. */
export function thrown(fn: () => unknown): { code?: string; message: string; commy: boolean } | undefined {
  try {
    fn();
  } catch (err) {
    return {
      code: (err as { code?: string }).code,
      message: (err as Error).message,
      commy: err instanceof CommyError,
    };
  }
  return undefined;
}

/** The `code` of the error `fn` threw, or undefined if it returned. */
export function codeOf(fn: () => unknown): string | undefined {
  return thrown(fn)?.code;
}
