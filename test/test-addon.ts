// Loads the test-only addon commy_test.node (test/native/raw_mapping_addon.cc), which the production addon
// and the npm package never contain: from COMMY_TEST_ADDON_PATH if set (the Wine run), else build/Release|Debug.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// dist/test/test-addon.js -> the repository root
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A raw read-write mapping of an object under a region's name. */
export interface RawMapping {
  /** A copy of `length` mapped bytes at `offset`. */
  read(offset: number, length: number): Buffer;
  /** Copies `bytes` into the mapping at `offset`, bypassing every seqlock. */
  write(offset: number, bytes: Buffer): void;
  /** Unmaps; a created object is also unlinked. */
  close(): void;
}

interface TestAddon {
  /** A new owner-only object holding a copy of `bytes`; ERR_REGION_EXISTS if `name` is taken. */
  createRawRegion(name: string, bytes: Buffer): RawMapping;
  /** Maps an existing region read-write beside its writer (no lock taken); close() leaves it in place. */
  openRawRegion(name: string): RawMapping;
}

export interface TestAddonOptions {
  /** Where build/ lives; the repository root unless a test says otherwise. */
  root?: string;
  /** Load exactly this file (relative to the working directory) and nothing else. */
  addonPath?: string;
}

/** Loads commy_test.node, or throws ERR_TEST_ADDON_NOT_FOUND naming every path tried and why each failed. */
export function loadTestAddon(opts: TestAddonOptions = {}): TestAddon {
  const root = opts.root ?? repoRoot;
  const files = opts.addonPath
    ? [resolve(opts.addonPath)]
    : ['Release', 'Debug'].map((config) => join(root, 'build', config, 'commy_test.node'));
  const failures: string[] = [];
  for (const file of files) {
    try {
      const addon = require(file) as Partial<TestAddon>;
      if (typeof addon.createRawRegion === 'function') return addon as TestAddon;
      failures.push(`${file}: loaded, but it has no createRawRegion (not the test addon)`);
    } catch (err) {
      failures.push(`${file}: ${String((err as Error).message).split('\n')[0]}`);
    }
  }
  const how = opts.addonPath ? ' (COMMY_TEST_ADDON_PATH is set, so only that file was tried)' : '';
  const e = new Error(
    `the test addon commy_test.node did not load${how}. Tried:\n  ${failures.join('\n  ')}\n` +
      'Build it with `npm run build:native` (node-gyp builds it beside commy.node), ' +
      'or point COMMY_TEST_ADDON_PATH at a build of test/native/raw_mapping_addon.cc.',
  ) as Error & { code: string };
  e.code = 'ERR_TEST_ADDON_NOT_FOUND';
  throw e;
}

let loaded: TestAddon | undefined;
/** The test addon, loaded on first use so that only the tests needing it fail when it is missing. */
export function testAddon(): TestAddon {
  loaded ??= loadTestAddon({ addonPath: process.env.COMMY_TEST_ADDON_PATH || undefined });
  return loaded;
}
