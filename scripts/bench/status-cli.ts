// Benchmark 5: the cost of one `commy status --json` call as a whole process
// (Node startup, addon load, one snapshot, JSON out), against `curl` of the
// same JSON from an HTTP endpoint on loopback, and bare Node startup
// (`node -e 0`) as the floor of any Node CLI. Uses hyperfine (-N, no shell)
// when installed, else times spawnSync; rounds interleave the commands.
// Run: node dist/scripts/bench/status-cli.js [--quick]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueKey } from '../../harness/names.js';
import {
  benchDir,
  cliPath,
  emit,
  fmt,
  forkHelper,
  log,
  ratio,
  sampleStats,
  startBench,
  table,
  which,
  type Stats,
} from './common.js';
import type { ReadAgentOptions, ReadAgentReady } from './read-agent.js';

const args = startBench();
const ROUNDS = args.quick ? 4 : 20;
const PER_ROUND = 5;
const PEERS = 16;

interface Cmd {
  key: string;
  label: string;
  argv: string[];
}

function shellQuote(a: string): string {
  return /^[\w./:=@-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** Wall times in ms of `runs` runs of each command, by hyperfine. */
function hyperfine(bin: string, cmds: Cmd[], runs: number, dir: string): Map<string, number[]> {
  const out = join(dir, 'hf.json');
  const r = spawnSync(
    bin,
    [
      '-N',
      '--style',
      'none',
      '--warmup',
      '1',
      '--runs',
      String(runs),
      '--export-json',
      out,
      ...cmds.map((c) => c.argv.map(shellQuote).join(' ')),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`hyperfine failed (${r.status}): ${r.stderr}`);
  const res = JSON.parse(readFileSync(out, 'utf8')) as { results: { times: number[] }[] };
  return new Map(cmds.map((c, i) => [c.key, res.results[i].times.map((t) => t * 1000)]));
}

function spawnTimes(cmds: Cmd[], runs: number): Map<string, number[]> {
  const m = new Map<string, number[]>(cmds.map((c) => [c.key, []]));
  for (let i = 0; i < runs; i++)
    for (const c of cmds) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(c.argv[0], c.argv.slice(1), { stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${c.label} exited with ${r.status}`);
      m.get(c.key)!.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  return m;
}

async function main(): Promise<void> {
  const cluster = uniqueKey('sb').cluster;
  const serverId = 'agent';
  const dir = mkdtempSync(join(tmpdir(), 'commy-bench-status-'));
  const opts: ReadAgentOptions = {
    cluster,
    serverId,
    peers: PEERS,
    sockPath: join(dir, 'agent.sock'),
    filePath: join(dir, 'status.json'),
    redisPort: null,
    redisKey: '',
    tickMs: 20,
  };
  const agent = forkHelper('read-agent.js', [JSON.stringify(opts)]);
  const ready = await agent.next<ReadAgentReady>((m) => m.ready === true);
  const curl = which('curl');
  const hf = which('hyperfine');
  const cmds: Cmd[] = [
    {
      key: 'commy',
      label: '`commy status --json`',
      argv: [process.execPath, cliPath, 'status', '--cluster', cluster, '--server', serverId, '--json'],
    },
    ...(curl
      ? [
          {
            key: 'curl',
            label: '`curl` of the same JSON over HTTP',
            argv: [curl, '-s', `http://127.0.0.1:${ready.httpPort}/status`],
          },
        ]
      : []),
    {
      key: 'min',
      label: 'a minimal Node program: `ClusterView.open()`, `snapshot()`, print',
      argv: [process.execPath, join(benchDir, 'min-status.js'), cluster, serverId],
    },
    { key: 'node', label: '`node -e 0` (Node startup alone)', argv: [process.execPath, '-e', '0'] },
  ];
  // The commands work and print the same object.
  const viaCli = JSON.parse(execFileSync(cmds[0].argv[0], cmds[0].argv.slice(1), { encoding: 'utf8' })) as object;
  if (curl) {
    const viaHttp = JSON.parse(
      execFileSync(curl, ['-s', `http://127.0.0.1:${ready.httpPort}/status`], { encoding: 'utf8' }),
    ) as object;
    if (Object.keys(viaCli).join() !== Object.keys(viaHttp).join()) throw new Error('commy status and curl disagree');
  }
  const times = new Map<string, number[]>(cmds.map((c) => [c.key, []]));
  try {
    spawnTimes(cmds, 2); // warm the page cache
    for (let r = 0; r < ROUNDS; r++) {
      log(`status: round ${r + 1}/${ROUNDS}`);
      const order = r % 2 === 0 ? cmds : [...cmds].reverse();
      const got = hf ? hyperfine(hf, order, PER_ROUND, dir) : spawnTimes(order, PER_ROUND);
      for (const [k, v] of got) times.get(k)!.push(...v);
    }
  } finally {
    agent.send('stop');
    await agent.exited;
    rmSync(dir, { recursive: true, force: true });
  }
  const st = new Map<string, Stats>(cmds.map((c) => [c.key, sampleStats(times.get(c.key)!, 1000)]));
  const c = st.get('commy')!;
  const rows = cmds.map((cmd) => {
    const s = st.get(cmd.key)!;
    return [
      cmd.label,
      fmt(s.p50),
      fmt(s.p99),
      fmt(s.max),
      fmt(s.mean),
      String(s.n),
      cmd.key === 'commy' ? '1×' : `${ratio(c.p50, s.p50)} (commy / this)`,
    ];
  });
  const headline: Record<string, number | string | boolean | null> = {
    'commy.p50ms': c.p50,
    'node.p50ms': st.get('node')!.p50,
    'min.p50ms': st.get('min')!.p50,
    'curl.p50ms': curl ? st.get('curl')!.p50 : null,
    tool: hf ? 'hyperfine' : 'spawnSync',
  };
  const md = [
    `One whole process per call, startup included, against a helper agent with ${PEERS} peers (the read benchmark's ` +
      `agent, which also serves the same JSON over HTTP). ${hf ? 'Timed by hyperfine (`-N`: no shell), ' : 'Timed by spawnSync from Node (hyperfine is not installed), '}` +
      `${ROUNDS} rounds of ${PER_ROUND} runs per command, the order alternating; times in ms.` +
      `${curl ? '' : ' **curl is not installed: its row is skipped.**'}\n`,
    table(['command', 'p50 ms', 'p99 ms', 'max ms', 'mean ms', 'runs', 'ratio at p50'], rows, 'lrrrrrl'),
    `\nA \`commy status\` call is a Node process, and nearly all of its time is startup: Node itself (the \`node -e 0\` ` +
      `row) and then loading modules; the shared-memory read inside it takes microseconds (see the read benchmark). ` +
      `The CLI loads each command's module only when that command runs (\`lib/cli/main.ts\`), so \`status\` pays ` +
      `for commander and its own imports, not for the agent's network stack, pino or prom-client; what is left ` +
      `between it and the minimal program (the same snapshot, printed the same way) is commander and the command's ` +
      `option checks. A program that reads the state often should keep a \`ClusterView\` open instead of spawning ` +
      `the CLI.`,
  ];
  emit(args, {
    name: 'status',
    title: 'A `commy status --json` call as a whole process',
    markdown: md,
    headline,
  });
}

await main();
