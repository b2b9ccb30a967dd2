// Message <-> bytes: msgpack bodies inside frames, sealed after the handshake
// (encrypted, or with an HMAC tag for an older peer). Decoding never trusts the peer: bad bytes
// become ProtocolError.
import { ErrorCode } from '../errors.js';
import { Packr } from 'msgpackr';
import { FrameAuth, TAG_BYTES } from './auth.js';
import { ProtocolError, RejectReason } from './errors.js';
import { encodeFrame, type RawFrame } from './frame.js';
import { validate, wireBody, type Message } from './messages.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

/** Deepest nesting any message has is 3 (StateSyncResponse: map, peers array, peer map); this leaves margin. */
export const MAX_BODY_DEPTH = 8;

export function encodeMessage(m: Message, auth?: FrameAuth): Buffer {
  const body = packr.pack(wireBody(m));
  return encodeFrame(m.type, auth ? auth.seal(m.type, body) : body);
}

function undecodable(what: string): never {
  throw new ProtocolError(ErrorCode.BadFrame, `undecodable body: ${what}`, RejectReason.BadFrame);
}

/**
 * One linear pass over a msgpack body before msgpackr sees it. msgpackr's extensions (BigInt, Date,
 * Set, Map, Error, RegExp, typed arrays, records, bundled strings) are process-wide and cannot be turned
 * off per decoder, and no message uses one: refusing every extension byte here switches them all off,
 * so a peer cannot make the decoder run a BigInt conversion or build a structure. The pass also bounds
 * nesting and refuses a container that declares more items than bytes remain, or trailing bytes, so its
 * cost is at most a few steps per byte of the body.
 */
export function checkBody(b: Uint8Array): void {
  const remaining: number[] = [1];
  const n = b.length;
  let p = 0;
  const need = (k: number) => {
    if (p + k > n) undecodable('truncated');
  };
  const len = (k: 1 | 2 | 4): number => {
    need(k);
    const v =
      k === 1
        ? b[p]
        : k === 2
          ? (b[p] << 8) | b[p + 1]
          : ((b[p] << 24) >>> 0) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3];
    p += k;
    return v;
  };
  while (remaining.length > 0) {
    const top = remaining.length - 1;
    if (remaining[top] === 0) {
      remaining.pop();
      continue;
    }
    remaining[top]--;
    need(1);
    const t = b[p++];
    let skip = 0;
    let items = 0;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) skip = 0;
    else if (t <= 0x8f) items = (t & 0x0f) * 2;
    else if (t <= 0x9f) items = t & 0x0f;
    else if (t <= 0xbf) skip = t & 0x1f;
    else if (t === 0xc4 || t === 0xd9) skip = len(1);
    else if (t === 0xc5 || t === 0xda) skip = len(2);
    else if (t === 0xc6 || t === 0xdb) skip = len(4);
    else if (t === 0xca || t === 0xce || t === 0xd2) skip = 4;
    else if (t === 0xcb || t === 0xcf || t === 0xd3) skip = 8;
    else if (t === 0xcc || t === 0xd0) skip = 1;
    else if (t === 0xcd || t === 0xd1) skip = 2;
    else if (t === 0xdc) items = len(2);
    else if (t === 0xdd) items = len(4);
    else if (t === 0xde) items = len(2) * 2;
    else if (t === 0xdf) items = len(4) * 2;
    else
      undecodable(t === 0xc1 ? 'reserved byte 0xc1' : `msgpack extension (0x${t.toString(16)}): no message uses one`);
    need(skip);
    p += skip;
    if (items > 0) {
      // Every item takes at least one byte.
      if (items > n - p) undecodable(`a container of ${items} items in ${n - p} bytes`);
      if (remaining.length > MAX_BODY_DEPTH) undecodable(`nested deeper than ${MAX_BODY_DEPTH}`);
      remaining.push(items);
    }
  }
  if (p !== n) undecodable(`${n - p} trailing bytes`);
}

export function decodeMessage(frame: RawFrame, auth?: FrameAuth): Message {
  let body = frame.payload;
  if (auth) {
    if (body.length < TAG_BYTES)
      throw new ProtocolError(ErrorCode.Auth, 'frame too short for its authentication tag', RejectReason.AuthFailed);
    const opened = auth.open(frame.type, body);
    if (!opened)
      throw new ProtocolError(
        ErrorCode.Auth,
        'frame failed authentication (tampered, truncated, replayed or reordered)',
        RejectReason.AuthFailed,
      );
    body = opened;
  }
  checkBody(body);
  let decoded: unknown;
  try {
    decoded = packr.unpack(body);
  } catch (err) {
    throw new ProtocolError(ErrorCode.BadFrame, `undecodable body: ${(err as Error).message}`, RejectReason.BadFrame);
  }
  return validate(frame.type, decoded);
}
