// Protocol failures. `reason` maps each to a rejected-frames counter slot.
import { CommyError, type ErrorCode } from '../errors.js';
import { RejectReason } from '../status.js';

export { RejectReason, rejectReasonNames } from '../status.js';

export class ProtocolError extends CommyError {
  readonly reason: RejectReason;
  constructor(code: ErrorCode, message: string, reason: RejectReason = RejectReason.BadFrame) {
    super(code, message);
    this.name = 'ProtocolError';
    this.reason = reason;
  }
}
