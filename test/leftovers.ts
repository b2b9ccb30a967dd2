// Mocha root hooks (required by .mocharc.json): the suite leaves no region
// behind. The commy names in /dev/shm at the start are remembered; any new one
// still there at the end is removed and fails the run, naming it, so that a
// test whose cleanup forgot a region (or failed before it) is found at once.
import { listRegionNames, removeDeadRegion } from '../lib/region/index.js';
import { binding } from '../lib/binding.js';
import { hostsLeftBehind } from '../harness/hosts.js';

let before: Set<string> | null = null;
let namespacesBefore = new Set<string>();

export const mochaHooks = {
  beforeAll(): void {
    namespacesBefore = new Set(hostsLeftBehind());
    const names = listRegionNames();
    before = names === null ? null : new Set(names);
  },
  afterAll(): void {
    const namespaces = hostsLeftBehind().filter((ns) => !namespacesBefore.has(ns));
    if (namespaces.length > 0)
      throw new Error(`the test run left network namespaces of simulated hosts: ${namespaces.join(', ')}`);
    if (before === null) return; // this OS cannot list regions (Windows: they go with their last handle)
    const left = (listRegionNames() ?? []).filter((n) => !before!.has(n));
    for (const name of left) {
      // A dead writer's region goes under its lock; anything else (a live writer of this process,
      // another account's object, a FIFO) by name: the suite's children are all gone by now.
      try {
        if (removeDeadRegion(name) !== 'alive') continue;
      } catch {
        // not ours to lock: removed by name below
      }
      try {
        binding.unlink(name);
      } catch {
        // gone meanwhile
      }
    }
    if (left.length > 0)
      throw new Error(`the test run left ${left.length} region(s) in /dev/shm (now removed): ${left.join(', ')}`);
  },
};
