// Harness (shared by test/, scripts/bench/ and scripts/soak/; see harness/README.md):
// forking the compiled fixtures of test/fixtures/ (dist/test/fixtures/).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forkChild, type ForkedChild } from './processes.js';

/** dist/harness -> dist/test/fixtures. */
export const fixturesDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures');

/** Forks a compiled fixture from test/fixtures with an IPC channel; `uid`/`gid` need root. */
export function forkFixture(
  name: string,
  args: string[] = [],
  opts: { uid?: number; gid?: number; env?: Record<string, string> } = {},
): ForkedChild {
  return forkChild(join(fixturesDir, name), args, opts);
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
