// Soak: a 5-node cluster on loopback with constant metadata churn (every node
// replaces its metadata every --churn-ms, which each peer writes into its
// region) and 4 reader processes reading every region in a loop and checking
// each read. Samples fd count, RSS and live heap (after a forced GC) of every
// process over time, and fails on any torn or failed read, or on growth.
// Not part of npm test or CI: run `npm run soak` (10 minutes) or
//   npm run soak -- --duration 180 --json soak.json
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unlinkRegion } from '../../lib/region/index.js';
import { freePorts, loopbackPeers } from '../../harness/loopback.js';
import { trackChild } from '../../harness/processes.js';
import { sleep } from '../../harness/wait.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const durationS = Number(arg('duration', '600'));
const churnMs = Number(arg('churn-ms', '20'));
const sampleS = Number(arg('sample-s', '15'));
const readerDuty = Number(arg('reader-duty', '25'));
const jsonOut = arg('json', '');
const here = dirname(fileURLToPath(import.meta.url));
const IDS = ['a', 'b', 'c', 'd', 'e'];
const READERS = 4;
const secret = `soak-secret-${process.pid}-0123456789abcdef`;
const cluster = `soak${process.pid}`;
const mb = (n: number) => +(n / 2 ** 20).toFixed(1);

interface Proc {
  name: string;
  child: ChildProcess;
  samples: { t: number; fd: number; rss: number; heapUsed: number; [k: string]: unknown }[];
  pending?: (s: Record<string, unknown>) => void;
  transitions: unknown[];
}

// Not harness/processes.ts forkChild: its message queue would keep every
// transition report; the soak handles each message as it comes.
function spawn(name: string, script: string, argv: string[]): Promise<Proc> {
  const child = trackChild(
    fork(join(here, script), argv, {
      execArgv: ['--expose-gc'],
      env: { ...process.env, COMMY_SECRET: secret },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const p: Proc = { name, child, samples: [], transitions: [] };
  return new Promise((resolve, reject) => {
    child.on('message', (m: { ready?: boolean; sample?: Record<string, unknown>; event?: string }) => {
      if (m.ready) resolve(p);
      if (m.sample) p.pending?.(m.sample);
      // Transitions once the stop began are the Leave of the nodes stopped first: expected.
      if (m.event === 'transition' && !stopping)
        p.transitions.push({ ...m, atS: Math.round((Date.now() - started) / 1000) });
    });
    child.once('exit', (code, signal) => {
      if (!stopping) crashes.push(`${name} exited: code ${code}, signal ${signal}`);
      reject(new Error(`${name} exited before it was ready`));
    });
  });
}
let stopping = false;
const crashes: string[] = [];
const started = Date.now();

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1; // not Linux, or gone
  }
}

async function sample(p: Proc, t: number): Promise<void> {
  const got = await Promise.race([
    new Promise<Record<string, unknown>>((resolve) => {
      p.pending = resolve;
      p.child.send({ cmd: 'sample' });
    }),
    sleep(5000).then(() => null),
  ]);
  if (!got) throw new Error(`${p.name} did not answer a sample request`);
  p.samples.push({ t, fd: fdCount(p.child.pid!), ...(got as { rss: number; heapUsed: number }) });
}

async function main(): Promise<void> {
  const t0 = Date.now();
  console.log(
    `soak: ${durationS} s, 5 nodes (metadata every ${churnMs} ms each), ${READERS} readers (${readerDuty}% duty), sample every ${sampleS} s`,
  );
  const ports = await freePorts(IDS.length);
  const nodes = await Promise.all(
    IDS.map((id, i) =>
      spawn(`node ${id}`, 'soak-node.js', [
        JSON.stringify({
          cluster,
          serverId: id,
          listen: `127.0.0.1:${ports[i]}`,
          peers: loopbackPeers(IDS, ports, i),
          heartbeatIntervalMs: 500,
        }),
        String(churnMs),
      ]),
    ),
  );
  await sleep(2000); // let every pair connect and exchange metadata once
  const readers = await Promise.all(
    Array.from({ length: READERS }, (_, i) =>
      spawn(`reader ${i + 1}`, 'soak-reader.js', [cluster, IDS.join(','), String(readerDuty)]),
    ),
  );
  const all = [...nodes, ...readers];
  const problems: string[] = [];
  const header = 'time    ' + nodes.map((n) => `${n.name}: fd rss/heap MB`.padEnd(26)).join('') + 'reads   torn failed';
  console.log(header);
  for (let next = 0; next <= durationS; next += sampleS) {
    const wait = t0 + next * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    const t = Math.round((Date.now() - t0) / 1000);
    await Promise.all(all.map((p) => sample(p, t)));
    const last = (p: Proc) => p.samples[p.samples.length - 1];
    const reads = readers.reduce((s, r) => s + (last(r).reads as number), 0);
    const torn = readers.reduce((s, r) => s + (last(r).torn as number), 0);
    const failed = readers.reduce((s, r) => s + (last(r).failed as number), 0);
    for (const r of readers) problems.push(...(last(r).problems as string[]));
    console.log(
      `${String(t).padStart(4)} s  ` +
        nodes.map((n) => `${last(n).fd} ${mb(last(n).rss)}/${mb(last(n).heapUsed)}`.padEnd(26)).join('') +
        `${reads} ${torn} ${failed}`,
    );
  }
  stopping = true;
  for (const p of all) p.child.send({ cmd: 'stop' });
  await Promise.all(
    all.map((p) => Promise.race([new Promise((r) => p.child.once('exit', r)), sleep(5000).then(() => p.child.kill())])),
  );
  for (const id of IDS) {
    try {
      unlinkRegion({ cluster, serverId: id });
    } catch {
      // already gone
    }
  }
  report(nodes, readers, problems, Date.now() - t0);
}

function report(nodes: Proc[], readers: Proc[], problems: string[], elapsedMs: number): void {
  const failures: string[] = [...crashes];
  const last = (p: Proc) => p.samples[p.samples.length - 1];
  const totals = {
    reads: readers.reduce((s, r) => s + (last(r).reads as number), 0),
    peerReads: readers.reduce((s, r) => s + (last(r).peerReads as number), 0),
    metadataChecked: readers.reduce((s, r) => s + (last(r).metadataChecked as number), 0),
    torn: readers.reduce((s, r) => s + (last(r).torn as number), 0),
    failed: readers.reduce((s, r) => s + (last(r).failed as number), 0),
    metadataUpdates: nodes.reduce((s, n) => s + (last(n).seq as number), 0),
    transitions: nodes.reduce((s, n) => s + n.transitions.length, 0),
  };
  if (totals.torn > 0) failures.push(`${totals.torn} torn reads`);
  if (totals.failed > 0) failures.push(`${totals.failed} failed reads`);
  // Growth: the last sample against the one after the first minute (warm-up).
  const growth = [...nodes, ...readers].map((p) => {
    const base = p.samples.find((s) => s.t >= Math.min(60, elapsedMs / 4000)) ?? p.samples[0];
    const end = last(p);
    const peak = (k: 'fd' | 'rss' | 'heapUsed') => Math.max(...p.samples.map((s) => s[k]));
    return {
      name: p.name,
      fd: [base.fd, end.fd, peak('fd')],
      rssMb: [mb(base.rss), mb(end.rss), mb(peak('rss'))],
      heapMb: [mb(base.heapUsed), mb(end.heapUsed), mb(peak('heapUsed'))],
    };
  });
  for (const g of growth) {
    if (g.fd[1] > g.fd[0] + 2) failures.push(`${g.name}: fd ${g.fd[0]} -> ${g.fd[1]}`);
    if (g.heapMb[1] > g.heapMb[0] * 1.25 + 2) failures.push(`${g.name}: live heap ${g.heapMb[0]} -> ${g.heapMb[1]} MB`);
    if (g.rssMb[1] > g.rssMb[0] + 32) failures.push(`${g.name}: RSS ${g.rssMb[0]} -> ${g.rssMb[1]} MB`);
  }
  const summary = {
    durationS: Math.round(elapsedMs / 1000),
    churnMs,
    readers: readers.length,
    readerDutyPercent: readerDuty,
    totals,
    readsPerSecond: Math.round(totals.reads / (elapsedMs / 1000)),
    perProcess: growth,
    nodeSamples: Object.fromEntries(
      nodes.map((n) => [
        n.name,
        n.samples.map((s) => ({
          t: s.t,
          fd: s.fd,
          rssMb: mb(s.rss),
          heapMb: mb(s.heapUsed),
          heapTotalMb: mb(s.heapTotal as number),
          externalMb: mb(s.external as number),
        })),
      ]),
    ),
    problems: problems.slice(0, 20),
    transitions: nodes.flatMap((n) => n.transitions.map((t) => ({ node: n.name, ...(t as object) }))).slice(0, 50),
    failures,
  };
  console.log('\nper process: [after warm-up, at the end, peak]');
  for (const g of growth)
    console.log(
      `  ${g.name.padEnd(9)} fd ${g.fd.join('/')}  rss MB ${g.rssMb.join('/')}  live heap MB ${g.heapMb.join('/')}`,
    );
  console.log(`\ntotals: ${JSON.stringify(totals)}`);
  if (problems.length) console.log(`first problems:\n  ${problems.slice(0, 10).join('\n  ')}`);
  const transitions = nodes.flatMap((n) => n.transitions.map((t) => `${n.name}: ${JSON.stringify(t)}`));
  if (transitions.length)
    console.log(`peer transitions seen by the nodes:\n  ${transitions.slice(0, 10).join('\n  ')}`);
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(summary, null, 2));
  console.log(failures.length === 0 ? '\nsoak: PASS' : `\nsoak: FAIL\n  ${failures.join('\n  ')}`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main().catch((err) => {
  console.error('soak: harness error:', err);
  process.exitCode = 1;
  process.exit();
});
