// Human output: tables, with colours only on a TTY (and never with NO_COLOR).
import type { ClusterSnapshot } from '../view.js';

export function useColour(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR;
}

const codes: Record<string, string> = { healthy: '32', suspected: '33', down: '31', dim: '2', bold: '1' };

export function paint(on: boolean, what: string, text: string): string {
  return on && codes[what] ? `\u001b[${codes[what]}m${text}\u001b[0m` : text;
}

export function table(
  rows: string[][],
  colour: boolean,
  colourOf?: (row: number, col: number) => string | undefined,
): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r, i) =>
      r
        .map((cell, c) => {
          const padded = cell.padEnd(widths[c]);
          const what = i === 0 ? 'bold' : colourOf?.(i, c);
          return what ? paint(colour, what, padded) : padded;
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function ago(ms: number | null, now = Date.now()): string {
  if (ms === null) return 'never';
  const d = Math.max(0, now - ms);
  if (d < 1000) return `${d} ms ago`;
  if (d < 60_000) return `${(d / 1000).toFixed(1)} s ago`;
  return `${Math.round(d / 60_000)} min ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function renderSnapshot(s: ClusterSnapshot, colour: boolean): string {
  const w = s.writer;
  const head =
    `${paint(colour, 'bold', `${s.cluster}/${s.serverId}`)} on ${s.listen || '?'}  ` +
    `writer pid ${w.pid} ${w.alive ? paint(colour, 'healthy', 'alive') : paint(colour, 'down', 'NOT ALIVE')} ` +
    `(heartbeat ${w.heartbeatAgeMs} ms ago)\n` +
    `peers ${s.status.healthyPeers}/${s.status.totalPeers} healthy, ${s.status.suspectedPeers} suspected, ` +
    `${s.status.downPeers} down; quorum ${s.status.quorumAvailable ? paint(colour, 'healthy', 'yes') : paint(colour, 'down', 'NO')}`;
  const d = s.discovery;
  const discovery = d
    ? `\ndiscovery ${d.up ? paint(colour, 'healthy', 'up') : paint(colour, 'down', 'DOWN')}, ${d.members} members listed, ` +
      `last refresh ${ago(d.lastRefreshMs)}${d.error ? ` (${d.error})` : ''}`
    : '';
  const rows = [['PEER', 'ADDRESS', 'STATUS', 'MISSED', 'LAST SEEN', 'SENT', 'RECEIVED', 'CONNECTION']];
  for (const p of s.peers) {
    rows.push([
      p.serverId,
      p.address,
      p.status,
      String(p.missedHeartbeats),
      ago(p.lastSeenMs),
      bytes(p.bytesSent),
      bytes(p.bytesReceived),
      p.connection,
    ]);
  }
  const body = s.peers.length
    ? table(rows, colour, (r, c) => (c === 2 ? s.peers[r - 1].status : undefined))
    : '(no peers)';
  return `${head}${discovery}\n${body}`;
}
