// Benchmark helper: the "agent" side of the read comparison. It runs a real
// PeerRegistry (so the region is written as a node writes it) whose peers get
// heartbeats and byte counts at a steady rate, and after every change it
// republishes the very object ClusterView.snapshot() returns, as the
// alternatives a user might build instead would:
//   (b) a Unix-socket request/response server, (c) an HTTP server (keep-alive),
//   (d) a Redis SET of the JSON (through ioredis), (e) a JSON status file rewritten atomically.
// The servers answer from a cached, pre-serialised copy: the cheapest possible
// server side, so the comparison favours the alternatives, never commy.
// argv[2]: JSON of ReadAgentOptions. IPC: sends {ready}, answers "stop" with {stopped}.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { PeerRegistry } from '../../lib/registry/registry.js';
import { parseConfig } from '../../lib/registry/config.js';
import { ClusterView } from '../../lib/view.js';
import { connectRedis } from './redis.js';

export interface ReadAgentOptions {
  cluster: string;
  serverId: string;
  peers: number;
  sockPath: string;
  filePath: string;
  redisPort: number | null;
  redisKey: string;
  /** A change (k peers heard from) and a republish every tickMs. */
  tickMs: number;
}

export interface ReadAgentReady {
  ready: true;
  httpPort: number;
  jsonBytes: number;
}

const o = JSON.parse(process.argv[2]) as ReadAgentOptions;
const n = o.peers;
const ids = Array.from({ length: n }, (_, i) => `p${i}`);
const registry = new PeerRegistry(
  parseConfig({
    cluster: o.cluster,
    serverId: o.serverId,
    listen: '127.0.0.1:7100',
    peers: ids.map((id, i) => `${id}@10.0.${Math.floor(i / 250)}.${(i % 250) + 1}:7100`),
    capacity: Math.max(n, 1),
  }),
);
registry.initialize();
for (const id of ids) {
  registry.markHeartbeatReceived(id);
  registry.updateConnection(id, { state: 'active', attemptCount: 0 });
}
const view = ClusterView.open({ cluster: o.cluster, serverId: o.serverId });

// What the alternatives serve, refreshed by publish().
let framed = Buffer.alloc(0); // [u32 BE length][JSON], for the Unix socket
let body = Buffer.alloc(0); // JSON, for HTTP
const peerBodies = new Map<string, Buffer>();
let publishes = 0;
let updates = 0;

const redis = o.redisPort === null ? null : await connectRedis(o.redisPort);
let redisBusy = false;
let redisDirty = false;

async function setRedis(): Promise<void> {
  if (!redis) return;
  if (redisBusy) {
    redisDirty = true;
    return;
  }
  redisBusy = true;
  do {
    redisDirty = false;
    await redis.set(o.redisKey, body);
  } while (redisDirty);
  redisBusy = false;
}

function publish(): void {
  const snap = view.snapshot();
  const json = JSON.stringify(snap);
  body = Buffer.from(json);
  const f = Buffer.allocUnsafe(4 + body.length);
  f.writeUInt32BE(body.length, 0);
  body.copy(f, 4);
  framed = f;
  for (const p of snap.peers) peerBodies.set(p.serverId, Buffer.from(JSON.stringify(p)));
  writeFileSync(`${o.filePath}.tmp`, body);
  renameSync(`${o.filePath}.tmp`, o.filePath);
  void setRedis();
  publishes++;
}

// Every tick, k peers are heard from (each peer about once a second with
// n >= 50, as with 1 s heartbeats); now and then one misses a heartbeat.
const k = Math.max(1, Math.ceil(n / Math.round(1000 / o.tickMs)));
let cursor = 0;
function tick(): void {
  for (let j = 0; j < k; j++) {
    const id = ids[cursor % n];
    if (cursor % 31 === 7) registry.markHeartbeatMissed(id);
    else registry.markHeartbeatReceived(id);
    registry.addBytesSent(id, 61 + (cursor % 5));
    registry.addBytesReceived(id, 61 + (cursor % 3));
    cursor++;
    updates++;
  }
  publish();
}

function frame(b: Buffer): Buffer {
  const f = Buffer.allocUnsafe(4 + b.length);
  f.writeUInt32BE(b.length, 0);
  b.copy(f, 4);
  return f;
}

// (b) Unix socket: "S\n" -> the snapshot, "P <id>\n" -> one peer (or null).
const nullFrame = frame(Buffer.from('null'));
const unixServer: Server = createServer((s: Socket) => {
  s.setNoDelay(true);
  let pending = '';
  s.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line === 'S') s.write(framed);
      else if (line.startsWith('P ')) {
        const p = peerBodies.get(line.slice(2));
        s.write(p ? frame(p) : nullFrame);
      }
    }
  });
  s.on('error', () => s.destroy());
});
rmSync(o.sockPath, { force: true });
await new Promise<void>((r) => unixServer.listen(o.sockPath, r));

// (c) HTTP on loopback: GET /status, GET /peers/<id>.
const httpServer: HttpServer = createHttpServer((req, res) => {
  const url = req.url ?? '';
  const b = url === '/status' ? body : url.startsWith('/peers/') ? peerBodies.get(url.slice(7)) : undefined;
  if (!b) {
    res.writeHead(404, { 'content-length': 0 });
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length });
  res.end(b);
});
httpServer.keepAliveTimeout = 60_000;
await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));

publish();
await setRedis();
const timer = setInterval(tick, o.tickMs);

process.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  const stats = { stopped: true, publishes, updates };
  httpServer.closeAllConnections();
  httpServer.close();
  unixServer.close();
  redis?.disconnect();
  view.close();
  registry.close({ unlink: true });
  rmSync(o.filePath, { force: true });
  rmSync(o.sockPath, { force: true });
  process.send?.(stats, () => process.exit(0));
});

const ready: ReadAgentReady = {
  ready: true,
  httpPort: (httpServer.address() as { port: number }).port,
  jsonBytes: body.length,
};
process.send?.(ready);
