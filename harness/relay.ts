// Harness (see harness/README.md): a TCP relay on loopback that records the bytes of every
// connection through it both ways, and the frames in such a capture, for tests that check what
// nodes put on the wire.
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { FrameDecoder } from '../lib/protocol/frame.js';

/** One TCP connection through a relay: the bytes each way. */
export interface Captured {
  toServer: Buffer[];
  toClient: Buffer[];
}

/** A relay on a free loopback port to `target()`, recording every connection's bytes both ways. */
export async function recordingRelay(
  target: () => number,
): Promise<{ port: number; sessions: Captured[]; close(): Promise<void> }> {
  const sessions: Captured[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const c: Captured = { toServer: [], toClient: [] };
    sessions.push(c);
    const outbound = connect({ host: '127.0.0.1', port: target() });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.on('data', (b: Buffer) => {
      c.toServer.push(Buffer.from(b));
      outbound.write(b);
    });
    outbound.on('data', (b: Buffer) => {
      c.toClient.push(Buffer.from(b));
      inbound.write(b);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The frames of one direction of a capture: [type, payload] each (an unfinished tail is dropped). */
export function framesOf(chunks: Buffer[]): { type: number; payload: Buffer }[] {
  const d = new FrameDecoder(1 << 24);
  return d.push(Buffer.concat(chunks)).map((f) => ({ type: f.type, payload: f.payload }));
}
