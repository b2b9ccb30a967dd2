// Protocol failures. `reason` maps each to a rejected-frames counter slot.
import { CommyError } from '../errors.js';

/** Why a frame or connection was rejected; the index is its counter slot in the region header. */
export const RejectReason = {
  BadFrame: 0,
  BadVersion: 1,
  WrongCluster: 2,
  AuthFailed: 3,
  UnknownPeer: 4,
  Duplicate: 5,
  Timeout: 6,
  Other: 7,
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];
export { rejectReasonNames } from '../status.js';

export class ProtocolError extends CommyError {
  readonly reason: RejectReason;
  constructor(code: string, message: string, reason: RejectReason = RejectReason.BadFrame) {
    super(code, message);
    this.name = 'ProtocolError';
    this.reason = reason;
  }
}
