// Harness (shared by test/, scripts/bench/ and scripts/soak/; see harness/README.md):
// region keys that no other test, benchmark or concurrent run uses.

let counter = 0;

/** A cluster name (and a server id) unique to this process and call. */
export function uniqueKey(prefix = 't'): { cluster: string; serverId: string } {
  counter++;
  return { cluster: `${prefix}${process.pid}x${counter}`, serverId: `s${Date.now() % 100000}` };
}
