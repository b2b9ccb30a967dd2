// Benchmark 4: overhead.
// (1) Bytes on the wire per heartbeat exchange (ping + pong, framing and the
//     encryption tag included), counted on the real sockets by a TCP proxy between
//     two nodes that parses the frame headers, and cross-checked with the
//     nodes' own byte counters in the region.
// (2) CPU and RSS of a `commy agent` process tracking 0, 8, 32 and 64 peers at
//     a 1 s interval; the peers are real ClusterNodes in helper processes on
//     loopback. All agents run at once, over the same window, so machine
//     drift hits them alike; a bare Node process with a timer runs beside them.
// (3) Where an agent's memory goes: the RSS of a fresh process that only
//     imports one module (a dependency, or commy's own entry points).
// Run: node dist/scripts/bench/overhead.js [--quick]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { ClusterNode } from '../../lib/node.js';
import { ClusterView } from '../../lib/view.js';
import { unlinkRegion } from '../../lib/region/index.js';
import { MessageType } from '../../lib/protocol/messages.js';
import { freePort } from '../../harness/loopback.js';
import { uniqueKey } from '../../harness/names.js';
import { spawnTracked, stopProcess, type ForkedChild } from '../../harness/processes.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { cliPath, cpuNs, emit, fmt, forkHelper, log, rootDir, rssKiB, SECRET, startBench, table } from './common.js';

const args = startBench();
const WIRE_INTERVAL_MS = 100;
const WIRE_WINDOW_MS = args.quick ? 3000 : 15_000;
const AGENT_PEERS = [0, 8, 32, 64];
const CPU_WINDOW_S = args.quick ? 10 : 60;
const PEERS_PER_HOST = 16;

// ---- (1) bytes per exchange ---------------------------------------------------

interface Frame {
  dir: 'a->b' | 'b->a';
  type: number;
  bytes: number;
  at: number;
}

/** A TCP proxy that forwards both ways and records every frame it sees. */
function countingProxy(target: number, frames: Frame[]): Promise<{ server: Server; port: number }> {
  const parse = (dir: Frame['dir']) => {
    let buf: Buffer = Buffer.alloc(0);
    return (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 5) {
        const len = buf.readUInt32BE(0);
        if (buf.length < 4 + len) break;
        frames.push({ dir, type: buf[4], bytes: 4 + len, at: Date.now() });
        buf = buf.subarray(4 + len);
      }
    };
  };
  const server = createServer((client: Socket) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    const ab = parse('a->b');
    const ba = parse('b->a');
    client.on('data', (c: Buffer) => {
      ab(c);
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => {
      ba(c);
      client.write(c);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  return new Promise((res) =>
    server.listen(0, '127.0.0.1', () => res({ server, port: (server.address() as { port: number }).port })),
  );
}

interface Wire {
  ping: { n: number; min: number; max: number; mean: number };
  pong: { n: number; min: number; max: number; mean: number };
  perExchange: number;
  other: number;
  handshake: number;
  counterBytes: number;
  proxyBytes: number;
}

async function wireBytes(): Promise<Wire> {
  const cluster = uniqueKey('wb').cluster;
  const frames: Frame[] = [];
  const b = await ClusterNode.start(
    { cluster, serverId: 'b', listen: '127.0.0.1:0', peers: [], heartbeatIntervalMs: WIRE_INTERVAL_MS },
    { secret: SECRET, allowDynamicJoin: true, unlinkOnStop: true },
  );
  const bPort = Number(b.address.split(':').pop());
  const proxy = await countingProxy(bPort, frames);
  const a = await ClusterNode.start(
    {
      cluster,
      serverId: 'a',
      listen: '127.0.0.1:0',
      peers: [`b@127.0.0.1:${proxy.port}`],
      heartbeatIntervalMs: WIRE_INTERVAL_MS,
    },
    { secret: SECRET, unlinkOnStop: true },
  );
  const va = ClusterView.open({ cluster, serverId: 'a' });
  try {
    await waitFor(() => va.getPeer('b')?.status === 'healthy' && va.getPeer('b')?.connection === 'active', {
      timeoutMs: 10_000,
      intervalMs: 5,
      what: 'a to see b',
    });
    await sleep(1000); // handshake and first exchanges done
    const handshake = frames
      .filter(
        (f) => f.type === MessageType.Hello || f.type === MessageType.HelloAck || f.type === MessageType.HelloProof,
      )
      .reduce((s, f) => s + f.bytes, 0);
    const from = frames.length;
    const p0 = va.getPeer('b')!;
    const c0 = p0.bytesSent + p0.bytesReceived;
    await sleep(WIRE_WINDOW_MS);
    const p1 = va.getPeer('b')!;
    const c1 = p1.bytesSent + p1.bytesReceived;
    const win = frames.slice(from);
    const kind = (t: number) => {
      const fs = win.filter((f) => f.type === t).map((f) => f.bytes);
      return {
        n: fs.length,
        min: Math.min(...fs),
        max: Math.max(...fs),
        mean: fs.reduce((s, x) => s + x, 0) / Math.max(fs.length, 1),
      };
    };
    const ping = kind(MessageType.HeartbeatPing);
    const pong = kind(MessageType.HeartbeatPong);
    return {
      ping,
      pong,
      perExchange: ping.mean + pong.mean,
      other: win.filter((f) => f.type !== MessageType.HeartbeatPing && f.type !== MessageType.HeartbeatPong).length,
      handshake,
      counterBytes: c1 - c0,
      proxyBytes: win.reduce((s, f) => s + f.bytes, 0),
    };
  } finally {
    va.close();
    await a.stop();
    await b.stop();
    proxy.server.close();
  }
}

// ---- (2) agent CPU and RSS ----------------------------------------------------

interface AgentRun {
  peers: number;
  agent: ChildProcess;
  hosts: ForkedChild[];
  view: ClusterView | undefined;
  serverId: string;
}

/** CPU and RSS of one process over the window, from two schedstat readings and per-second RSS samples. */
interface Usage {
  cpuPct: number;
  mainPct: number;
  rssAvgMiB: number;
  rssMaxMiB: number;
}

interface AgentResult extends Usage {
  peers: number;
  healthyAtEnd: number;
}

async function agentCpu(): Promise<{ results: AgentResult[]; bare: Usage; windowS: number }> {
  const cluster = uniqueKey('ob').cluster;
  const dir = mkdtempSync(join(tmpdir(), 'commy-bench-overhead-'));
  const env = { ...process.env, COMMY_SECRET: SECRET, COMMY_LOG_LEVEL: 'warn' };
  const runs: AgentRun[] = [];
  // The yardstick for memory and idle CPU: a bare Node process that only keeps a timer.
  const bare = spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  try {
    for (const n of AGENT_PEERS) {
      const serverId = `agent${n}`;
      const hosts: ForkedChild[] = [];
      const peers: string[] = [];
      for (let h = 0; h * PEERS_PER_HOST < n; h++) {
        const count = Math.min(PEERS_PER_HOST, n - h * PEERS_PER_HOST);
        const host = forkHelper('peer-host.js', [cluster, `n${n}h${h}p`, String(count), '1000'], {
          COMMY_SECRET: SECRET,
        });
        hosts.push(host);
        peers.push(...(await host.next<{ peers: string[] }>((m) => 'peers' in m, 60_000)).peers);
      }
      const file = join(dir, `${serverId}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          cluster,
          serverId,
          listen: `127.0.0.1:${await freePort()}`,
          peers,
          heartbeatIntervalMs: 1000,
          capacity: 64,
        }),
      );
      const agent = spawnTracked(process.execPath, [cliPath, 'agent', '--config', file], { env });
      runs.push({ peers: n, agent, hosts, view: undefined, serverId });
    }
    // Every agent sees every one of its peers healthy over an active connection.
    await waitFor(
      () =>
        runs.every((r) => {
          r.view ??= ClusterView.open({ cluster, serverId: r.serverId });
          const s = r.view.snapshot();
          return (
            s.peers.length === r.peers && s.peers.every((p) => p.status === 'healthy' && p.connection === 'active')
          );
        }),
      { timeoutMs: 60_000, intervalMs: 5, what: 'every agent to see all its peers' },
    );
    await sleep(3000); // settle: handshakes, first heartbeats, JIT
    log(`overhead: measuring ${runs.length} agents for ${CPU_WINDOW_S} s`);
    const pids = [...runs.map((r) => r.agent.pid!), bare.pid!];
    const cpu0 = pids.map(cpuNs);
    const t0 = process.hrtime.bigint();
    const rss: number[][] = pids.map(() => []);
    for (let s = 0; s < CPU_WINDOW_S; s++) {
      await sleep(1000);
      pids.forEach((pid, i) => rss[i].push(rssKiB(pid)));
    }
    const wallNs = Number(process.hrtime.bigint() - t0);
    const usage = (i: number): Usage => {
      const cpu1 = cpuNs(pids[i]);
      return {
        cpuPct: ((cpu1[0] - cpu0[i][0]) / wallNs) * 100,
        mainPct: ((cpu1[1] - cpu0[i][1]) / wallNs) * 100,
        rssAvgMiB: rss[i].reduce((a, b) => a + b, 0) / rss[i].length / 1024,
        rssMaxMiB: Math.max(...rss[i]) / 1024,
      };
    };
    const results = runs.map((r, i) => {
      const s = r.view!.snapshot();
      return { peers: r.peers, ...usage(i), healthyAtEnd: s.peers.filter((p) => p.status === 'healthy').length };
    });
    return { results, bare: usage(runs.length), windowS: wallNs / 1e9 };
  } finally {
    await stopProcess(bare);
    for (const r of runs) r.view?.close();
    await Promise.all(runs.map((r) => stopProcess(r.agent)));
    // A stopped agent leaves its region (state "stopped") for readers; a benchmark leaves nothing.
    for (const r of runs) unlinkRegion({ cluster, serverId: r.serverId });
    await Promise.all(
      runs.flatMap((r) =>
        r.hosts.map(async (h) => {
          h.send('stop');
          await Promise.race([h.exited, sleep(10_000)]);
          if (h.proc.exitCode === null) await stopProcess(h.proc);
        }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- (3) RSS of imports ------------------------------------------------------

const IMPORTS: [label: string, specifier: string | null][] = [
  ['nothing (a timer only)', null],
  ['msgpackr (frame bodies)', 'msgpackr'],
  ['cockatiel (backoff, circuit breaker)', 'cockatiel'],
  ['pino (agent logs)', 'pino'],
  ['prom-client (agent metrics)', 'prom-client'],
  ['commy: ClusterView (a reader)', pathToFileURL(join(rootDir, 'dist', 'lib', 'view.js')).href],
  ['commy: ClusterNode (msgpackr, cockatiel, the addon)', pathToFileURL(join(rootDir, 'dist', 'lib', 'node.js')).href],
  [
    'commy: the agent command (ClusterNode, pino, prom-client)',
    pathToFileURL(join(rootDir, 'dist', 'lib', 'cli', 'commands', 'agent.js')).href,
  ],
];

/** RSS of a fresh process after it imported one module and settled for a second (median of 3). */
async function importRss(specifier: string | null): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    const code = `${specifier ? `await import(${JSON.stringify(specifier)});` : ''} process.send('ready'); setInterval(() => {}, 1000);`;
    const child = spawnTracked(process.execPath, ['--input-type=module', '-e', code], {
      cwd: rootDir,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (c) => reject(new Error(`importing ${specifier} exited with ${c}`)));
      });
      await sleep(1000);
      samples.push(rssKiB(child.pid!) / 1024);
    } finally {
      await stopProcess(child);
    }
  }
  return samples.sort((a, b) => a - b)[1];
}

async function main(): Promise<void> {
  log('overhead: bytes per heartbeat exchange');
  const w = await wireBytes();
  log('overhead: agent CPU and RSS');
  const { results, bare, windowS } = await agentCpu();
  log('overhead: RSS of imports');
  const imports: [string, number][] = [];
  for (const [label, spec] of IMPORTS) imports.push([label, await importRss(spec)]);
  const headline: Record<string, number | string | boolean | null> = {
    'wire.perExchange': w.perExchange,
    'wire.pingMax': w.ping.max,
    'wire.pongMax': w.pong.max,
    'bare.rss.MiB': bare.rssMaxMiB,
    'bare.cpu.pct': bare.cpuPct,
  };
  for (const r of results) {
    headline[`cpu.${r.peers}.pct`] = r.cpuPct;
    headline[`rss.${r.peers}.MiB`] = r.rssMaxMiB;
  }
  const md = [
    `**Bytes per heartbeat exchange.** Two nodes at a ${WIRE_INTERVAL_MS} ms interval, a dialing b through a TCP proxy ` +
      `that forwards bytes both ways and reads the frame headers (\`[u32 length][u8 type]\`); every heartbeat a, ` +
      `which dialed, pings and b answers with a pong (protocol 2.3: one exchange per pair and interval). Over ` +
      `${WIRE_WINDOW_MS / 1000} s after the handshake:\n`,
    table(
      ['frame', 'count', 'bytes min', 'bytes mean', 'bytes max'],
      [
        ['HeartbeatPing', w.ping.n, w.ping.min, fmt(w.ping.mean), w.ping.max],
        ['HeartbeatPong', w.pong.n, w.pong.min, fmt(w.pong.mean), w.pong.max],
        [
          '**exchange (ping + pong)**',
          Math.min(w.ping.n, w.pong.n),
          w.ping.min + w.pong.min,
          `**${fmt(w.perExchange)}**`,
          w.ping.max + w.pong.max,
        ],
      ],
      'lrrrr',
    ),
    `\nEach frame is the 4-byte length, the type byte, the encrypted msgpack body (as long as the body) and the 16-byte ChaCha20-Poly1305 tag; no other frame ` +
      `crossed in the window (${w.other} others). The nodes' own counters in the region (bytes sent + received by a ` +
      `for b) grew by ${w.counterBytes.toLocaleString('en-US')} bytes in the same window, the proxy saw ` +
      `${w.proxyBytes.toLocaleString('en-US')} (the windows differ by the moment each was read). The handshake ` +
      `(Hello, HelloAck, HelloProof) costs ${w.handshake} bytes once per connection. Not counted, as for any TCP ` +
      `protocol: the IP and TCP headers, 52 bytes per segment on loopback (IPv4 with TCP timestamps); with Nagle off ` +
      `each frame is one segment, plus ACKs that the kernel delays or piggybacks.`,
    `\n**Agent CPU and memory.** Real \`commy agent\` processes (CLI, JSON logs to /dev/null, heartbeats every 1 s), one ` +
      `per row, all running at once; each one's peers are real \`ClusterNode\`s, ${PEERS_PER_HOST} per helper process, ` +
      `that the agent dials: it pings each of them every second and they answer, one exchange per peer per second ` +
      `(before protocol 2.3 both sides pinged, two exchanges). After every agent ` +
      `saw all its peers healthy and 3 s more, CPU is the time the agent's threads ran over a ${fmt(windowS)} s window, ` +
      `as a percentage of one core, from the scheduler's exact accounting (/proc/<pid>/task/*/schedstat; the main ` +
      `thread runs the JavaScript, the others are V8's GC and compiler threads and libuv's); RSS sampled every second.` +
      (args.quick ? ` **Quick mode: a ${CPU_WINDOW_S} s window instead of 60 s.**` : '') +
      '\n',
    table(
      ['peers', 'CPU % of one core', 'main thread %', 'RSS avg MiB', 'RSS max MiB', 'healthy at end'],
      [
        ...results.map((r) => [
          String(r.peers),
          fmt(r.cpuPct),
          fmt(r.mainPct),
          fmt(r.rssAvgMiB),
          fmt(r.rssMaxMiB),
          `${r.healthyAtEnd}/${r.peers}`,
        ]),
        [
          'a bare Node process with a timer (`node -e "setInterval(…, 1000)"`)',
          fmt(bare.cpuPct),
          fmt(bare.mainPct),
          fmt(bare.rssAvgMiB),
          fmt(bare.rssMaxMiB),
          '',
        ],
      ],
    ),
    `\nRSS of the agent against the bare process, at the max of each: ` +
      results.map((r) => `${fmt(r.rssMaxMiB / bare.rssMaxMiB)}× with ${r.peers} peers`).join(', ') +
      '.',
    `\n**Where the memory goes.** A fresh process that imports one module and nothing else, then keeps a timer; ` +
      `RSS one second after the import (median of 3 processes). The rows do not add up: the first package of ` +
      `each module system pays for its loader.\n`,
    table(
      ['imports', 'RSS MiB', 'over nothing'],
      imports.map(([label, mib]) => [label, fmt(mib), `+${fmt(mib - imports[0][1])}`]),
      'lrr',
    ),
  ];
  emit(args, {
    name: 'overhead',
    title: 'Overhead: bytes on the wire, agent CPU and memory',
    markdown: md,
    headline,
  });
}

await main();
