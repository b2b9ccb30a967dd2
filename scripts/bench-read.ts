// `npm run bench:read [-- --quick]`: the read benchmark alone (scripts/bench/read.ts):
// ClusterView.snapshot()/getPeer() from another process against a Unix socket,
// HTTP, Redis and a JSON file, for 3, 16 and 256 peers, plus the reads under a
// writer at full speed. `npm run bench` runs it with the others and writes
// docs/BENCHMARKS.md.
await import('./bench/read.js');
