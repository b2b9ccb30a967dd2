// Loads the native addon: a prebuild for this platform if the package ships
// one, else a local build. When nothing loads, the error lists every path tried.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeBinding } from './native.js';

const require = createRequire(import.meta.url);
// dist/lib/binding.js -> package root
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function load(): NativeBinding {
  const tried: string[] = [];
  const override = process.env.COMMY_ADDON_PATH;
  if (override) {
    tried.push(override);
    return require(resolve(override)) as NativeBinding;
  }
  const errors: string[] = [];
  try {
    const nodeGypBuild = require('node-gyp-build') as { (dir: string): unknown; path(dir: string): string };
    return nodeGypBuild(packageRoot) as NativeBinding;
  } catch (err) {
    errors.push((err as Error).message);
  }
  const platformDir = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  tried.push(
    platformDir,
    join(packageRoot, 'build', 'Release', 'commy.node'),
    join(packageRoot, 'build', 'Debug', 'commy.node'),
  );
  for (const candidate of tried.slice(1)) {
    if (candidate.endsWith('.node') && existsSync(candidate)) {
      try {
        return require(candidate) as NativeBinding;
      } catch (err) {
        errors.push(`${candidate}: ${(err as Error).message}`);
      }
    }
  }
  const e = new Error(
    `commy: could not load its native addon for ${process.platform}-${process.arch} (Node ${process.version}, ` +
      `N-API 8). Tried:\n  ${tried.join('\n  ')}\n${errors.join('\n')}\n` +
      'Reinstall commy, or build it from source with `npm rebuild commy --build-from-source` ' +
      '(needs python3 and a C++20 compiler).',
  ) as Error & { code: string };
  e.code = 'ERR_COMMY_ADDON_NOT_FOUND';
  throw e;
}

export const binding: NativeBinding = load();
