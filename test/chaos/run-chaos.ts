// Chaos test: 5 node processes (a-e) on loopback, every peer link routed
// through a fault-injecting proxy this process owns (test/chaos/proxy.ts).
// Rounds of random faults (kill -9, restart, a 2|3 partition, and per-link
// drop / delay / half-open / one-way cut / blackhole), each followed by a
// heal, all drawn from one printed seed. Checked:
//   - after every heal, every live node sees every live peer healthy (and
//     connected) within HEAL_BOUND_MS (derivation below and in docs/RELIABILITY.md);
//   - a kill -9 is detected within the README's bounds ("Failure detection"): suspected within
//     (suspectAfter+1) x interval, down within (downAfter+1) x interval (plus a quarter interval on
//     the side that did not dial);
//   - during a partition the majority side keeps quorum at every sample and
//     the minority side reports quorumAvailable:false once the peers across
//     are suspected, until the heal;
//   - a member that joins through one seed while link faults are injected (a "membership" round) is held
//     healthy by every live node within HEAL_BOUND_MS, and is gone from every region within it after its
//     graceful Leave;
//   - no node process exits except by our kill (and exit 0 at the final stop);
//   - fd count (/proc/PID/fd) and RSS of every node stay bounded.
// Run: npm run test:chaos [-- --duration 600] [-- --seed 1234] [-- --json out.json]
// (CHAOS_DURATION_S and CHAOS_SEED work too). Exit 0 on success, 1 on failure.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { ClusterView, type ClusterSnapshot } from '../../lib/view.js';
import { unlinkRegion } from '../../lib/region/index.js';
import { startNode, type NodeProc } from '../../harness/cluster.js';
import { uniqueKey } from '../../harness/names.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { seededRandom } from '../../harness/random.js';
import { FaultProxy, type Faults } from './proxy.js';

// ---- parameters --------------------------------------------------------------

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const durationS = Number(arg('duration') ?? process.env.CHAOS_DURATION_S ?? 180);
const seed = Number(arg('seed') ?? process.env.CHAOS_SEED ?? (Date.now() % 1_000_000_007) >>> 0);
const jsonOut = arg('json');

const IDS = ['a', 'b', 'c', 'd', 'e'];
const INTERVAL_MS = 200;
const SUSPECT_AFTER = 2;
const DOWN_AFTER = 5;
const dialPolicy = { initialDelayMs: 100, maxDelayMs: 1000, breakerThreshold: 5, halfOpenAfterMs: 2000 };
const HANDSHAKE_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_MS = 2000;
// Detection bounds for a kill -9, as the README ("Failure detection") states them: a quarter
// interval more on the side that did not dial (it hears the killed node only through its pings).
const SUSPECT_BOUND_MS = (SUSPECT_AFTER + 1) * INTERVAL_MS + INTERVAL_MS / 4;
const DOWN_BOUND_MS = (DOWN_AFTER + 1) * INTERVAL_MS + INTERVAL_MS / 4;
// After a heal a link is back once a dial gets through. Worst case: a dial
// that hung on a dead (half-open) path times out (handshakeTimeoutMs), that
// was the breakerThreshold-th failure so the breaker waits halfOpenAfterMs,
// then the probe connects; or a zombie connection ends at idleTimeoutMs and
// the redial waits at most maxDelayMs. The handshake itself counts as a
// heartbeat (one heartbeat returns a peer to healthy), so the first
// interval adds at most one tick. Slack covers process scheduling on a
// loaded 2-core machine and our 25 ms polling.
const RECONNECT_BOUND_MS = Math.max(
  HANDSHAKE_TIMEOUT_MS + dialPolicy.halfOpenAfterMs,
  IDLE_TIMEOUT_MS + dialPolicy.maxDelayMs,
);
const HEAL_BOUND_MS = RECONNECT_BOUND_MS + INTERVAL_MS + 1000;
const DETECTION_SLACK_MS = 400;
const FD_LIMIT = 64;
const RSS_LIMIT_BYTES = 256 * 1024 * 1024;

const rand = seededRandom(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s`;
const log = (msg: string) => console.log(`${stamp()}  ${msg}`);

// ---- state ---------------------------------------------------------------------

const failures: string[] = [];
function fail(msg: string): void {
  failures.push(`${stamp()} ${msg}`);
  log(`FAIL: ${msg}`);
}

interface Live {
  proc: NodeProc;
  pid: number;
  view: ClusterView;
  killedByUs: boolean;
}
const nodes = new Map<string, Live>();
const dead = new Set<string>();
const cluster = uniqueKey('chaos').cluster;
const proxy = new FaultProxy({ seed: seed ^ 0x5eed });
const routePort = new Map<string, number>(); // "a>b" -> proxy port
const stats = {
  rounds: {} as Record<string, number>,
  faults: {} as Record<string, number>,
  /** Link faults whose effect one end could see (a peer not healthy) before the heal. */
  faultsVisible: {} as Record<string, number>,
  kills: 0,
  restarts: 0,
  partitions: 0,
  healMs: [] as number[],
  suspectMs: [] as number[],
  downMs: [] as number[],
  minorityQuorumLostMs: [] as number[],
  majoritySamples: 0,
  minoritySamples: 0,
  resources: new Map<number, { id: string; fd: number[]; rss: number[]; rejected?: Record<string, number> }>(),
  proxySocketsMax: 0,
  crashes: 0,
  joinMs: [] as number[],
  leaveMs: [] as number[],
};
const bump = (o: Record<string, number>, k: string) => (o[k] = (o[k] ?? 0) + 1);

// ---- nodes -----------------------------------------------------------------------

function configOf(id: string): Record<string, unknown> {
  return {
    cluster,
    serverId: id,
    listen: '127.0.0.1:0',
    peers: IDS.filter((p) => p !== id).map((p) => `${p}@127.0.0.1:${routePort.get(`${id}>${p}`)}`),
    heartbeatIntervalMs: INTERVAL_MS,
    heartbeatTimeoutMs: INTERVAL_MS,
    suspectAfter: SUSPECT_AFTER,
    downAfter: DOWN_AFTER,
  };
}

async function launch(id: string): Promise<void> {
  const proc = await startNode(configOf(id), {
    dialPolicy,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
  });
  const port = Number(proc.address.split(':').pop());
  for (const p of IDS) if (p !== id) proxy.retarget(`${p}>${id}`, { host: '127.0.0.1', port });
  const old = nodes.get(id);
  old?.view.close();
  const live: Live = {
    proc,
    pid: proc.child.proc.pid!,
    view: ClusterView.open({ cluster, serverId: id }),
    killedByUs: false,
  };
  nodes.set(id, live);
  dead.delete(id);
  void proc.child.exited.then(({ code, signal }) => {
    if (!live.killedByUs && !stopping) {
      stats.crashes++;
      fail(`node ${id} (pid ${live.pid}) exited by itself: code ${code}, signal ${signal}`);
    }
  });
}
let stopping = false;

async function kill(id: string): Promise<void> {
  const n = nodes.get(id)!;
  n.killedByUs = true;
  n.proc.child.kill('SIGKILL');
  await n.proc.child.exited;
  dead.add(id);
  stats.kills++;
}

const liveIds = () => IDS.filter((id) => !dead.has(id));

function snapshot(id: string): ClusterSnapshot | undefined {
  try {
    return nodes.get(id)!.view.snapshot();
  } catch {
    return undefined; // a read can fail while a writer restarts; the next poll retries
  }
}

/** Every live node sees every live peer healthy with an active connection, and every dead one not healthy. */
function converged(): boolean {
  const live = liveIds();
  return live.every((id) => {
    const s = snapshot(id);
    if (!s) return false;
    return s.peers.every((p) =>
      live.includes(p.serverId)
        ? p.status === 'healthy' && p.connection === 'active' && p.lastSeenMs !== null
        : p.status !== 'healthy',
    );
  });
}

function sampleResources(): void {
  stats.proxySocketsMax = Math.max(stats.proxySocketsMax, proxy.socketCount);
  for (const id of liveIds()) {
    const { pid } = nodes.get(id)!;
    try {
      const fd = readdirSync(`/proc/${pid}/fd`).length;
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      let r = stats.resources.get(pid);
      if (!r) stats.resources.set(pid, (r = { id, fd: [], rss: [] }));
      r.fd.push(fd);
      r.rejected = nodes.get(id)!.view.inspect().node.rejectedFrames;
      r.rss.push(rssKb * 1024);
      if (fd > FD_LIMIT) fail(`node ${id} (pid ${pid}) holds ${fd} fds (limit ${FD_LIMIT})`);
      if (rssKb * 1024 > RSS_LIMIT_BYTES) fail(`node ${id} (pid ${pid}) RSS ${rssKb} kB`);
    } catch {
      // the process just died (our kill): nothing to sample
    }
  }
}

// ---- faults ------------------------------------------------------------------------

function linkRoutes(x: string, y: string): string[] {
  return [`${x}>${y}`, `${y}>${x}`];
}

type LinkFault = { label: string; faults: Faults } | { label: string; cut: 'hold' | 'discard' };

function randomLinkFault(): LinkFault {
  const kind = pick(['drop', 'delay', 'half-open', 'cut', 'blackhole'] as const);
  bump(stats.faults, kind);
  if (kind === 'drop') {
    const dropRate = Number(between(0.05, 0.6).toFixed(2));
    return { label: `drop ${Math.round(dropRate * 100)}% of chunks`, faults: { dropRate } };
  }
  if (kind === 'delay') {
    const delayMs = Math.round(between(20, 400));
    const jitterMs = Math.round(between(0, 200));
    return { label: `delay ${delayMs}+${jitterMs} ms`, faults: { delayMs, jitterMs } };
  }
  if (kind === 'half-open') return { label: 'half-open', faults: { halfOpen: true } };
  const mode = pick(['hold', 'discard'] as const);
  if (kind === 'blackhole') return { label: `blackhole (${mode})`, faults: { partition: mode } };
  return { label: `cut one way (${mode})`, cut: mode };
}

// ---- rounds ------------------------------------------------------------------------

async function measureDetection(victims: string[], killedAt: number, holdMs: number): Promise<void> {
  const watchers = liveIds();
  const pending = new Map<string, { suspected?: number; down?: number }>();
  for (const w of watchers) for (const v of victims) pending.set(`${w}:${v}`, {});
  const until = killedAt + Math.max(holdMs, DOWN_BOUND_MS + DETECTION_SLACK_MS + 500);
  while (Date.now() < until) {
    for (const w of watchers) {
      const s = snapshot(w);
      if (!s) continue;
      for (const v of victims) {
        const rec = pending.get(`${w}:${v}`)!;
        const st = s.peers.find((p) => p.serverId === v)?.status;
        const at = Date.now() - killedAt;
        if (st !== 'healthy' && rec.suspected === undefined) rec.suspected = at;
        if (st === 'down' && rec.down === undefined) rec.down = at;
      }
    }
    await sleep(20);
  }
  for (const [pair, rec] of pending) {
    const [w, v] = pair.split(':');
    if (rec.suspected === undefined || rec.down === undefined) {
      fail(`${w} never saw the killed ${v} ${rec.suspected === undefined ? 'suspected' : 'down'}`);
      continue;
    }
    stats.suspectMs.push(rec.suspected);
    stats.downMs.push(rec.down);
    if (rec.suspected > SUSPECT_BOUND_MS + DETECTION_SLACK_MS)
      fail(`${w} suspected the killed ${v} after ${rec.suspected} ms (bound ${SUSPECT_BOUND_MS} ms)`);
    if (rec.down > DOWN_BOUND_MS + DETECTION_SLACK_MS)
      fail(`${w} saw the killed ${v} down after ${rec.down} ms (bound ${DOWN_BOUND_MS} ms)`);
  }
}

async function partitionRound(holdMs: number, first: boolean): Promise<string> {
  const shuffled = [...IDS].sort(() => rand() - 0.5);
  const minority = first ? ['a', 'b'] : shuffled.slice(0, 2).sort();
  const majority = IDS.filter((x) => !minority.includes(x));
  const mode = pick(['hold', 'discard'] as const);
  for (const x of minority)
    for (const y of majority) for (const r of linkRoutes(x, y)) proxy.setFaults(r, { partition: mode });
  stats.partitions++;
  const startedAt = Date.now();
  const lostAt = new Map<string, number>();
  while (Date.now() - startedAt < holdMs) {
    const elapsed = Date.now() - startedAt;
    for (const id of IDS) {
      const s = snapshot(id);
      if (!s) continue;
      if (majority.includes(id)) {
        stats.majoritySamples++;
        if (!s.status.quorumAvailable)
          fail(`majority node ${id} lost quorum ${elapsed} ms into the partition: ${JSON.stringify(s.status)}`);
      } else {
        stats.minoritySamples++;
        if (!s.status.quorumAvailable && !lostAt.has(id)) lostAt.set(id, elapsed);
        if (s.status.quorumAvailable && lostAt.has(id))
          fail(`minority node ${id} regained quorum ${elapsed} ms into the partition`);
        if (s.status.quorumAvailable && elapsed > SUSPECT_BOUND_MS + DETECTION_SLACK_MS)
          fail(`minority node ${id} still reports quorum ${elapsed} ms into the partition`);
      }
    }
    await sleep(25);
  }
  for (const id of minority) {
    if (lostAt.has(id)) stats.minorityQuorumLostMs.push(lostAt.get(id)!);
    else fail(`minority node ${id} never reported quorumAvailable:false`);
  }
  return `partition {${minority}} | {${majority}} (${mode}); minority lost quorum after ${[...lostAt.values()].join('/')} ms`;
}

async function linkRound(holdMs: number, withKill: boolean): Promise<string> {
  const live = liveIds();
  const links = new Set<string>();
  const n = rand() < 0.3 ? 2 : 1;
  const among = live.length >= 2 ? live : IDS; // a fault between live nodes shows something
  while (links.size < n) {
    const x = pick(among);
    const y = pick(among.filter((z) => z !== x));
    links.add([x, y].sort().join('-'));
  }
  const labels: string[] = [];
  const faulted: { x: string; y: string; kind: string }[] = [];
  for (const link of links) {
    const [x, y] = link.split('-');
    const f = randomLinkFault();
    faulted.push({ x, y, kind: f.label.split(' ')[0] });
    if ('cut' in f) {
      // Only x -> y dies: "up" on the route x dials, "down" on the route y dials.
      proxy.setFaults(`${x}>${y}`, { cut: { direction: 'up', mode: f.cut } });
      proxy.setFaults(`${y}>${x}`, { cut: { direction: 'down', mode: f.cut } });
      labels.push(`${x}->${y} ${f.label}`);
    } else {
      for (const r of linkRoutes(x, y)) proxy.setFaults(r, f.faults);
      labels.push(`${x}<->${y} ${f.label}`);
    }
  }
  let killed = '';
  if (withKill && live.length > 3) {
    const victim = pick(live);
    const at = Date.now();
    await kill(victim);
    killed = `; kill -9 ${victim}`;
    await measureDetectionLoose([victim], at, holdMs);
  } else {
    await sleep(holdMs);
  }
  // What the fault did, as the two ends saw it just before the heal (h/s/d, or - if dead).
  const seen = (a: string, b: string) => (dead.has(a) ? '-' : (peerStatus(a, b)?.[0] ?? '?'));
  const effects = faulted.map(({ x, y, kind }) => {
    const [sx, sy] = [seen(x, y), seen(y, x)];
    if (sx !== 'h' || sy !== 'h') bump(stats.faultsVisible, kind);
    return `${x} sees ${y}: ${sx}, ${y} sees ${x}: ${sy}`;
  });
  return `${labels.join(', ')}${killed} [${effects.join('; ')}]`;
}

function peerStatus(observer: string, peer: string): string | undefined {
  return snapshot(observer)?.peers.find((p) => p.serverId === peer)?.status;
}

/** During link faults detection is not timed (a faulted link can delay the verdict); it must still happen. */
async function measureDetectionLoose(victims: string[], killedAt: number, holdMs: number): Promise<void> {
  await waitFor(
    () =>
      liveIds().every((w) => {
        const s = snapshot(w);
        return s && victims.every((v) => s.peers.find((p) => p.serverId === v)?.status !== 'healthy');
      }),
    {
      timeoutMs: DOWN_BOUND_MS + IDLE_TIMEOUT_MS + 2000,
      intervalMs: 25,
      what: `every live node to stop trusting ${victims}`,
    },
  ).catch((err: Error) => fail(err.message));
  const left = killedAt + holdMs - Date.now();
  if (left > 0) await sleep(left);
}

/**
 * A member joins through one live node (its real address: the joiner's own links carry no fault) while a link
 * between two of a-e is faulted, then leaves gracefully: every live node must learn it, then forget it.
 */
async function membershipRound(round: number, holdMs: number): Promise<string> {
  const live = liveIds();
  const [x, y] = [...live].sort(() => rand() - 0.5);
  const f = randomLinkFault();
  if ('cut' in f) {
    proxy.setFaults(`${x}>${y}`, { cut: { direction: 'up', mode: f.cut } });
    proxy.setFaults(`${y}>${x}`, { cut: { direction: 'down', mode: f.cut } });
  } else for (const r of linkRoutes(x, y)) proxy.setFaults(r, f.faults);
  const seedId = pick(live);
  const id = `m${round}`;
  const joiner = await startNode(
    {
      cluster,
      serverId: id,
      listen: '127.0.0.1:0',
      peers: [nodes.get(seedId)!.proc.address],
      heartbeatIntervalMs: INTERVAL_MS,
      heartbeatTimeoutMs: INTERVAL_MS,
      suspectAfter: SUSPECT_AFTER,
      downAfter: DOWN_AFTER,
    },
    { dialPolicy, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS },
  );
  const joinedAt = Date.now();
  const holds = (w: string) => snapshot(w)?.peers.find((p) => p.serverId === id);
  let outcome = '';
  try {
    await waitFor(() => liveIds().every((w) => holds(w)?.status === 'healthy' && holds(w)?.connection === 'active'), {
      timeoutMs: HEAL_BOUND_MS,
      intervalMs: 25,
      what: `every live node to hold the joiner ${id} healthy`,
    });
    stats.joinMs.push(Date.now() - joinedAt);
    outcome = `joined in ${Date.now() - joinedAt} ms`;
  } catch (err) {
    fail(`round ${round}: ${(err as Error).message}: ${describeCluster()}`);
  }
  const rest = joinedAt + holdMs - Date.now();
  if (rest > 0) await sleep(rest);
  joiner.child.send({ cmd: 'stop' });
  const stopped = await Promise.race([joiner.child.exited, sleep(5000).then(() => null)]);
  if (!stopped) {
    joiner.child.kill('SIGKILL');
    fail(`round ${round}: the joiner ${id} did not stop within 5 s`);
  }
  const leftAt = Date.now();
  try {
    await waitFor(() => liveIds().every((w) => holds(w) === undefined), {
      timeoutMs: HEAL_BOUND_MS,
      intervalMs: 25,
      what: `every live node to forget ${id} after its Leave`,
    });
    stats.leaveMs.push(Date.now() - leftAt);
    outcome += `, forgotten ${Date.now() - leftAt} ms after its Leave`;
  } catch (err) {
    fail(`round ${round}: ${(err as Error).message}: ${describeCluster()}`);
  }
  try {
    unlinkRegion({ cluster, serverId: id });
  } catch {
    // its clean stop removed it
  }
  return `member ${id} through ${seedId} while ${x}<->${y} ${f.label}: ${outcome}`;
}

async function killRound(holdMs: number): Promise<string> {
  const live = liveIds();
  const count = live.length >= 5 && rand() < 0.25 ? 2 : 1;
  const victims = [...live].sort(() => rand() - 0.5).slice(0, Math.min(count, live.length - 3));
  if (victims.length === 0) {
    await sleep(holdMs);
    return 'kill skipped: only 3 nodes alive';
  }
  const at = Date.now();
  await Promise.all(victims.map(kill));
  await measureDetection(victims, at, holdMs);
  return `kill -9 ${victims.join(', ')}`;
}

async function heal(round: number): Promise<void> {
  proxy.healAll();
  const healedAt = Date.now();
  // Restart the dead, mostly; sometimes one stays dead for another round (never more than one).
  let restart = [...dead].filter(() => rand() < 0.8);
  if (dead.size - restart.length > 1) restart = [...dead];
  await Promise.all(restart.map(launch));
  stats.restarts += restart.length;
  const readyAt = Date.now();
  try {
    await waitFor(converged, { timeoutMs: 30_000, intervalMs: 25, what: 'the cluster to converge after the heal' });
  } catch (err) {
    fail(`round ${round}: ${(err as Error).message}: ${describeCluster()}`);
  }
  // From the heal, or from the restarted nodes' readiness when there were any.
  const healMs = Date.now() - readyAt;
  stats.healMs.push(healMs);
  if (healMs > HEAL_BOUND_MS) fail(`round ${round}: converged ${healMs} ms after the heal (bound ${HEAL_BOUND_MS} ms)`);
  const restarted = restart.length ? `, restarted ${restart.join(', ')} in ${readyAt - healedAt} ms` : '';
  log(`  healed${restarted}; converged in ${healMs} ms${dead.size ? ` (still dead: ${[...dead]})` : ''}`);
}

function describeCluster(): string {
  return liveIds()
    .map((id) => {
      const s = snapshot(id);
      return `${id}[${s?.peers.map((p) => `${p.serverId}:${p.status[0]}/${p.connection}`).join(' ') ?? '?'}]`;
    })
    .join(' ');
}

// ---- main ----------------------------------------------------------------------------

async function main(): Promise<void> {
  console.log(
    `chaos: seed ${seed}, ${durationS} s, 5 nodes, interval ${INTERVAL_MS} ms, heal bound ${HEAL_BOUND_MS} ms` +
      `\n       replay: CHAOS_SEED=${seed} CHAOS_DURATION_S=${durationS} npm run test:chaos`,
  );
  // Routes first (their ports go into the configs), then the nodes, then point the routes at them.
  for (const x of IDS)
    for (const y of IDS)
      if (x !== y) routePort.set(`${x}>${y}`, await proxy.addRoute(`${x}>${y}`, { host: '127.0.0.1', port: 9 }));
  await Promise.all(IDS.map(launch));
  await waitFor(converged, { timeoutMs: 20_000, intervalMs: 25, what: 'the initial cluster to converge' });
  sampleResources();
  log('all 5 nodes healthy');

  const deadline = t0 + durationS * 1000;
  let round = 0;
  while (Date.now() < deadline - 6000 && failures.length < 10) {
    round++;
    const holdMs = Math.round(between(1500, 4000));
    const allAlive = dead.size === 0;
    let kind = pick([
      'kill',
      'kill',
      'partition',
      'partition',
      'link',
      'link',
      'link',
      'mixed',
      'membership',
      'membership',
    ] as const);
    if (round === 1) kind = 'partition'; // {a,b} | {c,d,e} first, as the issue names it
    if (kind === 'partition' && !allAlive) kind = 'link';
    bump(stats.rounds, kind);
    let what: string;
    if (kind === 'partition') what = await partitionRound(holdMs, round === 1);
    else if (kind === 'kill') what = await killRound(holdMs);
    else if (kind === 'membership') what = await membershipRound(round, holdMs);
    else what = await linkRound(holdMs, kind === 'mixed');
    log(`round ${round}: ${what}; held ${holdMs} ms`);
    await heal(round);
    sampleResources();
  }

  // Everyone back, then a clean stop.
  proxy.healAll();
  stats.restarts += dead.size;
  await Promise.all([...dead].map(launch));
  await waitFor(converged, { timeoutMs: 30_000, intervalMs: 25, what: 'the final convergence' }).catch((err: Error) =>
    fail(err.message),
  );
  sampleResources();
  const proxySockets = proxy.socketCount; // 2 per forwarded connection: 20 for 10 links
  stopping = true;
  const exits = await Promise.all(
    IDS.map(async (id) => {
      const n = nodes.get(id)!;
      n.view.close();
      n.proc.child.send({ cmd: 'stop' });
      const r = await Promise.race([n.proc.child.exited, sleep(5000).then(() => null)]);
      if (!r) n.proc.child.kill('SIGKILL');
      return [id, r] as const;
    }),
  );
  for (const [id, r] of exits) if (!r || r.code !== 0) fail(`node ${id} did not stop cleanly: ${JSON.stringify(r)}`);
  for (const id of IDS) {
    try {
      unlinkRegion({ cluster, serverId: id });
    } catch {
      // already gone
    }
  }
  await proxy.close();
  report(round, proxySockets);
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function report(rounds: number, proxySockets: number): void {
  const fds = [...stats.resources.values()].flatMap((r) => r.fd);
  const rss = [...stats.resources.values()].flatMap((r) => r.rss);
  // Growth over a process's life: its last sample against its first.
  const growth = [...stats.resources.values()]
    .filter((r) => r.fd.length >= 3)
    .map((r) => ({ fd: r.fd[r.fd.length - 1] - r.fd[0], rssMb: (r.rss[r.rss.length - 1] - r.rss[0]) / 2 ** 20 }));
  const maxFdGrowth = Math.max(0, ...growth.map((g) => g.fd));
  const maxRssGrowthMb = Math.max(0, ...growth.map((g) => g.rssMb));
  if (maxFdGrowth > 8) fail(`a node's fd count grew by ${maxFdGrowth} over its life`);
  if (maxRssGrowthMb > 64) fail(`a node's RSS grew by ${maxRssGrowthMb.toFixed(1)} MB over its life`);
  const summary = {
    seed,
    durationS: Math.round((Date.now() - t0) / 1000),
    rounds,
    roundsByKind: stats.rounds,
    linkFaults: stats.faults,
    linkFaultsVisibleBeforeHeal: stats.faultsVisible,
    kills: stats.kills,
    restarts: stats.restarts,
    partitions: stats.partitions,
    crashes: stats.crashes,
    healMs: {
      n: stats.healMs.length,
      p50: pct(stats.healMs, 50),
      p95: pct(stats.healMs, 95),
      max: Math.max(0, ...stats.healMs),
      bound: HEAL_BOUND_MS,
    },
    suspectAfterKillMs: {
      n: stats.suspectMs.length,
      p50: pct(stats.suspectMs, 50),
      max: Math.max(0, ...stats.suspectMs),
      bound: SUSPECT_BOUND_MS,
    },
    downAfterKillMs: {
      n: stats.downMs.length,
      p50: pct(stats.downMs, 50),
      max: Math.max(0, ...stats.downMs),
      bound: DOWN_BOUND_MS,
    },
    membership: {
      joins: stats.joinMs.length,
      joinMs: { p50: pct(stats.joinMs, 50), max: Math.max(0, ...stats.joinMs) },
      leaveMs: { p50: pct(stats.leaveMs, 50), max: Math.max(0, ...stats.leaveMs) },
      bound: HEAL_BOUND_MS,
    },
    minorityQuorumLostMs: { n: stats.minorityQuorumLostMs.length, max: Math.max(0, ...stats.minorityQuorumLostMs) },
    quorumSamples: { majority: stats.majoritySamples, minority: stats.minoritySamples },
    nodeProcesses: stats.resources.size,
    fd: { min: Math.min(...fds), max: Math.max(...fds), maxGrowthOverALife: maxFdGrowth },
    rssMb: {
      min: +(Math.min(...rss) / 2 ** 20).toFixed(1),
      max: +(Math.max(...rss) / 2 ** 20).toFixed(1),
      maxGrowthOverALife: +maxRssGrowthMb.toFixed(1),
    },
    proxySockets: { maxAtAHeal: stats.proxySocketsMax, atTheEnd: proxySockets },
    // Connections and frames the nodes refused (a dropped chunk tears a stream), summed over every node process.
    rejectedByNodes: [...stats.resources.values()].reduce<Record<string, number>>((sum, r) => {
      for (const [k, v] of Object.entries(r.rejected ?? {})) if (v) sum[k] = (sum[k] ?? 0) + v;
      return sum;
    }, {}),
    failures,
  };
  console.log(`\nchaos summary:\n${JSON.stringify(summary, null, 2)}`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(summary, null, 2));
  console.log(
    failures.length === 0
      ? `\nchaos: PASS (seed ${seed})`
      : `\nchaos: FAIL (seed ${seed}), ${failures.length} failure(s)`,
  );
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((err) => {
  console.error(`chaos: harness error (seed ${seed}):`, err);
  process.exitCode = 1;
  for (const n of nodes.values()) n.proc.child.kill('SIGKILL');
});
