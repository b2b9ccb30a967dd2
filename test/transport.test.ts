// Transport units: frame decoding limits, message validation, authentication
// state, and the dialer's backoff and circuit breaker under fake timers.
import { expect } from 'chai';
import FakeTimers from '@sinonjs/fake-timers';
import { FrameDecoder, encodeFrame } from '../lib/protocol/frame.js';
import { decodeMessage, encodeMessage } from '../lib/protocol/codec.js';
import {
  FrameAuth,
  TAG_BYTES,
  Keyring,
  keyId,
  resolveKeyring,
  proof,
  proofMatches,
  type Transcript,
} from '../lib/protocol/auth.js';
import { MessageType, validate } from '../lib/protocol/messages.js';
import { ProtocolError } from '../lib/protocol/errors.js';
import { Dialer } from '../lib/transport/dialer.js';
import { keepNewConnection, type Role } from '../lib/transport/dedupe.js';
import { ConfigError } from '../lib/errors.js';

describe('FrameDecoder', () => {
  it('reassembles frames split at every byte boundary and several per chunk', () => {
    const frames = [
      encodeFrame(4, Buffer.from('abc')),
      encodeFrame(5, Buffer.alloc(0)),
      encodeFrame(6, Buffer.alloc(300, 7)),
    ];
    const all = Buffer.concat(frames);
    for (let split = 1; split < all.length; split += 7) {
      const d = new FrameDecoder();
      const got = [...d.push(all.subarray(0, split)), ...d.push(all.subarray(split))];
      expect(got.map((f) => [f.type, f.payload.length, f.wireBytes])).to.deep.equal([
        [4, 3, 8],
        [5, 0, 5],
        [6, 300, 305],
      ]);
      expect(d.pendingBytes).to.equal(0);
    }
  });

  it('refuses a declared length over the limit before buffering it, and an empty frame', () => {
    const d = new FrameDecoder(1024);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(1025, 0);
    expect(() => d.push(head)).to.throw(ProtocolError, /exceeds the 1024-byte limit/);
    const empty = Buffer.alloc(4);
    expect(() => new FrameDecoder().push(empty)).to.throw(ProtocolError, /empty frame/);
  });
});

describe('message validation', () => {
  it('round-trips a heartbeat in its compact form', () => {
    const m = {
      type: MessageType.HeartbeatPong,
      body: { serverId: 'a', timestamp: 17, sequence: 3, status: 'ok' },
    } as const;
    const f = new FrameDecoder().push(encodeMessage(m))[0];
    expect(decodeMessage(f)).to.deep.equal(m);
  });

  it('rejects wrong shapes, unknown types and unknown migration reasons', () => {
    expect(() => validate(MessageType.HeartbeatPing, { serverId: 'a' })).to.throw(ProtocolError);
    expect(() => validate(MessageType.HeartbeatPing, ['a b', 1, 1])).to.throw(/valid id/);
    expect(() => validate(MessageType.Hello, { version: [1, 0] })).to.throw(ProtocolError);
    expect(() => validate(99, {})).to.throw(/unknown message type/);
    expect(() =>
      validate(MessageType.ClientMigration, { requestId: 1, clientId: 'x', from: 'a', to: 'b', reason: 'whim' }),
    ).to.throw(/migration reason/);
    expect(() => validate(MessageType.MetadataExchange, { metadata: { k: 5 } })).to.throw(ProtocolError);
  });
});

describe('authentication', () => {
  const t: Transcript = {
    hello: {
      version: [2, 0],
      cluster: 'c',
      serverId: 'a',
      listen: '127.0.0.1:1',
      nonce: Buffer.alloc(32, 1),
      keyIds: ['k1'],
    },
    ack: {
      version: [2, 0],
      cluster: 'c',
      serverId: 'b',
      listen: '127.0.0.1:2',
      nonce: Buffer.alloc(32, 2),
      keyId: 'k1',
    },
  };
  const ring = new Keyring(['0123456789abcdef-primary', '0123456789abcdef-older']);

  it('keyrings choose the first shared key, primary first, and key ids reveal nothing of the secret', () => {
    const other = new Keyring(['0123456789abcdef-newest', '0123456789abcdef-primary']);
    expect(other.choose(ring.ids)?.id).to.equal(ring.primary.id);
    expect(ring.choose(other.ids)?.id).to.equal(ring.primary.id);
    expect(ring.primary.id).to.have.length(16);
    expect(ring.primary.id).to.not.contain('0123');
    expect(keyId(Buffer.from('x'.repeat(16)))).to.not.equal(keyId(Buffer.from('y'.repeat(16))));
  });

  it('proofs differ by role and key, and only the matching one verifies', () => {
    const server = proof(ring.primary, 'server', t);
    expect(proofMatches(server, proof(ring.primary, 'server', t))).to.equal(true);
    expect(proofMatches(server, proof(ring.primary, 'client', t))).to.equal(false);
    expect(proofMatches(server, proof(ring.keys[1], 'server', t))).to.equal(false);
  });

  const v22: Transcript = {
    hello: { ...t.hello, version: [2, 2] },
    ack: { ...t.ack, version: [2, 2] },
  };
  for (const [name, tr, encrypted] of [
    ['2.2 sessions (encrypted)', v22, true],
    ['2.0 sessions (HMAC tag)', t, false],
  ] as const)
    it(`${name}: sealed frames bind the sequence and type; a replayed, reordered or retyped one fails`, () => {
      const client = new FrameAuth(ring.primary, 'client', tr);
      const server = new FrameAuth(ring.primary, 'server', tr);
      expect(client.encrypted).to.equal(encrypted);
      const b1 = Buffer.from('one');
      const b2 = Buffer.from('two');
      const s1 = client.seal(4, b1);
      const s2 = client.seal(4, b2);
      expect(s1).to.have.length(b1.length + TAG_BYTES); // encryption adds nothing beyond the tag
      // Encrypted: the body is not on the wire; with the HMAC tag it is, in clear.
      expect(s1.includes(b1)).to.equal(!encrypted);
      expect(server.open(4, s2)).to.equal(undefined); // out of order
      expect(server.open(4, s1)).to.deep.equal(b1);
      expect(server.open(4, s1)).to.equal(undefined); // replay
      expect(server.open(5, s2)).to.equal(undefined); // type changed
      expect(server.open(4, s2)).to.deep.equal(b2);
      // The other direction has its own key and sequence: a frame cannot be reflected back.
      expect(client.open(4, s1)).to.equal(undefined);
    });

  it('2.2 and 2.0 sessions derive different keys: a frame sealed one way never opens the other', () => {
    const enc = new FrameAuth(ring.primary, 'client', v22);
    const mac = new FrameAuth(ring.primary, 'server', { hello: { ...v22.hello, version: [2, 0] }, ack: v22.ack });
    expect(mac.encrypted, 'one end at 2.0 means no encryption').to.equal(false);
    expect(mac.open(4, enc.seal(4, Buffer.from('x')))).to.equal(undefined);
  });

  it('resolves the secret: COMMY_SECRET wins, then the option, then the file; none is a config error', () => {
    expect(
      resolveKeyring({
        secret: 'option-secret-0123456',
        env: { COMMY_SECRET: 'env-secret-0123456789,older-secret-0123456' },
      }).ids,
    ).to.have.length(2);
    expect(resolveKeyring({ secret: 'option-secret-0123456', env: {} }).primary.id).to.equal(
      keyId(Buffer.from('option-secret-0123456')),
    );
    expect(() => resolveKeyring({ env: {} })).to.throw(ConfigError, /COMMY_SECRET/);
    expect(() => resolveKeyring({ secret: 'short', env: {} })).to.throw(ConfigError, /at least 16/);
    expect(() => resolveKeyring({ secretFile: '/nonexistent/secret', env: {} })).to.throw(ConfigError, /secretFile/);
  });
});

describe('Dialer backoff and circuit breaker', () => {
  let clock: ReturnType<typeof FakeTimers.install>;
  beforeEach(() => {
    clock = FakeTimers.install({ now: 0, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => clock.uninstall());

  // Lets the dialer's promise chain run: microtasks, then a few real
  // event-loop turns (setImmediate is not faked) for whatever it defers.
  async function settle(): Promise<void> {
    for (let i = 0; i < 10; i++) await Promise.resolve();
    for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  }

  // Real event-loop turns until `cond` holds, with a bound: the fake clock does not move meanwhile, so
  // this waits only for the dialer's own promise chain, however slowly a loaded host runs it.
  async function until(cond: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 5000 && !cond(); i++) await new Promise<void>((r) => setImmediate(r));
    if (!cond()) throw new Error(`the dialer never got to: ${what}`);
  }

  it('retries with full-jitter exponential backoff capped at maxDelayMs, opens after N failures, probes half-open', async () => {
    const attempts: number[] = [];
    const failures: { retryAtMs: number; circuitOpen: boolean }[] = [];
    let succeed = false;
    const d = new Dialer(
      { initialDelayMs: 100, maxDelayMs: 800, breakerThreshold: 5, halfOpenAfterMs: 10_000 },
      {
        dial: async () => {
          if (!succeed) throw new Error('ECONNREFUSED');
        },
        connected: () => false,
        onAttempt: () => attempts.push(Date.now()),
        onSuccess: () => failures.push({ retryAtMs: -1, circuitOpen: false }),
        onFailure: (f) => failures.push(f),
      },
    );
    d.start();
    // Walk the clock to each scheduled retry, once the attempt before it has failed.
    for (let i = 0; i < 6; i++) {
      await clock.tickAsync(0);
      await until(() => failures.length === i + 1, `failure ${i + 1}`);
      const next = failures[failures.length - 1];
      if (next.circuitOpen) break;
      await clock.tickAsync(next.retryAtMs - Date.now());
    }
    await settle();
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
    // Full jitter: each wait is within 0..cap, cap = 100, 200, 400, 800, 800.
    const caps = [100, 200, 400, 800, 800];
    gaps.forEach((g, i) => expect(g, `gap ${i}`).to.be.within(0, caps[i]));
    expect(attempts).to.have.length(5);
    const last = failures[failures.length - 1];
    expect(last.circuitOpen).to.equal(true);
    expect(d.circuitOpen).to.equal(true);
    expect(last.retryAtMs - Date.now()).to.equal(10_000);
    // Half-open: one probe after the wait; it succeeds and closes the circuit.
    succeed = true;
    await clock.tickAsync(10_000);
    await until(() => attempts.length === 6 && !d.circuitOpen, 'the half-open probe');
    expect(attempts).to.have.length(6);
    expect(d.circuitOpen).to.equal(false);
    d.stop();
  });

  it('does not dial while another connection to the peer is open, and redials after a disconnect', async () => {
    let connected = true;
    let dials = 0;
    const d = new Dialer(
      { initialDelayMs: 100, maxDelayMs: 800, breakerThreshold: 5, halfOpenAfterMs: 10_000 },
      {
        dial: async () => {
          dials++;
        },
        connected: () => connected,
        onAttempt: () => undefined,
        onSuccess: () => undefined,
        onFailure: () => undefined,
      },
    );
    d.start();
    await clock.tickAsync(1000);
    expect(dials).to.equal(0);
    connected = false;
    d.disconnected();
    await clock.tickAsync(100);
    await settle();
    expect(dials).to.equal(1);
    d.stop();
    d.disconnected();
    await clock.tickAsync(5000);
    expect(dials).to.equal(1); // stopped dialers stay quiet
  });
});

describe('simultaneous dial dedupe', () => {
  it('both ends keep the same connection in every order of arrival', () => {
    // Connection X dialed by a, connection Y dialed by b; each end sees them in either order.
    const roleAt = (end: 'a' | 'b', dialer: 'a' | 'b'): Role => (end === dialer ? 'client' : 'server');
    for (const [firstAtA, firstAtB] of [
      ['a', 'a'],
      ['a', 'b'],
      ['b', 'a'],
      ['b', 'b'],
    ] as const) {
      const keptAt = (end: 'a' | 'b', first: 'a' | 'b') => {
        const second = first === 'a' ? 'b' : 'a';
        const peer = end === 'a' ? 'b' : 'a';
        return keepNewConnection(end, peer, roleAt(end, first), roleAt(end, second)) ? second : first;
      };
      expect(keptAt('a', firstAtA), `a saw ${firstAtA} first`).to.equal('a');
      expect(keptAt('b', firstAtB), `b saw ${firstAtB} first`).to.equal('a');
    }
  });

  it('a reconnect in the same direction replaces the old connection', () => {
    expect(keepNewConnection('a', 'b', 'client', 'client')).to.equal(true);
    expect(keepNewConnection('b', 'a', 'server', 'server')).to.equal(true);
  });
});
