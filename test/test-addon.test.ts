// The test-only addon stays out of the production one: commy.node has no createRawRegion, and
// test/test-addon.ts loads commy_test.node or says which paths it tried.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binding, bindingPath } from '../lib/binding.js';
import { regionName } from '../lib/region/index.js';
import { uniqueKey } from '../harness/names.js';
import { loadTestAddon, testAddon, type RawMapping } from './test-addon.js';

function loadError(opts: Parameters<typeof loadTestAddon>[0]): Error & { code?: string } {
  try {
    loadTestAddon(opts);
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('loadTestAddon should have failed');
}

describe('test addon', () => {
  const raws: RawMapping[] = [];
  const roots: string[] = [];
  afterEach(() => {
    for (const r of raws.splice(0)) r.close();
    for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
  });

  it('the production addon has no createRawRegion or RawMapping, not even compiled in', () => {
    expect(Object.keys(binding)).to.not.include('createRawRegion');
    expect(binding).to.not.have.property('createRawRegion');
    const image = readFileSync(bindingPath);
    expect(image.includes('createRawRegion'), `${bindingPath} contains createRawRegion`).to.equal(false);
    expect(image.includes('RawMapping'), `${bindingPath} contains RawMapping`).to.equal(false);
  });

  it('creates an object under a region name, refuses a taken name, and close() removes it', () => {
    const name = regionName(uniqueKey());
    const bytes = Buffer.alloc(64, 7);
    raws.push(testAddon().createRawRegion(name, bytes));
    let code: string | undefined;
    try {
      raws.push(testAddon().createRawRegion(name, bytes));
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    expect(code).to.equal('ERR_REGION_EXISTS');
    raws.pop()?.close();
    // The name is free again only if close() unlinked the object.
    raws.push(testAddon().createRawRegion(name, bytes));
  });

  it('names both build folders when neither holds commy_test.node', () => {
    const root = mkdtempSync(join(tmpdir(), 'commy-test-addon-'));
    roots.push(root);
    const err = loadError({ root });
    expect(err.code).to.equal('ERR_TEST_ADDON_NOT_FOUND');
    expect(err.message).to.contain(join(root, 'build', 'Release', 'commy_test.node'));
    expect(err.message).to.contain(join(root, 'build', 'Debug', 'commy_test.node'));
    expect(err.message).to.contain('npm run build:native');
  });

  it('with COMMY_TEST_ADDON_PATH tries only that file, and rejects the production addon there', () => {
    const err = loadError({ addonPath: bindingPath });
    expect(err.code).to.equal('ERR_TEST_ADDON_NOT_FOUND');
    expect(err.message).to.contain('COMMY_TEST_ADDON_PATH is set');
    expect(err.message).to.contain(`${bindingPath}: loaded, but it has no createRawRegion`);
    expect(err.message, 'no build folder tried').to.not.contain('commy_test.node:');
  });
});
