// Benchmark helper for status-cli.ts: the least a status command has to do,
// open the region, take one snapshot, print it as `commy status --json` does,
// to show how much of the CLI's time is its own startup (module loading).
// argv: <cluster> <serverId>
import { ClusterView } from '../../lib/view.js';

const view = ClusterView.open({ cluster: process.argv[2], serverId: process.argv[3] });
process.stdout.write(`${JSON.stringify(view.snapshot(), null, 2)}\n`);
view.close();
