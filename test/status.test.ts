// The pure failure-detection rules and cluster arithmetic, without the addon.
import { expect } from 'chai';
import {
  PeerStatus,
  computeClusterStatus,
  onHeartbeatMissed,
  onHeartbeatReceived,
  statusForMissed,
  statusFromCode,
  statusToCode,
} from '../lib/status.js';

const t = { suspectAfter: 2, downAfter: 5 };

describe('PeerStatus transitions', () => {
  it('stays healthy below suspectAfter misses', () => {
    expect(statusForMissed(0, t)).to.equal('healthy');
    expect(statusForMissed(1, t)).to.equal('healthy');
  });

  it('becomes suspected at suspectAfter and down at downAfter', () => {
    const seen: string[] = [];
    let p = { status: PeerStatus.Healthy as PeerStatus, missedHeartbeats: 0 };
    for (let i = 0; i < 6; i++) {
      p = onHeartbeatMissed(p, t);
      seen.push(`${p.missedHeartbeats}:${p.status}`);
    }
    expect(seen).to.deep.equal(['1:healthy', '2:suspected', '3:suspected', '4:suspected', '5:down', '6:down']);
  });

  it('honours custom thresholds', () => {
    expect(statusForMissed(1, { suspectAfter: 1, downAfter: 2 })).to.equal('suspected');
    expect(statusForMissed(2, { suspectAfter: 1, downAfter: 2 })).to.equal('down');
  });

  it('any heartbeat returns to healthy and resets the count, from suspected and from down', () => {
    expect(onHeartbeatReceived()).to.deep.equal({ status: 'healthy', missedHeartbeats: 0 });
  });

  it('a peer marked down for another reason stays down on further misses', () => {
    expect(onHeartbeatMissed({ status: PeerStatus.Down, missedHeartbeats: 0 }, t).status).to.equal('down');
  });

  it('encodes statuses for the region and reads unknown codes as down', () => {
    for (const s of [PeerStatus.Healthy, PeerStatus.Suspected, PeerStatus.Down]) {
      expect(statusFromCode(statusToCode(s))).to.equal(s);
    }
    expect(statusFromCode(99)).to.equal('down');
  });
});

describe('ClusterStatus and quorum', () => {
  it('1 node (no peers): itself is a healthy majority', () => {
    expect(computeClusterStatus([])).to.deep.equal({
      totalPeers: 1,
      healthyPeers: 1,
      suspectedPeers: 0,
      downPeers: 0,
      isDegraded: false,
      quorumAvailable: true,
    });
  });

  it('2 nodes: losing the peer loses quorum (1 of 2 is not a majority)', () => {
    expect(computeClusterStatus(['healthy']).quorumAvailable).to.equal(true);
    const s = computeClusterStatus(['down']);
    expect(s).to.include({ totalPeers: 2, healthyPeers: 1, downPeers: 1, isDegraded: true, quorumAvailable: false });
  });

  it('3 nodes: one peer down keeps quorum, two lose it', () => {
    expect(computeClusterStatus(['healthy', 'down']).quorumAvailable).to.equal(true);
    expect(computeClusterStatus(['suspected', 'down'])).to.include({
      healthyPeers: 1,
      suspectedPeers: 1,
      downPeers: 1,
      quorumAvailable: false,
    });
  });

  it('4 nodes: 2 of 4 healthy is not a quorum, 3 of 4 is', () => {
    expect(computeClusterStatus(['healthy', 'healthy', 'down']).quorumAvailable).to.equal(true);
    expect(computeClusterStatus(['healthy', 'suspected', 'down'])).to.include({
      totalPeers: 4,
      healthyPeers: 2,
      quorumAvailable: false,
    });
  });

  it('a suspected peer degrades the cluster without counting as healthy', () => {
    expect(computeClusterStatus(['suspected'])).to.include({ isDegraded: true, healthyPeers: 1, suspectedPeers: 1 });
  });
});
