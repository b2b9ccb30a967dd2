// PeerRegistry, PeerInfo and ConnectionPool over a real region, with fake
// timers for everything that depends on time.
import { expect } from 'chai';
import FakeTimers from '@sinonjs/fake-timers';
import { PeerRegistry, type PeerStatusChange } from '../lib/registry/registry.js';
import { ConnectionPool } from '../lib/registry/connection-pool.js';
import { parseConfig } from '../lib/registry/config.js';
import { RegionReader } from '../lib/region/index.js';
import { ClusterView } from '../lib/view.js';
import { uniqueKey } from '../harness/names.js';
import { codeOf } from '../harness/errors.js';

const registries: PeerRegistry[] = [];
function makeRegistry(extra: Record<string, unknown> = {}): PeerRegistry {
  const key = uniqueKey('r');
  const config = parseConfig({
    cluster: key.cluster,
    serverId: key.serverId,
    listen: '127.0.0.1:7101',
    peers: ['b@127.0.0.1:7102', 'c@127.0.0.1:7103'],
    capacity: 4,
    ...extra,
  });
  const r = new PeerRegistry(config);
  r.initialize();
  registries.push(r);
  return r;
}
afterEach(() => {
  for (const r of registries.splice(0)) r.close({ unlink: true });
});

describe('PeerRegistry', () => {
  let clock: ReturnType<typeof FakeTimers.install>;
  beforeEach(() => {
    clock = FakeTimers.install({ now: 1_764_150_000_000, toFake: ['Date', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => clock.uninstall());

  it('initialize() registers the static peers as healthy, never seen', () => {
    const r = makeRegistry();
    expect(r.getAllPeers().map((p) => p.serverId)).to.deep.equal(['b', 'c']);
    const b = r.getPeer('b')!;
    expect(b.toJSON()).to.deep.equal({
      serverId: 'b',
      address: '127.0.0.1:7102',
      status: 'healthy',
      lastSeenMs: null,
      missedHeartbeats: 0,
      bytesSent: 0,
      bytesReceived: 0,
    });
    expect(codeOf(() => r.initialize())).to.equal('ERR_ALREADY_INITIALIZED');
  });

  it('walks healthy -> suspected -> down on misses and back on one heartbeat, emitting each change', () => {
    const r = makeRegistry();
    const changes: PeerStatusChange[] = [];
    r.on('peerStatusChanged', (c) => changes.push(c));
    for (let i = 0; i < 5; i++) r.markHeartbeatMissed('b');
    expect(r.getPeer('b')!.status).to.equal('down');
    expect(r.getPeer('b')!.missedHeartbeats).to.equal(5);
    clock.tick(250);
    r.markHeartbeatReceived('b');
    expect(r.getPeer('b')!.status).to.equal('healthy');
    expect(r.getPeer('b')!.missedHeartbeats).to.equal(0);
    expect(r.getPeer('b')!.lastSeenMs).to.equal(Date.now());
    expect(r.getPeer('b')!.lastSeen, 'the deprecated alias').to.equal(r.getPeer('b')!.lastSeenMs);
    expect(changes.map((c) => [c.oldStatus, c.newStatus, c.reason, c.missedHeartbeats])).to.deep.equal([
      ['healthy', 'suspected', 'missed-heartbeats', 2],
      ['suspected', 'down', 'missed-heartbeats', 5],
      ['down', 'healthy', 'heartbeat', 0],
    ]);
    expect(changes[2].lastSeenMs).to.equal(Date.now());
  });

  it('a heartbeat on a suspected peer resets the count so it needs suspectAfter fresh misses', () => {
    const r = makeRegistry();
    r.markHeartbeatMissed('b');
    r.markHeartbeatMissed('b');
    expect(r.getPeer('b')!.status).to.equal('suspected');
    r.getPeer('b')!.heartbeatReceived();
    r.getPeer('b')!.heartbeatMissed();
    expect(r.getPeer('b')!.status).to.equal('healthy');
  });

  it('markDown(reason) sets down at once and reports the reason', () => {
    const r = makeRegistry();
    const changes: PeerStatusChange[] = [];
    r.on('peerStatusChanged', (c) => changes.push(c));
    r.markDown('c', 'left');
    expect(r.getPeer('c')!.status).to.equal('down');
    expect(changes).to.have.length(1);
    expect(changes[0]).to.include({ serverId: 'c', oldStatus: 'healthy', newStatus: 'down', reason: 'left' });
    r.markDown('c', 'left');
    expect(changes).to.have.length(1);
  });

  it('getHealthyPeers() and getClusterStatus() follow the statuses', () => {
    const r = makeRegistry();
    expect(r.getClusterStatus()).to.deep.equal({
      totalPeers: 3,
      healthyPeers: 3,
      suspectedPeers: 0,
      downPeers: 0,
      isDegraded: false,
      quorumAvailable: true,
    });
    r.markHeartbeatMissed('b');
    r.markHeartbeatMissed('b');
    expect(r.getHealthyPeers().map((p) => p.serverId)).to.deep.equal(['c']);
    expect(r.getClusterStatus()).to.include({ healthyPeers: 2, suspectedPeers: 1, quorumAvailable: true });
    r.markDown('c', 'left');
    expect(r.getClusterStatus()).to.include({
      healthyPeers: 1,
      downPeers: 1,
      isDegraded: true,
      quorumAvailable: false,
    });
  });

  it('timeSinceHeartbeat() counts from the last heartbeat, or from when the peer was added', () => {
    const r = makeRegistry();
    clock.tick(1500);
    expect(r.getPeer('b')!.timeSinceHeartbeat()).to.equal(1500);
    r.markHeartbeatReceived('b');
    clock.tick(300);
    expect(r.getPeer('b')!.timeSinceHeartbeat()).to.equal(300);
  });

  it('counts bytes, rejects negative or fractional amounts, and saturates instead of wrapping', () => {
    const r = makeRegistry();
    const b = r.getPeer('b')!;
    b.addBytesSent(100);
    b.addBytesReceived(40);
    r.addBytesReceived('b', 2);
    expect([b.bytesSent, b.bytesReceived]).to.deep.equal([100, 42]);
    expect(codeOf(() => b.addBytesSent(-1))).to.equal('ERR_INVALID_ARG');
    expect(codeOf(() => b.addBytesSent(0.5))).to.equal('ERR_INVALID_ARG');
    expect(codeOf(() => b.addBytesReceived(Number.NaN))).to.equal('ERR_INVALID_ARG');
    let last = b.bytesSent;
    for (let i = 0; i < 2100; i++) {
      b.addBytesSent(Number.MAX_SAFE_INTEGER);
      expect(b.bytesSent).to.be.at.least(last); // never wraps
      last = b.bytesSent;
    }
    expect(b.bytesSent).to.equal(2 ** 64); // UINT64_MAX as the nearest double
  });

  it('getPeer() of an unknown or removed id is undefined, as in ClusterView', () => {
    const r = makeRegistry();
    const view = ClusterView.open({ cluster: r.config.cluster, serverId: r.config.serverId });
    try {
      expect(r.getPeer('zz')).to.equal(undefined);
      expect(view.getPeer('zz')).to.equal(undefined);
      expect(r.getPeer('b')?.serverId).to.equal('b');
      r.removePeer('b');
      expect(r.getPeer('b')).to.equal(undefined);
      expect(view.getPeer('b')).to.equal(undefined);
    } finally {
      view.close();
    }
  });

  it('mutators of an unknown id throw ERR_UNKNOWN_PEER naming the id', () => {
    const r = makeRegistry();
    const pool = new ConnectionPool(r);
    for (const fn of [
      () => r.markHeartbeatMissed('zz'),
      () => r.markHeartbeatReceived('zz'),
      () => r.markDown('zz', 'left'),
      () => r.addBytesSent('zz', 1),
      () => r.addBytesReceived('zz', 1),
      () => r.updateConnection('zz', { rttMs: 1 }),
      () => r.setPeerMetadata('zz', {}),
      () => r.identifyPeer('zz', 'yy'),
      () => r.removePeer('zz'),
      () => pool.markActive('zz'),
      () => pool.markInactive('zz'),
      () => pool.recordAttempt('zz'),
    ]) {
      try {
        fn();
        expect.fail('should throw');
      } catch (err) {
        expect((err as { code: string }).code).to.equal('ERR_UNKNOWN_PEER');
        expect((err as Error).message).to.contain('"zz"');
      }
    }
  });

  it('adds and removes peers at runtime, reusing slots under a new generation', () => {
    const r = makeRegistry();
    const reader = RegionReader.open({ cluster: r.config.cluster, serverId: r.config.serverId });
    const slotOf = (id: string) => reader.usedSlots().find((s) => s.serverId === id);
    const added: string[] = [];
    const removed: string[] = [];
    r.on('peerAdded', (p) => added.push(p.serverId));
    r.on('peerRemoved', (p) => removed.push(p.serverId));
    r.addPeer({ serverId: 'd', address: '127.0.0.1:7104' });
    const d = slotOf('d');
    expect(d).to.not.equal(undefined);
    r.addBytesSent('d', 9);
    r.removePeer('d');
    expect(slotOf('d')).to.equal(undefined);
    r.addPeer({ serverId: 'e', address: '127.0.0.1:7105' });
    const e = slotOf('e');
    expect(e?.generation).to.be.greaterThan(d!.generation);
    expect(e?.bytesSent).to.equal(0); // a reused slot starts with fresh counters
    expect(added).to.deep.equal(['d', 'e']);
    expect(removed).to.deep.equal(['d']);
    expect(codeOf(() => r.addPeer({ serverId: 'e', address: 'h:1' }))).to.equal('ERR_DUPLICATE_PEER');
    expect(codeOf(() => r.addPeer({ serverId: r.config.serverId, address: 'h:1' }))).to.equal('ERR_INVALID_ARG');
    r.addPeer({ serverId: 'f', address: 'h:2' });
    expect(codeOf(() => r.addPeer({ serverId: 'g', address: 'h:3' }))).to.equal('ERR_REGION_FULL');
    reader.close();
  });

  it('shows a plain-address peer under its address until identifyPeer() learns its id', () => {
    const r = makeRegistry({ peers: ['127.0.0.1:7109'] });
    expect(r.getAllPeers().map((p) => p.serverId)).to.deep.equal(['127.0.0.1:7109']);
    r.identifyPeer('127.0.0.1:7109', 'z');
    expect(r.getPeer('z')!.address).to.equal('127.0.0.1:7109');
    expect(r.hasPeer('127.0.0.1:7109')).to.equal(false);
  });

  it('touches the writer heartbeat on a timer', async () => {
    const r = makeRegistry();
    const reader = RegionReader.open({ cluster: r.config.cluster, serverId: r.config.serverId });
    // The heartbeat is stamped by the native wall clock, which fake timers do
    // not move: let real time age it, then fire the (fake) touch timer.
    const deadline = process.hrtime.bigint() + 5_000_000_000n;
    while (reader.info().writer.heartbeatAgeMs < 30) {
      expect(process.hrtime.bigint() < deadline, 'heartbeat never aged').to.equal(true);
      await new Promise((res) => setImmediate(res));
    }
    clock.tick(1000);
    expect(reader.info().writer.heartbeatAgeMs).to.be.lessThan(30);
    reader.close();
  });
});

describe('ConnectionPool records', () => {
  it('get-or-create, attempts, active and inactive, all visible in the region', () => {
    const r = makeRegistry();
    const pool = new ConnectionPool(r);
    const reader = RegionReader.open({ cluster: r.config.cluster, serverId: r.config.serverId });
    const b = pool.getConnection('b', '127.0.0.1:7102');
    expect(pool.getConnection('b', '127.0.0.1:7102')).to.equal(b);
    expect([b.serverId, b.remoteAddress, b.isActive, b.attemptCount, b.state]).to.deep.equal([
      'b',
      '127.0.0.1:7102',
      false,
      0,
      'idle',
    ]);
    pool.recordAttempt('b');
    pool.recordAttempt('b');
    expect(b.attemptCount).to.equal(2);
    expect(b.state).to.equal('connecting');
    pool.markInactive('b', { error: 'ECONNREFUSED', retryAtMs: 1234 });
    expect([b.state, b.lastError, b.nextRetryMs]).to.deep.equal(['backoff', 'ECONNREFUSED', 1234]);
    const slot = reader.usedSlots().find((s) => s.serverId === 'b');
    expect(slot).to.include({ attemptCount: 2, lastError: 'ECONNREFUSED', nextRetryMs: 1234 });
    pool.markInactive('b', { circuitOpen: true });
    expect(b.state).to.equal('open');
    pool.markActive('b');
    expect([b.isActive, b.attemptCount, b.lastError]).to.deep.equal([true, 0, '']);
    expect(pool.getActiveConnections().map((c) => c.serverId)).to.deep.equal(['b']);
    pool.markInactive('b');
    expect(b.state).to.equal('idle');
    expect(pool.getActiveConnections()).to.deep.equal([]);
    reader.close();
  });

  it('registers a new peer on getConnection and adopts registry peers on markActive', () => {
    const r = makeRegistry();
    const pool = new ConnectionPool(r);
    pool.getConnection('d', '127.0.0.1:7104');
    expect(r.hasPeer('d')).to.equal(true);
    pool.markActive('c');
    expect(pool.getActiveConnections().map((c) => c.remoteAddress)).to.deep.equal(['127.0.0.1:7103']);
  });
});
