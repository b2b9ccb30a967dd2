// `commy metrics`: a Prometheus exporter in its own process, reading the region.
import { serveMetrics } from '../../metrics.js';
import { ExitCode } from '../exit.js';
import { address, openView, type RegionFlags } from '../options.js';

export async function metricsCommand(o: RegionFlags & { listen: string }): Promise<number> {
  const listen = address(o.listen, '--listen');
  const view = openView(o);
  const server = await serveMetrics(view, listen);
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : '?';
  process.stderr.write(`commy metrics: serving http://${listen.replace(/:\d+$/, `:${port}`)}/metrics\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await new Promise((r) => server.close(r));
  view.close();
  return ExitCode.Ok;
}
