// Benchmark helper for detection.ts, one of three roles (argv[2]):
//   watch <cluster> <target> <observer>...  polls each observer's region every
//       millisecond with ClusterView.getPeer(target) and reports every status
//       change of the target the moment it sees it: {change, observer, from, to,
//       ns (CLOCK_MONOTONIC, comparable across processes), lagMs (now minus the
//       writer's statusChangedMs, wall clock, ms resolution)}.
//   vis-writer <cluster> <serverId>  a PeerRegistry that, when told {write: n},
//       makes n changes 0.3-2 ms apart, each carrying (as the peer's metadata)
//       the CLOCK_MONOTONIC time at which its write began; on "stop" it reports
//       each write's start and how long the call took.
//   vis-reader <cluster> <serverId> <ms>  spins on the region's change
//       generation for <ms> and reports, for each change seen, the write's
//       start time and when it became visible here.
import { ClusterView } from '../../lib/view.js';
import { RegionReader } from '../../lib/region/index.js';
import { PeerRegistry } from '../../lib/registry/registry.js';
import { parseConfig } from '../../lib/registry/config.js';

const [role, cluster, ...rest] = process.argv.slice(2);
const send = (m: unknown) => process.send?.(m);

function watch(target: string, observers: string[]): void {
  const views = new Map<string, ClusterView>();
  const last = new Map<string, string>();
  const poll = () => {
    for (const o of observers) {
      let v = views.get(o);
      if (!v) {
        try {
          v = ClusterView.open({ cluster, serverId: o });
          views.set(o, v);
        } catch {
          continue; // not created yet
        }
      }
      const p = v.getPeer(target);
      if (!p) continue;
      const prev = last.get(o);
      if (prev === p.status) continue;
      last.set(o, p.status);
      if (prev === undefined) continue;
      const ns = process.hrtime.bigint();
      const changed = v.inspect().peers.find((x) => x.serverId === target)?.statusChangedMs ?? null;
      send({
        change: true,
        observer: o,
        from: prev,
        to: p.status,
        ns: String(ns),
        lagMs: changed === null ? null : Date.now() - changed,
      });
    }
  };
  const timer = setInterval(poll, 1);
  process.on('message', (m) => {
    if (m !== 'stop') return;
    clearInterval(timer);
    for (const v of views.values()) v.close();
    send({ stopped: true });
    process.disconnect?.();
  });
  send({ ready: true });
}

function visWriter(serverId: string): void {
  const registry = new PeerRegistry(
    parseConfig({ cluster, serverId, listen: '127.0.0.1:7100', peers: ['p0@127.0.0.1:7101'], capacity: 2 }),
  );
  registry.initialize();
  let written = 0;
  const writes: [string, number][] = []; // [start ns, call duration ns]
  process.on('message', (m: unknown) => {
    if (m === 'stop') {
      registry.close({ unlink: true });
      send({ stopped: true, written, writes });
      process.disconnect?.();
      return;
    }
    let left = (m as { write: number }).write;
    const step = () => {
      if (left-- <= 0) {
        send({ wrote: true });
        return;
      }
      const t = process.hrtime.bigint();
      registry.setPeerMetadata('p0', { t: String(t) });
      writes.push([String(t), Number(process.hrtime.bigint() - t)]);
      written++;
      setTimeout(step, 0.3 + Math.random() * 1.7);
    };
    step();
  });
  send({ ready: true });
}

function visReader(serverId: string, ms: number): void {
  const region = RegionReader.open({ cluster, serverId });
  const view = ClusterView.open({ cluster, serverId });
  const seen: [string, string][] = []; // [write start ns, seen ns]
  let gen = region.generation();
  let lastT = '';
  const end = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  let polls = 0;
  for (;;) {
    const g = region.generation();
    polls++;
    if (g !== gen) {
      const now = process.hrtime.bigint();
      gen = g;
      const t = view.getPeerMetadata('p0').t;
      if (t && t !== lastT) {
        lastT = t;
        seen.push([t, String(now)]);
      }
    }
    if ((polls & 1023) === 0 && process.hrtime.bigint() > end) break;
  }
  region.close();
  view.close();
  send({ seen, polls });
  process.disconnect?.();
}

if (role === 'watch') watch(rest[0], rest.slice(1));
else if (role === 'vis-writer') visWriter(rest[0]);
else if (role === 'vis-reader') visReader(rest[0], Number(rest[1]));
else throw new Error(`unknown role ${role}`);
