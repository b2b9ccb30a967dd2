// Benchmark 1: reading the cluster state from another process, for 3, 16 and
// 256 peers, while the agent keeps changing it. Contenders, interleaved:
//   (a) ClusterView.snapshot() / getPeer() on the shared-memory region;
//   (b) Unix-socket request/response to the agent, same JSON;
//   (c) HTTP GET on loopback with keep-alive;
//   (d) Redis GET, through ioredis, of the JSON the agent SETs on each change,
//       and (d′) the same GET on a raw socket: a lower bound, no client library;
//   (e) reading and parsing the JSON status file the agent rewrites.
// Every contender returns the same object (the snapshot the status contract
// defines), parsed, so the caller can use it. Also: snapshot()/getPeer() while
// a writer rewrites slots at full speed (the seqlock's worst case).
// Run: node dist/scripts/bench/read.js [--quick]
import { request, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterView, type ClusterSnapshot } from '../../lib/view.js';
import { RegionReader } from '../../lib/region/index.js';
import { uniqueKey } from '../../harness/names.js';
import {
  emit,
  fmt,
  forkHelper,
  interleave,
  log,
  ratio,
  startBench,
  stats,
  table,
  type Contender,
  type RoundsPlan,
  type Stats,
} from './common.js';
import type { ReadAgentOptions, ReadAgentReady } from './read-agent.js';
import { connectRedis, ioredisVersion, startRedis, type RedisHandle } from './redis.js';
import { Resp } from './resp.js';

const args = startBench();
const PEERS = [3, 16, 256];
const TICK_MS = 20;
/** What the raw-socket Redis rows are: no Redis client can do better, and no user runs one. */
const LOWER_BOUND = '(lower bound: no client library)';
const plan: RoundsPlan = args.quick
  ? { warmup: 300, rounds: 8, perRound: 250, budgetMs: 12_000 }
  : { warmup: 3000, rounds: 40, perRound: 500, budgetMs: 60_000 };

/** Request/response over a Unix socket: "S\n" or "P id\n" -> [u32 length][JSON]. */
class UnixClient {
  private readonly socket: Socket;
  private chunks: Buffer[] = [];
  private have = 0;
  private need = -1;
  private resolve: ((v: unknown) => void) | undefined;

  private constructor(s: Socket) {
    this.socket = s;
    s.setNoDelay(true);
    s.on('data', (c: Buffer) => this.onData(c));
  }

  static open(path: string): Promise<UnixClient> {
    return new Promise((res, rej) => {
      const s = connect(path, () => res(new UnixClient(s)));
      s.once('error', rej);
    });
  }

  request(line: Buffer): Promise<unknown> {
    return new Promise((res) => {
      this.resolve = res;
      this.socket.write(line);
    });
  }

  private onData(c: Buffer): void {
    this.chunks.push(c);
    this.have += c.length;
    if (this.need < 0 && this.have >= 4) {
      if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
      this.need = this.chunks[0].readUInt32BE(0) + 4;
    }
    if (this.need >= 0 && this.have >= this.need) {
      const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      const value: unknown = JSON.parse(all.toString('utf8', 4, this.need));
      this.chunks = [];
      this.have = 0;
      this.need = -1;
      const r = this.resolve;
      this.resolve = undefined;
      r?.(value);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function httpGetJson(agent: Agent, port: number, path: string): Promise<unknown> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => res(JSON.parse((chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8'))));
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end();
  });
}

/** Keys and peer ids of a snapshot: must be the same whoever served it. */
function shape(s: unknown): string {
  const walk = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(walk)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'serverId' ? x : walk(x)]))
        : typeof v;
  return JSON.stringify(walk(s));
}

const breakdown: { label: string; s: Stats }[] = [];

interface CaseRow {
  peers: number;
  op: 'snapshot' | 'getPeer';
  key: string;
  label: string;
  s: Stats;
}

async function benchPeers(peers: number, redis: RedisHandle | null, rows: CaseRow[], notes: string[]): Promise<void> {
  const cluster = uniqueKey('rb').cluster;
  const serverId = `agent${peers}`;
  const opts: ReadAgentOptions = {
    cluster,
    serverId,
    peers,
    sockPath: join(tmpdir(), `commy-bench-${process.pid}-${peers}.sock`),
    filePath: join(tmpdir(), `commy-bench-${process.pid}-${peers}.json`),
    redisPort: redis?.port ?? null,
    redisKey: `commy:${cluster}:${serverId}`,
    tickMs: TICK_MS,
  };
  const agent = forkHelper('read-agent.js', [JSON.stringify(opts)]);
  const ready = await agent.next<ReadAgentReady>((m) => m.ready === true);
  const view = ClusterView.open({ cluster, serverId });
  const unix = await UnixClient.open(opts.sockPath);
  const httpAgent = new Agent({ keepAlive: true, maxSockets: 1 });
  const ioredis = redis ? await connectRedis(redis.port) : null;
  const resp = redis ? await Resp.connect(redis.port) : null;
  const getCmd = Resp.encode('GET', opts.redisKey);
  const target = `p${peers - 1}`;
  const statusLine = Buffer.from('S\n');
  const peerLine = Buffer.from(`P ${target}\n`);
  const redisGet = async () => JSON.parse((await ioredis!.get(opts.redisKey))!) as ClusterSnapshot;
  const rawRedisGet = async () => JSON.parse(((await resp!.raw(getCmd)) as Buffer).toString('utf8')) as ClusterSnapshot;
  const fileGet = () => JSON.parse(readFileSync(opts.filePath, 'utf8')) as ClusterSnapshot;
  const find = (s: ClusterSnapshot) => s.peers.find((p) => p.serverId === target);

  const snapshotSet: Contender[] = [
    { key: 'a', label: '(a) ClusterView.snapshot()', op: () => view.snapshot(), async: false },
    { key: 'b', label: '(b) Unix socket request/response', op: () => unix.request(statusLine), async: true },
    {
      key: 'c',
      label: '(c) HTTP GET, keep-alive',
      op: () => httpGetJson(httpAgent, ready.httpPort, '/status'),
      async: true,
    },
    ...(redis
      ? [
          { key: 'd', label: '(d) Redis GET (ioredis)', op: redisGet, async: true },
          { key: 'dr', label: `(d′) Redis GET on a raw socket ${LOWER_BOUND}`, op: rawRedisGet, async: true },
        ]
      : []),
    { key: 'e', label: '(e) read + parse JSON file', op: fileGet, async: false },
  ];
  const peerSet: Contender[] = [
    { key: 'a', label: '(a) ClusterView.getPeer(id)', op: () => view.getPeer(target), async: false },
    { key: 'b', label: '(b) Unix socket, one-peer request', op: () => unix.request(peerLine), async: true },
    {
      key: 'c',
      label: '(c) HTTP GET /peers/:id, keep-alive',
      op: () => httpGetJson(httpAgent, ready.httpPort, `/peers/${target}`),
      async: true,
    },
    ...(redis
      ? [
          { key: 'd', label: '(d) Redis GET (ioredis) + find', op: async () => find(await redisGet()), async: true },
          {
            key: 'dr',
            label: `(d′) Redis GET on a raw socket + find ${LOWER_BOUND}`,
            op: async () => find(await rawRedisGet()),
            async: true,
          },
        ]
      : []),
    { key: 'e', label: '(e) read + parse file + find', op: () => find(fileGet()), async: false },
  ];

  // Fairness: every contender hands back an object of the same shape and peers.
  const reference = shape(view.snapshot());
  for (const c of snapshotSet) {
    const v = c.async ? await c.op() : c.op();
    if (shape(v) !== reference) throw new Error(`${c.label} returned another shape than snapshot()`);
  }
  const refPeer = shape(view.getPeer(target));
  for (const c of peerSet) {
    const v = c.async ? await c.op() : c.op();
    if (shape(v) !== refPeer) throw new Error(`${c.label} returned another shape than getPeer()`);
  }
  notes.push(`${peers} peers: the snapshot is ${ready.jsonBytes.toLocaleString('en-US')} bytes of JSON`);

  log(`read: ${peers} peers, snapshot contenders`);
  const hs = await interleave(snapshotSet, plan);
  for (const c of snapshotSet)
    rows.push({ peers, op: 'snapshot', key: c.key, label: c.label, s: stats(hs.get(c.key)!) });
  for (const h of hs.values()) h.destroy();
  log(`read: ${peers} peers, getPeer contenders`);
  const hp = await interleave(peerSet, plan);
  for (const c of peerSet) rows.push({ peers, op: 'getPeer', key: c.key, label: c.label, s: stats(hp.get(c.key)!) });
  for (const h of hp.values()) h.destroy();

  if (peers === 16) {
    // Where the time of one snapshot() goes: the same reads, in parts.
    log('read: 16 peers, snapshot() in parts');
    const raw = RegionReader.open({ cluster, serverId });
    const c = raw.summary();
    // As in snapshot(), the strings are decoded once, so later reads copy only what changed.
    for (let r = c.readAll(false) - 1; r >= 0; r--) c.serverId(r);
    const parts: Contender[] = [
      { key: 'snap', label: '`snapshot()`, whole', op: () => view.snapshot(), async: false },
      {
        key: 'withWriter',
        label:
          'its one call into the addon: writer line (liveness probe at most once a ms, clock), header, 16 compact records',
        op: () => c.readAll(true),
        async: false,
      },
      {
        key: 'slots',
        label: 'the same call without the writer line: 16 compact records only',
        op: () => c.readAll(false),
        async: false,
      },
      {
        key: 'gen',
        label: 'the cheapest call into the addon (`generation()`, one atomic load)',
        op: () => raw.generation(),
        async: false,
      },
    ];
    const hb = await interleave(parts, plan);
    for (const x of parts) breakdown.push({ label: x.label, s: stats(hb.get(x.key)!) });
    for (const h of hb.values()) h.destroy();
    raw.close();
  }

  unix.close();
  httpAgent.destroy();
  await ioredis?.quit();
  resp?.close();
  view.close();
  agent.send('stop');
  const done = await agent.next<{ publishes: number; updates: number }>((m) => 'publishes' in m);
  await agent.exited;
  notes.push(
    `${peers} peers: during the run the agent changed ${done.updates.toLocaleString('en-US')} peer records and republished ${done.publishes.toLocaleString('en-US')} times`,
  );
}

/** snapshot()/getPeer() while a writer rewrites slots as fast as it can. */
async function fullSpeed(peers: number): Promise<CaseRow[]> {
  const cluster = uniqueKey('rf').cluster;
  const serverId = `w${peers}`;
  const writer = forkHelper('registry-writer.js', [cluster, serverId, String(peers)]);
  await writer.next();
  const view = ClusterView.open({ cluster, serverId });
  const target = `p${peers - 1}`;
  const set: Contender[] = [
    { key: 'snap', label: 'snapshot()', op: () => view.snapshot(), async: false },
    { key: 'peer', label: 'getPeer(id)', op: () => view.getPeer(target), async: false },
  ];
  const hs = await interleave(set, { ...plan, budgetMs: plan.budgetMs / 3 });
  const rows = set.map((c) => ({
    peers,
    op: 'snapshot' as const,
    key: c.key,
    label: c.label,
    s: stats(hs.get(c.key)!),
  }));
  for (const h of hs.values()) h.destroy();
  view.close();
  writer.send('stop');
  await writer.next();
  await writer.exited;
  return rows;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const rows: CaseRow[] = [];
  const notes: string[] = [];
  try {
    for (const peers of PEERS) await benchPeers(peers, redis, rows, notes);
  } finally {
    await redis?.stop();
  }
  log('read: under a writer at full speed');
  const stress: CaseRow[] = [];
  for (const peers of args.quick ? [16] : [16, 256]) stress.push(...(await fullSpeed(peers)));

  const md: string[] = [];
  md.push(
    `Another process reads node state while the agent changes it: every ${TICK_MS} ms the agent hears from ` +
      `some peers (each peer about once a second from 50 peers up, like 1 s heartbeats; now and then one misses one), ` +
      `writes them to its region through a real \`PeerRegistry\`, and republishes the \`ClusterView.snapshot()\` object ` +
      `for the alternatives: a cached, pre-serialised JSON buffer for (b) and (c), a Redis \`SET\` for (d) and an atomic ` +
      `rewrite (write + rename) for (e). The alternatives' servers do no work per request beyond sending bytes; each ` +
      `client parses the JSON into the same object \`snapshot()\` returns (checked: same keys and peers). ` +
      `${redis ? `Redis ${redis.version} runs on 127.0.0.1 without persistence. (d) reads it through ioredis ${ioredisVersion}, the client an application would use; (d′) sends the same GET, pre-encoded, on a raw socket and parses the reply with a minimal RESP reader (scripts/bench/resp.ts): a lower bound for any Redis client, not what a user gets.` : '**Redis case skipped: redis-server is not installed.**'} ` +
      `Plan: ${plan.warmup} warm-up calls per contender, then up to ${plan.rounds} rounds of ${plan.perRound} calls per contender, ` +
      `interleaved, each call timed alone (µs, hdr-histogram).`,
  );
  for (const op of ['snapshot', 'getPeer'] as const) {
    md.push(
      `\n**${op === 'snapshot' ? 'Whole snapshot' : 'One peer (the last slot)'}.** Ratios are the alternative's time over (a)'s, at p50 and at p99.\n`,
    );
    const out: (string | number)[][] = [];
    for (const peers of PEERS) {
      const group = rows.filter((r) => r.peers === peers && r.op === op);
      const a = group.find((r) => r.key === 'a')!;
      for (const r of group)
        out.push([
          String(peers),
          r.label,
          fmt(r.s.p50),
          fmt(r.s.p99),
          fmt(r.s.max),
          Math.round(1e6 / r.s.mean).toLocaleString('en-US'),
          r.key === 'a' ? '1×' : ratio(r.s.p50, a.s.p50),
          r.key === 'a' ? '1×' : ratio(r.s.p99, a.s.p99),
          r.s.n.toLocaleString('en-US'),
        ]);
    }
    md.push(
      table(
        ['peers', 'contender', 'p50 µs', 'p99 µs', 'max µs', 'calls/s', 'vs (a) p50', 'vs (a) p99', 'calls'],
        out,
        'rlrrrrrrr',
      ),
    );
  }
  md.push('\n' + notes.map((n) => `- ${n}`).join('\n'));
  if (breakdown.length) {
    md.push(
      `\n**Where a 16-peer \`snapshot()\` spends its time** (same process and agent, interleaved the same way; p50 of ` +
        `the parts, which overlap: each row contains the next):\n`,
    );
    md.push(
      table(
        ['part', 'p50 µs', 'p99 µs'],
        breakdown.map((b) => [b.label, fmt(b.s.p50), fmt(b.s.p99)]),
        'lrr',
      ),
    );
  }
  md.push(
    `\n**Under a writer at full speed** (a helper rewrites slots round-robin in a tight loop, the seqlock's worst case; ` +
      `on 2 cores it competes with the reader for the CPU):\n`,
  );
  md.push(
    table(
      ['peers', 'call', 'p50 µs', 'p99 µs', 'max µs', 'calls/s'],
      stress.map((r) => [
        String(r.peers),
        r.label,
        fmt(r.s.p50),
        fmt(r.s.p99),
        fmt(r.s.max),
        Math.round(1e6 / r.s.mean).toLocaleString('en-US'),
      ]),
      'rlrrrr',
    ),
  );

  const headline: Record<string, number | string | boolean | null> = { redis: redis ? redis.version : null };
  for (const [i, b] of breakdown.entries()) headline[`breakdown.${i}.p50`] = b.s.p50;
  for (const peers of PEERS)
    for (const op of ['snapshot', 'getPeer'] as const) {
      const group = rows.filter((r) => r.peers === peers && r.op === op);
      const a = group.find((r) => r.key === 'a')!;
      headline[`${op}.${peers}.a.p50`] = a.s.p50;
      headline[`${op}.${peers}.a.p99`] = a.s.p99;
      for (const r of group) {
        if (r.key === 'a') continue;
        headline[`${op}.${peers}.${r.key}.p50`] = r.s.p50;
        headline[`${op}.${peers}.${r.key}.p99`] = r.s.p99;
        headline[`${op}.${peers}.a/${r.key}`] = r.s.p50 / a.s.p50;
        headline[`${op}.${peers}.a/${r.key}.p99`] = r.s.p99 / a.s.p99;
      }
    }
  emit(args, {
    name: 'read',
    title: 'Reading the cluster state from another process',
    markdown: md,
    headline,
  });
}

await main();
