// Benchmark: ClusterView.route() against status() on the same region, 16 peers
// (17 members with the node itself), while another process keeps rewriting the
// peers' slots as an agent does (scripts/bench/registry-writer.ts), then again
// with that writer at full speed. Contenders, interleaved:
// status(); route() of short keys, of 36-character keys (XXH32's stripe loop),
// with 3 replicas, and with include 'suspected'; the ranking alone on a member
// list in memory (rankOwners' work without the region read); snapshot() for scale.
// Also the heap bytes each call allocates (young-generation growth over a batch).
// Run: node dist/scripts/bench/route.js [--quick]
// (route() costs at most 2× status() for 16 members: the target run.ts reports.)
import { randomUUID } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { ClusterView } from '../../lib/view.js';
import { KeyHasher, Ranking, memberSeed, type RouteOwner } from '../../lib/routing.js';
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
  type Stats,
} from './common.js';

const args = startBench();
const PEERS = 16;
const TICK_MS = 20;
const plan = args.quick
  ? { warmup: 20_000, rounds: 10, perRound: 2000, budgetMs: 10_000 }
  : { warmup: 50_000, rounds: 40, perRound: 5000, budgetMs: 60_000 };

/**
 * Heap bytes one call of `op` allocates, from V8's sampling heap profiler (a
 * sample every 64 bytes on average, objects already collected included), over
 * `calls` calls made after the op is warm.
 */
async function bytesPerCall(op: () => unknown, calls = 300_000): Promise<number> {
  const sink: unknown[] = new Array(1024);
  for (let i = 0; i < calls; i++) sink[i & 1023] = op();
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 64,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    for (let i = 0; i < calls; i++) sink[i & 1023] = op();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    let bytes = 0;
    const walk = (n: { selfSize: number; children: unknown[]; callFrame: { url: string } }): void => {
      if (!n.callFrame.url.startsWith('node:inspector')) bytes += n.selfSize; // not the profiler's own messages
      for (const c of n.children) walk(c as typeof n);
    };
    walk(profile.head as never);
    return bytes / calls;
  } finally {
    session.disconnect();
  }
}

const short = Array.from({ length: 1024 }, (_, i) => `session-${i}`);
const long = Array.from({ length: 1024 }, () => randomUUID());
let k = 0;
const nextShort = () => short[k++ & 1023];
const nextLong = () => long[k++ & 1023];

interface Measured {
  set: Contender[];
  stats: Map<string, Stats>;
  bytes: Map<string, number>;
}

/** Every contender against one region, whose peers another process rewrites every `tickMs` (0: at full speed). */
async function measure(tickMs: number, full: boolean): Promise<Measured> {
  const cluster = uniqueKey('rb').cluster;
  const serverId = 'w';
  const writer = forkHelper('registry-writer.js', [
    cluster,
    serverId,
    String(PEERS),
    ...(tickMs ? [String(tickMs)] : []),
  ]);
  await writer.next();
  const view = ClusterView.open({ cluster, serverId });
  try {
    // The ranking alone: the same hasher and top-k over the 17 members, held in memory.
    const members = [serverId, ...Array.from({ length: PEERS }, (_, p) => `p${p}`)].map((id) => ({
      owner: { serverId: id, address: '' } as RouteOwner,
      seed: memberSeed(id),
    }));
    const hasher = new KeyHasher();
    const ranking = new Ranking();
    const rankAlone = (key: string) => ranking.rank(hasher.keyHash(key), 1, members, members.length);
    const all: Contender[] = [
      { key: 'status', label: 'status()', op: () => view.status(), async: false },
      { key: 'route', label: 'route(key), keys like "session-123"', op: () => view.route(nextShort()), async: false },
      {
        key: 'routeLong',
        label: 'route(key), 36-character keys (UUIDs)',
        op: () => view.route(nextLong()),
        async: false,
      },
      {
        key: 'route3',
        label: 'route(key, { replicas: 3 })',
        op: () => view.route(nextShort(), { replicas: 3 }),
        async: false,
      },
      {
        key: 'routeSusp',
        label: "route(key, { include: 'suspected' })",
        op: () => view.route(nextShort(), { include: 'suspected' }),
        async: false,
      },
      {
        key: 'rank',
        label: 'the ranking alone (17 members in memory, no region read)',
        op: () => rankAlone(nextShort()),
        async: false,
      },
      { key: 'snapshot', label: 'snapshot() (for scale)', op: () => view.snapshot(), async: false },
    ];
    const set = full ? all : all.filter((c) => c.key === 'status' || c.key === 'route');
    log(`route (writer ${tickMs ? `every ${tickMs} ms` : 'at full speed'}): ${set.length} contenders`);
    const hs = await interleave(set, full ? plan : { ...plan, budgetMs: plan.budgetMs / 3 });
    const st = new Map(set.map((c) => [c.key, stats(hs.get(c.key)!)]));
    for (const h of hs.values()) h.destroy();
    const bytes = new Map<string, number>();
    for (const c of set) bytes.set(c.key, await bytesPerCall(c.op));
    return { set, stats: st, bytes };
  } finally {
    view.close();
    writer.send('stop');
    await writer.next();
    await writer.exited;
  }
}

function rows(m: Measured): string[] {
  const base = m.stats.get('status')!;
  return [
    table(
      ['call', 'p50 µs', 'p99 µs', '× status() p50', '× status() p99', 'bytes / call', 'calls'],
      m.set.map((c) => {
        const x = m.stats.get(c.key)!;
        return [
          c.label,
          fmt(x.p50),
          fmt(x.p99),
          ratio(x.p50 / base.p50, 1),
          ratio(x.p99 / base.p99, 1),
          fmt(Math.round(m.bytes.get(c.key)!)),
          x.n.toLocaleString('en-US'),
        ];
      }),
      'lrrrrrr',
    ),
  ];
}

const agentPace = await measure(TICK_MS, true);
const fullSpeed = await measure(0, false);
const s = agentPace.stats;
const base = s.get('status')!;
const worst = Math.max(...['route', 'routeLong', 'route3', 'routeSusp'].map((c) => s.get(c)!.p50 / base.p50));
emit(args, {
  name: 'route',
  title: 'Routing: route() against status(), 16 peers',
  markdown: [
    `One process maps a region of ${PEERS} peers (17 members with the node itself, all healthy) and times each call alone (µs), interleaved in rounds after a warm-up, while another process writes the region through a real PeerRegistry as an agent with 1 s heartbeats does (every ${TICK_MS} ms, the peers due; each heard from once a second). "× status()" is the call's time over status()'s at the same percentile. Bytes: the heap one call allocates, from V8's sampling heap profiler over 300,000 warm calls (the returned array of one owner is 56 bytes; js-xxhash returns the key hash as a boxed number half the time, 8 bytes on average).`,
    '',
    ...rows(agentPace),
    '',
    "The same two calls while the writer rewrites the peers' slots at full speed (the worst case: most reads find slots rewritten since the last one, so route() decodes their serverId and address again, which status() never reads):",
    '',
    ...rows(fullSpeed),
    '',
    'route() reads the region as status() does (one native call, compact records) and then ranks: the key hashed once (XXH32), one 4-byte XXH32 per member with the seed kept while its slot is unchanged, a top-k insertion. The ranking alone is that work without the region read.',
  ],
  headline: {
    'route.p50': s.get('route')!.p50,
    'status.p50': base.p50,
    'route/status.p50': s.get('route')!.p50 / base.p50,
    'worst/status.p50': worst,
    'route.bytes': agentPace.bytes.get('route')!,
    'status.bytes': agentPace.bytes.get('status')!,
    'full.route/status.p50': fullSpeed.stats.get('route')!.p50 / fullSpeed.stats.get('status')!.p50,
  },
});
