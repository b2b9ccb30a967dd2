// One definition per fact: the reject reasons match the native header's
// counters, and RejectReason is derived from the one list of names.
import { expect } from 'chai';
import { binding } from '../lib/binding.js';
import { RejectReason as ProtocolRejectReason } from '../lib/protocol/errors.js';
import { RejectReason, rejectReasonNames } from '../lib/status.js';

describe('reject reasons', () => {
  it('there are as many as the native region header has rejected-frames counters', () => {
    expect(rejectReasonNames.length).to.equal(binding.layout.header.rejectedReasons);
  });

  it('RejectReason gives each name its slot, and the protocol layer uses the same object', () => {
    const slots = Object.values(RejectReason);
    expect(slots).to.deep.equal(rejectReasonNames.map((_, i) => i));
    expect(RejectReason.BadFrame).to.equal(rejectReasonNames.indexOf('bad_frame'));
    expect(RejectReason.AuthFailed).to.equal(rejectReasonNames.indexOf('auth_failed'));
    expect(RejectReason.UnknownPeer).to.equal(rejectReasonNames.indexOf('unknown_peer'));
    expect(ProtocolRejectReason).to.equal(RejectReason);
  });
});
