// The read benchmark's lower bound for Redis: a pre-encoded command on a raw
// socket and a minimal RESP2 reply parser, no client library. The Redis row
// users compare against is ioredis (scripts/bench/redis.ts); this one shows
// how much of it is Redis and the round trip rather than the client.
import { connect, type Socket } from 'node:net';

type Reply = Buffer | string | number | null;

export class Resp {
  private readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('redis connection closed')));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => {
        s.off('error', reject);
        resolve(new Resp(s));
      });
      s.once('error', reject);
    });
  }

  /** Sends a pre-encoded command (see encode()); the cheapest way to repeat one. */
  raw(encoded: Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(encoded);
    });
  }

  static encode(...args: (string | Buffer)[]): Buffer {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = typeof a === 'string' ? Buffer.from(a) : a;
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    return Buffer.concat(parts);
  }

  close(): void {
    this.socket.destroy();
  }

  private failAll(err: Error): void {
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const r = this.parse();
      if (r === undefined) return;
      const p = this.pending.shift();
      if (!p) continue;
      if (r instanceof Error) p.reject(r);
      else p.resolve(r);
    }
  }

  /** One complete reply from the buffer, or undefined when more bytes are needed. */
  private parse(): Reply | Error | undefined {
    const b = this.buf;
    const eol = b.indexOf('\r\n');
    if (eol < 0) return undefined;
    const line = b.toString('latin1', 1, eol);
    switch (b[0]) {
      case 0x2b: // +
        this.buf = b.subarray(eol + 2);
        return line;
      case 0x2d: // -
        this.buf = b.subarray(eol + 2);
        return new Error(line);
      case 0x3a: // :
        this.buf = b.subarray(eol + 2);
        return Number(line);
      case 0x24: {
        // $
        const len = Number(line);
        if (len < 0) {
          this.buf = b.subarray(eol + 2);
          return null;
        }
        if (b.length < eol + 2 + len + 2) return undefined;
        const out = b.subarray(eol + 2, eol + 2 + len);
        this.buf = b.subarray(eol + 2 + len + 2);
        return out;
      }
      default:
        throw new Error(`unsupported RESP reply type ${String.fromCharCode(b[0])}`);
    }
  }
}
