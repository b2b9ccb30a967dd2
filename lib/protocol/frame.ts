// Length-prefixed framing: [u32 BE length][u8 type][body][tag?]. The decoder
// refuses a declared length above maxFrameBytes before buffering any of it.
import { defaults } from '../defaults.js';
import { ErrorCode } from '../errors.js';
import { ProtocolError, RejectReason } from './errors.js';

export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = defaults.maxFrameBytes;

export interface RawFrame {
  type: number;
  /** Body followed by the tag when the connection is authenticated. */
  payload: Buffer;
  /** Bytes of this frame on the wire, length prefix included. */
  wireBytes: number;
}

export function encodeFrame(type: number, body: Uint8Array, tag?: Uint8Array): Buffer {
  const len = 1 + body.length + (tag ? tag.length : 0);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
  out.writeUInt32BE(len, 0);
  out[4] = type;
  out.set(body, 5);
  if (tag) out.set(tag, 5 + body.length);
  return out;
}

/** Incremental decoder: push socket chunks, get complete frames. Throws ProtocolError on bad input. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly maxFrameBytes: number;

  constructor(maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received that do not yet form a whole frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): RawFrame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: RawFrame[] = [];
    for (;;) {
      if (this.buffered < FRAME_HEADER_BYTES) break;
      const head = this.peek(FRAME_HEADER_BYTES);
      const len = head.readUInt32BE(0);
      if (len < 1) throw new ProtocolError(ErrorCode.BadFrame, 'empty frame', RejectReason.BadFrame);
      if (len > this.maxFrameBytes)
        throw new ProtocolError(
          ErrorCode.FrameTooLarge,
          `frame of ${len} bytes exceeds the ${this.maxFrameBytes}-byte limit`,
          RejectReason.BadFrame,
        );
      if (this.buffered < FRAME_HEADER_BYTES + len) break;
      const whole = this.take(FRAME_HEADER_BYTES + len);
      frames.push({ type: whole[4], payload: whole.subarray(5), wireBytes: whole.length });
    }
    return frames;
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
