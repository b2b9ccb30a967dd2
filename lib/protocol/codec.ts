// Message <-> bytes: msgpack bodies inside frames, with the HMAC tag after the
// handshake. Decoding never trusts the peer: bad bytes become ProtocolError.
import { ErrorCode } from '../errors.js';
import { Packr } from 'msgpackr';
import { FrameAuth, TAG_BYTES } from './auth.js';
import { ProtocolError, RejectReason } from './errors.js';
import { encodeFrame, type RawFrame } from './frame.js';
import { validate, wireBody, type Message } from './messages.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

export function encodeMessage(m: Message, auth?: FrameAuth): Buffer {
  const body = packr.pack(wireBody(m));
  return encodeFrame(m.type, body, auth?.seal(m.type, body));
}

export function decodeMessage(frame: RawFrame, auth?: FrameAuth): Message {
  let body = frame.payload;
  if (auth) {
    if (body.length < TAG_BYTES)
      throw new ProtocolError(ErrorCode.Auth, 'frame too short for its authentication tag', RejectReason.AuthFailed);
    const tag = body.subarray(body.length - TAG_BYTES);
    body = body.subarray(0, body.length - TAG_BYTES);
    if (!auth.open(frame.type, body, tag))
      throw new ProtocolError(
        ErrorCode.Auth,
        'frame failed authentication (tampered, replayed or reordered)',
        RejectReason.AuthFailed,
      );
  }
  let decoded: unknown;
  try {
    decoded = packr.unpack(body);
  } catch (err) {
    throw new ProtocolError(ErrorCode.BadFrame, `undecodable body: ${(err as Error).message}`, RejectReason.BadFrame);
  }
  return validate(frame.type, decoded);
}
