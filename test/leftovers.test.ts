// The suite's own leftover check (test/leftovers.ts, required by .mocharc.json),
// run on a suite that leaks a region and fails: the run must fail naming it, and
// nothing may stay in /dev/shm.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listRegionNames, regionName } from '../lib/region/index.js';
import { uniqueKey } from '../harness/names.js';

const dist = dirname(fileURLToPath(import.meta.url));

describe('the test suite leaves no region behind', () => {
  it('a failed test that leaked a region fails the run, naming it, and the region is removed', function () {
    if (listRegionNames() === null) {
      console.log('      skipped: this OS cannot list regions (Windows mappings go with their last handle)');
      this.skip();
    }
    const { cluster } = uniqueKey('leak');
    const name = regionName({ cluster, serverId: 'a' });
    const mocha = join(dist, '..', '..', 'node_modules', 'mocha', 'bin', 'mocha.js');
    const r = spawnSync(
      process.execPath,
      [mocha, '--no-config', '--require', join(dist, 'leftovers.js'), join(dist, 'fixtures', 'leaky.spec.js')],
      { encoding: 'utf8', env: { ...process.env, LEAKY_CLUSTER: cluster }, timeout: 60_000 },
    );
    expect(r.status, r.stdout + r.stderr).to.not.equal(0);
    expect(r.stdout + r.stderr).to.include(`left 1 region(s) in /dev/shm (now removed): ${name}`);
    expect(listRegionNames()).to.not.include(name);
    expect(existsSync(`/dev/shm${name}`)).to.equal(false);
  });
});
