// Length-prefixed framing: [u32 BE length][u8 type][payload], the payload being the body, or after the
// handshake the body sealed (lib/protocol/auth.ts: ciphertext and tag). The decoder
// judges each frame by its 5-byte header (length cap, type) before buffering its body.
import { defaults } from '../defaults.js';
import { ErrorCode } from '../errors.js';
import { ProtocolError, RejectReason } from './errors.js';

export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = defaults.maxFrameBytes;

export interface RawFrame {
  type: number;
  /** The body, or once the connection is authenticated the sealed body (ciphertext or body, then the tag). */
  payload: Buffer;
  /** Bytes of this frame on the wire, length prefix included. */
  wireBytes: number;
}

export function encodeFrame(type: number, payload: Uint8Array): Buffer {
  const len = 1 + payload.length;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
  out.writeUInt32BE(len, 0);
  out[4] = type;
  out.set(payload, 5);
  return out;
}

/**
 * Incremental decoder: feed socket chunks, take complete frames one at a time. Throws ProtocolError on
 * bad input. The limits are read at each frame, so a connection can raise them once it is authenticated
 * without a frame that arrived in the same chunk being judged by the wrong ones.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Largest declared length accepted for the next frame. */
  maxFrameBytes: number;
  /** Called with each frame's type as soon as its header is in, before its body is buffered; throws to refuse. */
  checkType: ((type: number) => void) | undefined;

  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Feeds a chunk and returns every complete frame in it, judged by the current limits. */
  push(chunk: Buffer): RawFrame[] {
    this.feed(chunk);
    const frames: RawFrame[] = [];
    for (let f = this.next(); f; f = this.next()) frames.push(f);
    return frames;
  }

  feed(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame, or undefined until more bytes arrive. */
  next(): RawFrame | undefined {
    if (this.buffered < FRAME_HEADER_BYTES) return undefined;
    const head = this.peek(Math.min(this.buffered, FRAME_HEADER_BYTES + 1));
    const len = head.readUInt32BE(0);
    if (len < 1) throw new ProtocolError(ErrorCode.BadFrame, 'empty frame', RejectReason.BadFrame);
    if (len > this.maxFrameBytes)
      throw new ProtocolError(
        ErrorCode.FrameTooLarge,
        `frame of ${len} bytes exceeds the ${this.maxFrameBytes}-byte limit`,
        RejectReason.BadFrame,
      );
    if (this.buffered < FRAME_HEADER_BYTES + 1) return undefined;
    this.checkType?.(head[FRAME_HEADER_BYTES]);
    if (this.buffered < FRAME_HEADER_BYTES + len) return undefined;
    const whole = this.take(FRAME_HEADER_BYTES + len);
    return { type: whole[4], payload: whole.subarray(5), wireBytes: whole.length };
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const all = Buffer.concat(this.chunks);
      out = all.subarray(0, n);
      this.chunks = all.length > n ? [all.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}
