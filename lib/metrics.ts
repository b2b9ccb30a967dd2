// Prometheus exporter that reads a node's region on each scrape (prom-client).
// Used by `commy metrics` (a separate process: no IPC needed) and by the agent.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { parseAddress } from './registry/config.js';
import { CommyError, ErrorCode } from './errors.js';
import { statusCodes, statusToCode } from './status.js';
import type { ClusterView, DiscoverySnapshot, Inspection } from './view.js';

/** Metric names, documented in the README. */
export const metricNames = [
  'commy_peer_status',
  'commy_peer_missed_heartbeats',
  'commy_peer_last_seen_seconds',
  'commy_peer_rtt_seconds',
  'commy_peer_bytes_sent_total',
  'commy_peer_bytes_received_total',
  'commy_peer_connection_attempts',
  'commy_cluster_peers',
  'commy_quorum_available',
  'commy_event_loop_lag_seconds',
  'commy_event_loop_lag_max_seconds',
  'commy_writer_alive',
  'commy_writer_heartbeat_age_seconds',
  'commy_rejected_frames_total',
  'commy_discovery_up',
  'commy_discovery_members',
  'commy_discovery_last_refresh_timestamp_seconds',
] as const;

export interface MetricsSource {
  registry: Registry;
  /** Reads the region once and renders every metric in Prometheus text format. */
  scrape(): Promise<string>;
}

export function createMetrics(view: ClusterView): MetricsSource {
  const registry = new Registry();
  let current: Inspection | undefined;
  // One region read per scrape, shared by every metric below.
  const read = () => (current ??= view.inspect());
  const peerGauge = (name: string, help: string, value: (p: Inspection['peers'][number]) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of read().peers) {
          const v = value(p);
          if (v !== null) this.set({ peer: p.serverId }, v);
        }
      },
    });
  const peerCounter = (name: string, help: string, value: (p: Inspection['peers'][number]) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['peer'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of read().peers) this.inc({ peer: p.serverId }, value(p));
      },
    });
  const nodeGauge = (name: string, help: string, value: (i: Inspection) => number, labelNames: string[] = []) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.set(value(read()));
      },
    });

  peerGauge(
    'commy_peer_status',
    `Peer status as seen by this node: ${statusCodes.map((s, i) => `${i} ${s}`).join(', ')}`,
    (p) => statusToCode(p.status),
  );
  peerGauge('commy_peer_missed_heartbeats', 'Consecutive missed heartbeats', (p) => p.missedHeartbeats);
  peerGauge('commy_peer_last_seen_seconds', 'Seconds since the peer was last heard from', (p) =>
    p.lastSeenMs === null ? null : Math.max(0, (Date.now() - p.lastSeenMs) / 1000),
  );
  peerGauge('commy_peer_rtt_seconds', 'Last heartbeat round-trip time', (p) =>
    p.rttMs === null ? null : p.rttMs / 1000,
  );
  peerCounter('commy_peer_bytes_sent_total', 'Bytes sent to the peer, framing included', (p) => p.bytesSent);
  peerCounter(
    'commy_peer_bytes_received_total',
    'Bytes received from the peer, framing included',
    (p) => p.bytesReceived,
  );
  peerGauge('commy_peer_connection_attempts', 'Connection attempts since the last success', (p) => p.attemptCount);
  new Gauge({
    name: 'commy_cluster_peers',
    help: 'Nodes by status; healthy and total include this node',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const s = read().snapshot.status;
      this.set({ status: 'total' }, s.totalPeers);
      this.set({ status: 'healthy' }, s.healthyPeers);
      this.set({ status: 'suspected' }, s.suspectedPeers);
      this.set({ status: 'down' }, s.downPeers);
    },
  });
  nodeGauge('commy_quorum_available', '1 when healthy nodes are a strict majority', (i) =>
    i.snapshot.status.quorumAvailable ? 1 : 0,
  );
  nodeGauge(
    'commy_event_loop_lag_seconds',
    'How late the last heartbeat tick fired',
    (i) => i.node.eventLoopLagMs / 1000,
  );
  nodeGauge(
    'commy_event_loop_lag_max_seconds',
    'Largest heartbeat tick lag since start',
    (i) => i.node.maxEventLoopLagMs / 1000,
  );
  nodeGauge('commy_writer_alive', '1 while the node process holds its region', (i) => (i.node.writer.alive ? 1 : 0));
  nodeGauge(
    'commy_writer_heartbeat_age_seconds',
    'Age of the writer heartbeat in the region',
    (i) => i.node.writer.heartbeatAgeMs / 1000,
  );
  // Only for a node with discovery providers: a node on seeds alone has no such source to report.
  const discoveryGauge = (name: string, help: string, value: (d: DiscoverySnapshot) => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        const d = read().snapshot.discovery;
        const v = d ? value(d) : null;
        if (v !== null) this.set(v);
      },
    });
  discoveryGauge('commy_discovery_up', '1 while every discovery provider (DNS, etcd) answers', (d) => (d.up ? 1 : 0));
  discoveryGauge('commy_discovery_members', 'Members the discovery providers list', (d) => d.members);
  discoveryGauge(
    'commy_discovery_last_refresh_timestamp_seconds',
    'When every discovery provider last answered (Unix time)',
    (d) => (d.lastRefreshMs === null ? null : d.lastRefreshMs / 1000),
  );
  new Counter({
    name: 'commy_rejected_frames_total',
    help: 'Frames and connections rejected, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(read().node.rejectedFrames)) this.inc({ reason }, n);
    },
  });
  return {
    registry,
    scrape: async () => {
      current = undefined;
      try {
        return await registry.metrics();
      } finally {
        current = undefined;
      }
    },
  };
}

/** Serves /metrics on HOST:PORT; resolves with the server once it listens. */
export async function serveMetrics(view: ClusterView, listen: string): Promise<Server> {
  const { host, port } = parseAddress(listen, 'metricsListen', { allowPortZero: true });
  const metrics = createMetrics(view);
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics\n');
      return;
    }
    metrics.scrape().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new CommyError(ErrorCode.Listen, `cannot serve metrics on ${listen}: ${err.code ?? err.message}`)),
    );
    server.listen({ host, port }, () => resolve());
  });
  return server;
}
