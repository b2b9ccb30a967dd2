// `commy route KEY`: the owners of a key, read from a node's region as ClusterView.route() gives them.
import { ConfigError } from '../../errors.js';
import { MAX_REPLICAS } from '../../routing.js';
import { ExitCode } from '../exit.js';
import { openView, positiveInt, type RegionFlags } from '../options.js';

export interface RouteFlags extends RegionFlags {
  replicas?: string;
  include?: string;
  json?: boolean;
}

export function routeCommand(key: string, o: RouteFlags): number {
  const replicas = positiveInt(o.replicas, '--replicas', 1, MAX_REPLICAS);
  const include = o.include ?? 'healthy';
  if (include !== 'healthy' && include !== 'suspected')
    throw new ConfigError('--include', `must be "healthy" or "suspected", got ${JSON.stringify(include)}`);
  const view = openView(o);
  try {
    const owners = view.route(key, { replicas, include });
    if (o.json) process.stdout.write(`${JSON.stringify(owners)}\n`);
    else for (const w of owners) process.stdout.write(`${w.serverId} ${w.address}\n`);
    // While the writer lives the node itself counts, so only a dead writer's region can leave no owner.
    const writer = view.snapshot().writer;
    if (!writer.alive) {
      process.stderr.write(
        `commy: the writer of ${o.cluster}/${o.server} (pid ${writer.pid}) is not alive; ` +
          (owners.length
            ? 'these owners come from its last known state, without that node itself\n'
            : 'no member counted in its last known state, so no one owns the key\n'),
      );
      return ExitCode.WriterDead;
    }
    return ExitCode.Ok;
  } finally {
    view.close();
  }
}
