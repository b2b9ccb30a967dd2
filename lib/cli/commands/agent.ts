// `commy agent --config FILE`: runs one node until SIGINT/SIGTERM, logging each
// peer transition as one structured line (pretty on a TTY, JSON otherwise).
import pino from 'pino';
import pretty from 'pino-pretty';
import type { Server } from 'node:http';
import { ClusterNode } from '../../node.js';
import { loadConfig } from '../../registry/config.js';
import { serveMetrics } from '../../metrics.js';
import { ClusterView } from '../../view.js';
import { ExitCode } from '../exit.js';
import { address } from '../options.js';

export function makeLogger(): pino.Logger {
  const level = process.env.COMMY_LOG_LEVEL ?? 'info';
  if (process.stdout.isTTY) return pino({ level }, pretty({ colorize: true, sync: true }));
  return pino({ level, base: { pid: process.pid } });
}

export async function agentCommand(o: { config: string; metricsListen?: string }): Promise<number> {
  // Signals that arrive while starting still lead to a clean stop.
  const stopped = new Promise<string>((resolve) => {
    const on = (sig: string) => () => resolve(sig);
    process.once('SIGINT', on('SIGINT'));
    process.once('SIGTERM', on('SIGTERM'));
  });
  const config = loadConfig(o.config);
  const metricsListen = o.metricsListen ? address(o.metricsListen, '--metrics-listen') : config.metricsListen;
  const log = makeLogger();
  const node = await ClusterNode.start(config, { logger: log });
  node.on('peerStatusChanged', (c) =>
    log.info(
      {
        event: 'peerStatusChanged',
        peer: c.serverId,
        from: c.oldStatus,
        to: c.newStatus,
        reason: c.reason,
        missedHeartbeats: c.missedHeartbeats,
        lastSeenMs: c.lastSeenMs,
      },
      `peer ${c.serverId} ${c.oldStatus} -> ${c.newStatus} (${c.reason})`,
    ),
  );
  node.on('peerConnected', (c) =>
    log.debug({ event: 'peerConnected', peer: c.serverId, direction: c.direction }, 'connected'),
  );
  let metrics: { server: Server; view: ClusterView } | undefined;
  try {
    if (metricsListen) {
      const view = ClusterView.open({ cluster: config.cluster, serverId: config.serverId, global: config.global });
      metrics = { view, server: await serveMetrics(view, metricsListen) };
    }
  } catch (err) {
    await node.stop();
    throw err;
  }
  log.info(
    {
      event: 'started',
      cluster: config.cluster,
      serverId: config.serverId,
      listen: node.address,
      metrics: metricsListen ?? null,
    },
    `agent ${config.cluster}/${config.serverId} listening on ${node.address}`,
  );
  const signal = await stopped;
  log.info({ event: 'stopping', signal }, `stopping on ${signal}: sending Leave to peers`);
  if (metrics) {
    await new Promise((r) => metrics!.server.close(r));
    metrics.view.close();
  }
  await node.stop();
  log.info({ event: 'stopped' }, 'stopped cleanly');
  return ExitCode.Ok;
}
