// `commy ls`: every commy region on this host. POSIX lists /dev/shm; where the
// OS cannot list named regions, the per-user index written by writers is used.
import { RegionReader, listRegionNames, regionName } from '../../region/index.js';
import { readIndex, removeIndexEntry } from '../../region/name-index.js';
import { computeClusterStatus, statusFromCode } from '../../status.js';
import { ErrorCode } from '../../errors.js';
import { ExitCode } from '../exit.js';
import { ownerFlag } from '../options.js';
import { table, useColour } from '../render.js';

export interface RegionListing {
  cluster: string;
  serverId: string;
  name: string;
  /** goneForMs: how long ago a dead or stopped writer last showed life (its last heartbeat); null while alive. */
  writer: { pid: number; alive: boolean; heartbeatAgeMs: number; state: string; goneForMs: number | null };
  /** Counted as `commy status` counts: total and healthy include the node itself. */
  peers: { total: number; healthy: number; suspected: number; down: number };
}

function describe(r: RegionReader): RegionListing {
  const info = r.info();
  const s = computeClusterStatus(r.usedSlots().map((x) => statusFromCode(x.status)));
  return {
    cluster: info.cluster,
    serverId: info.serverId,
    name: info.name,
    writer: {
      pid: info.writer.pid,
      alive: info.writer.alive,
      heartbeatAgeMs: info.writer.heartbeatAgeMs,
      state: info.writer.state,
      goneForMs: info.writer.alive ? null : info.writer.heartbeatAgeMs,
    },
    peers: { total: s.totalPeers, healthy: s.healthyPeers, suspected: s.suspectedPeers, down: s.downPeers },
  };
}

/** The regions of `owner` (default: this process's account); others' are problems naming their owner. */
export function listRegions(owner?: string): { regions: RegionListing[]; problems: string[] } {
  const regions: RegionListing[] = [];
  const problems: string[] = [];
  const names = listRegionNames();
  if (names !== null) {
    for (const name of names) {
      try {
        const r = RegionReader.openByName(name, { owner });
        try {
          regions.push(describe(r));
        } finally {
          r.close();
        }
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
      }
    }
  } else {
    for (const e of readIndex()) {
      try {
        const r = RegionReader.open({ cluster: e.cluster, serverId: e.serverId, global: e.global, owner });
        try {
          regions.push(describe(r));
        } finally {
          r.close();
        }
      } catch (err) {
        if ((err as { code?: string }).code === ErrorCode.RegionNotFound) removeIndexEntry(regionName(e));
        else problems.push(`${e.name}: ${(err as Error).message}`);
      }
    }
  }
  regions.sort((a, b) => `${a.cluster}/${a.serverId}`.localeCompare(`${b.cluster}/${b.serverId}`));
  return { regions, problems };
}

/** alive, stopped (a clean stop) or dead (killed or crashed). */
export function writerWord(r: RegionListing): string {
  return r.writer.alive ? 'alive' : r.writer.state === 'stopped' ? 'stopped' : 'dead';
}

/** 850 ms, 42 s, 3m12s, 5h04m, 2d03h. */
export function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return `${Math.round(ms)} ms`;
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export function lsCommand(o: { json?: boolean; owner?: string }): number {
  const { regions, problems } = listRegions(ownerFlag(o.owner));
  if (o.json) {
    process.stdout.write(`${JSON.stringify(regions, null, 2)}\n`);
  } else if (regions.length === 0) {
    process.stdout.write('no commy regions on this host\n');
  } else {
    const colour = useColour(process.stdout);
    const rows = [['CLUSTER', 'SERVER', 'PID', 'WRITER', 'GONE FOR', 'NODES', 'HEALTHY', 'SUSPECTED', 'DOWN']];
    for (const r of regions) {
      rows.push([
        r.cluster,
        r.serverId,
        String(r.writer.pid),
        writerWord(r),
        r.writer.goneForMs === null ? '-' : duration(r.writer.goneForMs),
        String(r.peers.total),
        String(r.peers.healthy),
        String(r.peers.suspected),
        String(r.peers.down),
      ]);
    }
    process.stdout.write(
      `${table(rows, colour, (i, c) => (c === 3 ? (regions[i - 1].writer.alive ? 'healthy' : 'down') : undefined))}\n`,
    );
  }
  for (const p of problems) process.stderr.write(`commy ls: skipped ${p}\n`);
  return ExitCode.Ok;
}
