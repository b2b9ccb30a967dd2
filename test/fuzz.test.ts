// Property and fuzz tests (fast-check) of everything that parses untrusted or
// user input on the TypeScript side: the frame decoder, the message codec, a
// Connection fed hostile bytes over real loopback sockets, the config parser,
// and the failure-detection state machine against plain models. Each property
// is bounded in runs and time. COMMY_FUZZ_SEED replays a run; COMMY_FUZZ_RUNS
// multiplies the number of cases (e.g. 20 for a long local run).
import { expect } from 'chai';
import fc from 'fast-check';
import FakeTimers from '@sinonjs/fake-timers';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameDecoder, encodeFrame } from '../lib/protocol/frame.js';
import { decodeMessage, encodeMessage } from '../lib/protocol/codec.js';
import { FrameAuth, Keyring, TAG_BYTES, type Transcript } from '../lib/protocol/auth.js';
import { MIGRATION_REASONS, MessageType, PROTOCOL_VERSION, type Message } from '../lib/protocol/messages.js';
import { ProtocolError, RejectReason } from '../lib/protocol/errors.js';
import { Connection, type ConnectionContext } from '../lib/transport/connection.js';
import { parseConfig } from '../lib/registry/config.js';
import { ConfigError } from '../lib/errors.js';
import {
  computeClusterStatus,
  onHeartbeatMissed,
  onHeartbeatReceived,
  statusForMissed,
  PeerStatus,
  type PeerHealth,
} from '../lib/status.js';
import { HeartbeatMonitor } from '../lib/heartbeat.js';

const seed = Number(process.env.COMMY_FUZZ_SEED) || (Date.now() ^ (process.pid << 8)) >>> 0;
const scale = Math.max(1, Number(process.env.COMMY_FUZZ_RUNS) || 1);
/** Runs for a property: `n` by default, scaled up for long local runs. */
const runs = (n: number) => n * scale;
/** Cases actually checked per property, printed once at the end (docs/RELIABILITY.md quotes them). */
const tally = new Map<string, number>();
function count(name: string): void {
  tally.set(name, (tally.get(name) ?? 0) + 1);
}
/** Failures shrink to a minimal case, except over sockets (`shrink: false`), where it would take minutes. */
function params(n: number, opts: { shrink?: boolean } = {}): fc.Parameters<unknown> {
  return { numRuns: runs(n), seed, endOnFailure: opts.shrink === false };
}

// ---- arbitraries -----------------------------------------------------------

const idArb = fc.stringMatching(/^[A-Za-z0-9._-]{1,63}$/);
const textArb = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength }).filter((s) => s.length <= maxLength);
const bytesArb = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b));
// -0 comes back from msgpack as 0; the protocol does not distinguish them.
const finiteArb = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x)),
  fc.maxSafeInteger(),
);
const uintArb = fc.maxSafeNat();

/** The fields Hello and HelloAck share, in their order. */
const helloFields = {
  version: fc.tuple(fc.constant(PROTOCOL_VERSION.major), fc.nat(1000)),
  cluster: idArb,
  serverId: idArb,
  listen: textArb(80),
  nonce: bytesArb(32),
};

/** Every message type, with every field anywhere in its valid range. */
const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant(MessageType.Hello),
    body: fc.record({ ...helloFields, keyIds: fc.array(textArb(32), { minLength: 1, maxLength: 8 }) }),
  }),
  fc.record({
    type: fc.constant(MessageType.HelloAck),
    body: fc.record({ ...helloFields, keyId: textArb(32), proof: bytesArb(32) }),
  }),
  fc.record({ type: fc.constant(MessageType.HelloProof), body: fc.record({ proof: bytesArb(32) }) }),
  fc.record({
    type: fc.constant(MessageType.HeartbeatPing),
    body: fc.record({ serverId: idArb, timestamp: finiteArb, sequence: uintArb }),
  }),
  fc.record({
    type: fc.constant(MessageType.HeartbeatPong),
    body: fc.record({ serverId: idArb, timestamp: finiteArb, sequence: uintArb, status: textArb(16) }),
  }),
  fc.record({
    type: fc.constant(MessageType.MetadataExchange),
    body: fc.record({
      // "__proto__" is renamed by msgpackr's prototype-pollution guard: see docs/RELIABILITY.md.
      metadata: fc.dictionary(
        textArb(64).filter((k) => k !== '__proto__'),
        textArb(100),
        { maxKeys: 8, noNullPrototype: true },
      ),
    }),
  }),
  fc.record({ type: fc.constant(MessageType.MetadataAck), body: fc.constant({}) }),
  fc.record({ type: fc.constant(MessageType.StateSyncRequest), body: fc.record({ requestId: uintArb }) }),
  fc.record({
    type: fc.constant(MessageType.StateSyncResponse),
    body: fc.record({
      requestId: uintArb,
      peers: fc.array(
        fc.record({
          serverId: textArb(80),
          status: textArb(16),
          missedHeartbeats: uintArb,
          lastSeenMs: fc.option(finiteArb, { nil: null }),
        }),
        { maxLength: 6 },
      ),
    }),
  }),
  fc.record({
    type: fc.constant(MessageType.ClientMigration),
    body: fc.record({
      requestId: uintArb,
      clientId: textArb(128),
      from: idArb,
      to: idArb,
      reason: fc.constantFrom(...MIGRATION_REASONS),
    }),
  }),
  fc.record({ type: fc.constant(MessageType.ClientMigrationAck), body: fc.record({ requestId: uintArb }) }),
  fc.record({ type: fc.constant(MessageType.Leave), body: fc.record({ reason: textArb(64) }) }),
  fc.record({
    type: fc.constant(MessageType.Error),
    body: fc.record({ requestId: fc.option(uintArb, { nil: null }), code: textArb(64), message: textArb(200) }),
  }),
  fc.record({
    type: fc.constant(MessageType.MemberList),
    body: fc.record({
      members: fc.array(
        fc.record({
          serverId: idArb,
          address: textArb(80),
          incarnation: uintArb,
          state: fc.constantFrom('alive' as const, 'left' as const),
        }),
        { maxLength: 20 },
      ),
    }),
  }),
) as fc.Arbitrary<Message>;

/** A byte-level mutation of a buffer: the kinds a fuzzer applies. */
type Mutation =
  | { kind: 'flip'; at: number; bits: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'duplicate'; at: number; n: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 40 }) }),
);
function mutate(buf: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at] ^= m.bits;
    else if (m.kind === 'set') b[at] = m.value;
    else if (m.kind === 'truncate') b = b.subarray(0, at);
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
    else b = Buffer.concat([b.subarray(0, at + m.n), b.subarray(at)]); // replays a span
  }
  return b;
}

/** Splits a buffer at the given cut points (any values; taken modulo the length). */
function chunk(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buf.length ? c % buf.length : 0)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) out.push(buf.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < buf.length || out.length === 0) out.push(buf.subarray(from));
  return out;
}

/** A 2.2 session: frames encrypted. */
const transcript: Transcript = {
  hello: {
    version: [2, 2],
    cluster: 'fuzz',
    serverId: 'a',
    listen: '127.0.0.1:1',
    nonce: Buffer.alloc(32, 1),
    keyIds: ['k'],
  },
  ack: {
    version: [2, 2],
    cluster: 'fuzz',
    serverId: 'b',
    listen: '127.0.0.1:2',
    nonce: Buffer.alloc(32, 2),
    keyId: 'k',
  },
};
/** A session with a 2.0 peer (allowUnencryptedPeers): frames authenticated by an HMAC tag, not encrypted. */
const legacyTranscript: Transcript = { hello: { ...transcript.hello, version: [2, 0] }, ack: transcript.ack };
const sessions = [
  ['encrypted', transcript],
  ['HMAC-tagged (2.0 peer)', legacyTranscript],
] as const;
const ring = new Keyring(['fuzz-secret-0123456789abcdef']);

describe('fuzz (fast-check)', () => {
  before(() => console.log(`    fast-check seed ${seed} (replay: COMMY_FUZZ_SEED=${seed}), runs x${scale}`));
  after(() => {
    if (tally.size === 0) return;
    console.log('    cases checked per property:');
    for (const [name, n] of tally) console.log(`      ${String(n).padStart(7)}  ${name}`);
  });

  // ---- frame decoder -----------------------------------------------------------

  describe('frame decoder', () => {
    it('random byte streams in random chunks: only ProtocolError, never more than one frame buffered, bytes conserved', () => {
      const streamArb = fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 700 }).map((b) => Buffer.from(b)),
          // Valid frames mixed in, so the decoder also gets deep into a stream.
          fc.tuple(fc.nat(255), fc.uint8Array({ maxLength: 300 })).map(([t, b]) => encodeFrame(t, b)),
        ),
        { maxLength: 25 },
      );
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 5000 }),
          streamArb,
          fc.array(fc.nat(), { maxLength: 30 }),
          (max, parts, cuts) => {
            count('frame decoder: random streams');
            const d = new FrameDecoder(max);
            let pushed = 0;
            let framed = 0;
            for (const piece of chunk(Buffer.concat(parts), cuts)) {
              pushed += piece.length;
              let frames;
              try {
                frames = d.push(piece);
              } catch (err) {
                expect(err).to.be.instanceOf(ProtocolError);
                expect((err as ProtocolError).reason).to.equal(RejectReason.BadFrame);
                return; // the connection closes here
              }
              for (const f of frames) {
                expect(f.wireBytes).to.be.at.most(FRAME_HEADER_BYTES + max);
                expect(f.payload.length).to.equal(f.wireBytes - FRAME_HEADER_BYTES - 1);
                framed += f.wireBytes;
              }
              // The bound: whatever is buffered is part of one frame of at most max bytes.
              expect(d.pendingBytes).to.be.below(FRAME_HEADER_BYTES + max);
              expect(framed + d.pendingBytes).to.equal(pushed);
            }
          },
        ),
        params(400),
      );
    });

    it('valid frames survive any chunking, byte for byte', () => {
      const framesArb = fc.array(fc.tuple(fc.nat(255), fc.uint8Array({ maxLength: 400 })), {
        minLength: 1,
        maxLength: 20,
      });
      fc.assert(
        fc.property(framesArb, fc.array(fc.nat(), { maxLength: 60 }), (frames, cuts) => {
          count('frame decoder: valid frames, any chunking');
          const wire = Buffer.concat(frames.map(([t, b]) => encodeFrame(t, b)));
          const d = new FrameDecoder(1024);
          const got = chunk(wire, cuts).flatMap((c) => d.push(c));
          expect(got.map((f) => [f.type, Buffer.from(f.payload).toString('hex')])).to.deep.equal(
            frames.map(([t, b]) => [t, Buffer.from(b).toString('hex')]),
          );
          expect(d.pendingBytes).to.equal(0);
        }),
        params(300),
      );
    });
  });

  // ---- codec -----------------------------------------------------------------

  describe('message codec', () => {
    it('every valid message round-trips, in clear, encrypted and HMAC-tagged, at the same size sealed', () => {
      fc.assert(
        fc.property(messageArb, (m) => {
          count('codec: valid messages round-trip');
          const clear = encodeMessage(m);
          const plain = new FrameDecoder().push(clear);
          expect(plain).to.have.length(1);
          expect(decodeMessage(plain[0])).to.deep.equal(m);
          for (const [, tr] of sessions) {
            const tx = new FrameAuth(ring.primary, 'client', tr);
            const rx = new FrameAuth(ring.primary, 'server', tr);
            const wire = encodeMessage(m, tx);
            expect(wire.length).to.equal(clear.length + TAG_BYTES);
            const sealed = new FrameDecoder().push(wire);
            expect(decodeMessage(sealed[0], rx)).to.deep.equal(m);
          }
        }),
        params(400),
      );
    });

    it('random bodies of every type decode to a well-formed message or a ProtocolError, nothing else', () => {
      const bodyArb = fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
        // Structured garbage: valid msgpack of arbitrary values, so validation is what gets fuzzed.
        fc
          .anything({
            maxDepth: 3,
            withBigInt: true,
            withTypedArray: true,
            withDate: true,
            withMap: true,
            withSet: true,
          })
          .map((v) => {
            try {
              return encodeMessage({ type: MessageType.Error, body: v } as never).subarray(5); // the msgpack body
            } catch {
              return Buffer.alloc(0); // a value msgpack cannot carry
            }
          }),
        // Valid messages of one type presented as another type.
        messageArb.map((m) => encodeMessage(m).subarray(5)),
      );
      fc.assert(
        fc.property(fc.nat(20), bodyArb, (type, body) => {
          count('codec: random bodies of every type');
          let m: Message;
          try {
            m = decodeMessage({ type, payload: body, wireBytes: body.length + 5 });
          } catch (err) {
            expect(err, String(err)).to.be.instanceOf(ProtocolError);
            return;
          }
          // Whatever passed validation is a message the codec can carry again unchanged.
          expect(m.type).to.equal(type);
          expect(decodeMessage(new FrameDecoder().push(encodeMessage(m))[0])).to.deep.equal(m);
        }),
        params(1500),
      );
    });

    for (const [mode, tr] of sessions)
      it(`any change to an ${mode} frame stream is rejected: tamper, truncate, insert, replay, reorder`, () => {
        fc.assert(
          fc.property(
            fc.array(messageArb, { minLength: 1, maxLength: 4 }),
            fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
            (ms, mutations) => {
              const tx = new FrameAuth(ring.primary, 'client', tr);
              const rx = new FrameAuth(ring.primary, 'server', tr);
              const wire = Buffer.concat(ms.map((m) => encodeMessage(m, tx)));
              const bad = mutate(wire, mutations);
              fc.pre(!bad.equals(wire));
              count(`codec: mutated ${mode} streams`);
              // Frames wholly before the first changed byte may pass; nothing after it may.
              let firstDiff = 0;
              while (firstDiff < bad.length && firstDiff < wire.length && bad[firstDiff] === wire[firstDiff])
                firstDiff++;
              const intact: number[] = [];
              let off = 0;
              for (const m of ms) {
                off += encodeMessage(m).length + TAG_BYTES;
                intact.push(off);
              }
              const allowed = intact.filter((end) => end <= firstDiff).length;
              const d = new FrameDecoder();
              let accepted = 0;
              let rejected = false;
              try {
                for (const f of d.push(bad)) {
                  decodeMessage(f, rx);
                  accepted++;
                }
              } catch (err) {
                expect(err).to.be.instanceOf(ProtocolError);
                rejected = true;
              }
              expect(accepted).to.be.at.most(allowed);
              // Not rejected only when every byte consumed so far was genuine: the change sits in an
              // incomplete tail (an idle timeout closes that connection) or only cut the stream short.
              if (!rejected) expect(bad.length - d.pendingBytes).to.be.at.most(firstDiff);
            },
          ),
          params(600),
        );
      });

    for (const [mode, tr] of sessions)
      it(`an ${mode} stream with frames reordered, replayed or dropped fails at the first frame out of place`, () => {
        fc.assert(
          fc.property(
            fc
              .array(messageArb, { minLength: 2, maxLength: 5 })
              .chain((ms) =>
                fc.tuple(fc.constant(ms), fc.array(fc.nat(ms.length - 1), { minLength: 1, maxLength: 7 })),
              ),
            ([ms, order]) => {
              count(`codec: ${mode} frames out of order`);
              const tx = new FrameAuth(ring.primary, 'client', tr);
              const rx = new FrameAuth(ring.primary, 'server', tr);
              const frames = ms.map((m) => new FrameDecoder().push(encodeMessage(m, tx))[0]);
              let j = 0;
              for (; j < order.length && order[j] === j; j++)
                expect(decodeMessage(frames[order[j]], rx)).to.deep.equal(ms[j]);
              if (j === order.length) return; // sent in order: all of it is genuine
              expect(() => decodeMessage(frames[order[j]], rx), `frame ${order[j]} at place ${j}`).to.throw(
                ProtocolError,
                /failed authentication/,
              );
            },
          ),
          params(400),
        );
      });

    it('decoding does not depend on what was decoded before (no codec state leaks between peers)', () => {
      // msgpack "record" definitions can persist in a shared decoder and make the
      // fixints 0x40-0x7f decode as records; the codec must not keep any.
      const recordDefinition = Buffer.from('d4724091a16101', 'hex'); // defines record 0x40 = {a}
      const ping = (sequence: number) => ({
        type: MessageType.HeartbeatPing,
        body: { serverId: 'a', timestamp: 64, sequence },
      });
      fc.assert(
        fc.property(
          fc.array(fc.oneof(fc.constant(recordDefinition), fc.uint8Array({ maxLength: 64 }).map(Buffer.from)), {
            maxLength: 5,
          }),
          fc.integer({ min: 0, max: 200 }),
          (garbage, sequence) => {
            count('codec: no state between decodes');
            for (const g of garbage) {
              try {
                decodeMessage({ type: MessageType.HeartbeatPing, payload: g, wireBytes: g.length + 5 });
              } catch {
                // expected: garbage
              }
            }
            const m = ping(sequence) as Message;
            expect(decodeMessage(new FrameDecoder().push(encodeMessage(m))[0])).to.deep.equal(m);
          },
        ),
        params(300),
      );
    });

    it('a maximal frame of nested arrays is refused with a ProtocolError, not a crash', () => {
      const deep = Buffer.alloc(DEFAULT_MAX_FRAME_BYTES - 1, 0x91); // [[[[...]]]] a million levels deep
      expect(() => decodeMessage({ type: MessageType.Leave, payload: deep, wireBytes: deep.length + 5 })).to.throw(
        ProtocolError,
      );
      count('codec: maximal nested frame');
    });
  });

  // ---- Connection over loopback ---------------------------------------------

  describe('a Connection fed hostile bytes over loopback', () => {
    let server: Server;
    let port: number;
    const accepted: Socket[] = [];
    const MAX_FRAME = 4096;
    const TIMEOUT_MS = 60;
    // Nothing completes a handshake before it, so only the test's wall time depends on it.
    const PRE_AUTH_TIMEOUT_MS = 40;
    before(async () => {
      server = createServer((s) => accepted.push(s));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      port = (server.address() as AddressInfo).port;
    });
    after(async () => {
      for (const s of accepted) s.destroy();
      await new Promise((r) => server.close(r));
    });

    function ctx(serverId: string, timeoutMs = TIMEOUT_MS): ConnectionContext {
      return {
        cluster: 'fuzz',
        serverId,
        listen: '127.0.0.1:1',
        keyring: ring,
        handshakeTimeoutMs: timeoutMs,
        idleTimeoutMs: timeoutMs,
        maxFrameBytes: MAX_FRAME,
        admit: () => null,
      };
    }

    interface Observed {
      conn: Connection;
      opened: boolean;
      messages: number;
      rejections: string[];
      maxPending: number;
      closed: Promise<number>;
    }

    /** A loopback socket pair: the client end, and the server end wrapped in an observed server Connection. */
    async function pair(timeoutMs = TIMEOUT_MS): Promise<{ client: Socket; o: Observed }> {
      const n = accepted.length;
      const client = connect({ host: '127.0.0.1', port });
      client.on('error', () => undefined);
      await new Promise((r) => client.once('connect', r));
      await new Promise<void>((resolve) => {
        const poll = () => (accepted.length > n ? resolve() : setImmediate(poll));
        poll();
      });
      const conn = new Connection(accepted[n], 'server', ctx('b', timeoutMs));
      const o: Observed = {
        conn,
        opened: false,
        messages: 0,
        rejections: [],
        maxPending: 0,
        closed: undefined as never,
      };
      const decoder = (conn as unknown as { decoder: FrameDecoder }).decoder;
      const next = decoder.next.bind(decoder);
      decoder.next = () => {
        try {
          return next();
        } finally {
          o.maxPending = Math.max(o.maxPending, decoder.pendingBytes);
        }
      };
      conn.on('open', () => (o.opened = true));
      conn.on('message', () => o.messages++);
      conn.on('rejected', (r) => o.rejections.push(r.code));
      const t0 = Date.now();
      o.closed = new Promise((resolve) => conn.once('close', () => resolve(Date.now() - t0)));
      return { client, o };
    }

    it('before the handshake: random and mutated Hello streams always close, bounded in time and memory', async () => {
      const hello = encodeMessage({
        type: MessageType.Hello,
        body: {
          version: [1, 0],
          cluster: 'fuzz',
          serverId: 'a',
          listen: '127.0.0.1:2',
          nonce: Buffer.alloc(32, 3),
          keyIds: ring.ids,
        },
      });
      const streamArb = fc.oneof(
        fc.uint8Array({ maxLength: 2000 }).map(Buffer.from),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }).map((ms) => mutate(hello, ms)),
        // A length prefix just over / at the limit, then filler.
        fc.integer({ min: MAX_FRAME - 2, max: MAX_FRAME + 2 }).map((len) => {
          const b = Buffer.alloc(4 + 64, 0x90);
          b.writeUInt32BE(len, 0);
          return b;
        }),
      );
      let closedByTimeout = 0;
      await fc.assert(
        fc.asyncProperty(streamArb, fc.array(fc.nat(), { maxLength: 6 }), async (bytes, cuts) => {
          count('connection: hostile streams before the handshake');
          const { client, o } = await pair(PRE_AUTH_TIMEOUT_MS);
          for (const piece of chunk(bytes, cuts)) client.write(piece);
          const ms = await o.closed;
          client.destroy();
          expect(o.opened).to.equal(false);
          expect(o.messages).to.equal(0);
          expect(o.maxPending).to.be.below(FRAME_HEADER_BYTES + MAX_FRAME);
          expect(o.rejections).to.have.length(1);
          if (o.rejections[0] === 'ERR_HANDSHAKE_TIMEOUT') closedByTimeout++;
          expect(ms).to.be.below(PRE_AUTH_TIMEOUT_MS + 1000);
        }),
        params(80, { shrink: false }),
      );
      expect(closedByTimeout).to.be.greaterThan(0); // the timeout path was exercised too
    });

    it('after the handshake: a mutated authenticated stream delivers only intact frames, then closes', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(messageArb, { minLength: 1, maxLength: 4 }),
          fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
          async (ms, mutations) => {
            const { client: socket, o } = await pair();
            // The client side must outlive the server side's idle timeout, which is under test.
            const client = new Connection(socket, 'client', ctx('a', 10_000));
            await new Promise<void>((r) => client.once('open', () => r()));
            await new Promise<void>((resolve) => {
              const poll = () => (o.opened ? resolve() : setImmediate(poll));
              poll();
            });
            // Capture the sealed frames the client would send, then send a mutated copy instead.
            const sealed: Buffer[] = [];
            const write = socket.write.bind(socket) as (b: Buffer) => boolean;
            (socket as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => {
              sealed.push(Buffer.from(b));
              return true;
            };
            for (const m of ms) client.send(m);
            const wire = Buffer.concat(sealed);
            const bad = mutate(wire, mutations);
            if (bad.equals(wire)) {
              client.close();
              await o.closed;
              return;
            }
            count('connection: mutated streams after the handshake');
            let firstDiff = 0;
            while (firstDiff < bad.length && firstDiff < wire.length && bad[firstDiff] === wire[firstDiff]) firstDiff++;
            let end = 0;
            const allowed = sealed.filter((f) => (end += f.length) <= firstDiff).length;
            write(bad);
            await o.closed;
            client.close();
            expect(o.messages).to.be.at.most(allowed);
            expect(o.maxPending).to.be.below(FRAME_HEADER_BYTES + MAX_FRAME);
            expect(o.rejections).to.have.length(1);
          },
        ),
        params(100, { shrink: false }),
      );
    });
  });

  // ---- config parser -----------------------------------------------------------

  describe('config parser', () => {
    // A top-level field, or a peer entry and one of its keys (an unknown key is named as spelled).
    const fieldPath = /^(\(root\)|\(file\)|[A-Za-z]+|peers\[\d+\](\.[\s\S]*)?|detector\.[\s\S]+)$/;
    const portArb = fc.integer({ min: 1, max: 65535 });
    const hostArb = fc.oneof(
      fc.constantFrom('127.0.0.1', 'localhost', '10.0.0.2', 'node-1.example.com'),
      fc.stringMatching(/^[a-z0-9-]{1,20}(\.[a-z0-9-]{1,10}){0,2}$/),
    );
    const addrArb = fc.oneof(
      fc.tuple(hostArb, portArb).map(([h, p]) => `${h}:${p}`),
      fc.tuple(fc.constantFrom('::1', 'fe80::1', '2001:db8::7'), portArb).map(([h, p]) => `[${h}]:${p}`),
    );

    /** Valid configs, built so that every cross-field rule holds. */
    const validArb = fc
      .record({
        cluster: idArb,
        serverId: idArb,
        listen: fc.oneof(
          addrArb,
          hostArb.map((h) => `${h}:0`),
        ),
        peers: fc.uniqueArray(fc.tuple(idArb, addrArb, fc.nat(2)), {
          maxLength: 6,
          selector: ([, a]) => a,
        }),
        heartbeatIntervalMs: fc.option(fc.integer({ min: 1, max: 3_600_000 }), { nil: undefined }),
        heartbeatTimeoutMs: fc.option(fc.integer({ min: 1, max: 3_600_000 }), { nil: undefined }),
        suspectAfter: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
        downExtra: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
        capacity: fc.option(fc.integer({ min: 6, max: 4096 }), { nil: undefined }),
        global: fc.option(fc.boolean(), { nil: undefined }),
        secret: fc.option(
          textArb(40).filter((s) => s.length >= 16),
          { nil: undefined },
        ),
        metricsListen: fc.option(addrArb, { nil: undefined }),
        detector: fc.option(
          fc.oneof(
            fc.constant({ kind: 'fixed' }),
            fc.record(
              {
                kind: fc.constant('phi'),
                threshold: fc.double({ min: 0.5, max: 100, noNaN: true }),
                downFactor: fc.double({ min: 1.01, max: 10, noNaN: true }),
                windowSize: fc.integer({ min: 2, max: 10_000 }),
                minStdDevMs: fc.double({ min: 0.5, max: 3_600_000, noNaN: true }),
                acceptablePauseMs: fc.double({ min: 0, max: 3_600_000, noNaN: true }),
              },
              { requiredKeys: ['kind'] },
            ),
          ),
          { nil: undefined },
        ),
      })
      .map((r) => {
        const seen = new Set<string>([r.serverId]);
        const peers = r.peers
          .filter(([id]) => !seen.has(id) && !!seen.add(id))
          .map(([id, address, form]) =>
            form === 0 ? `${id}@${address}` : form === 1 ? { serverId: id, address } : address,
          );
        const o: Record<string, unknown> = { cluster: r.cluster, serverId: r.serverId, listen: r.listen, peers };
        if (r.heartbeatIntervalMs !== undefined) o.heartbeatIntervalMs = r.heartbeatIntervalMs;
        if (r.heartbeatTimeoutMs !== undefined) o.heartbeatTimeoutMs = r.heartbeatTimeoutMs;
        if (r.suspectAfter !== undefined) o.suspectAfter = r.suspectAfter;
        if (r.downExtra !== undefined) o.downAfter = (r.suspectAfter ?? 2) + r.downExtra;
        else if ((r.suspectAfter ?? 0) >= 5) o.downAfter = r.suspectAfter! + 1; // the default (5) would be too low
        if (r.capacity !== undefined) o.capacity = r.capacity;
        if (r.global !== undefined) o.global = r.global;
        if (r.secret !== undefined) o.secret = r.secret;
        if (r.metricsListen !== undefined) o.metricsListen = r.metricsListen;
        if (r.detector !== undefined) {
          // downThreshold as a factor of the threshold, so it always exceeds it.
          const { downFactor, ...d } = r.detector as Record<string, unknown> & { downFactor?: number };
          if (downFactor !== undefined && d.threshold !== undefined)
            d.downThreshold = (d.threshold as number) * downFactor;
          o.detector = d;
        }
        return o;
      });

    function check(input: unknown): 'accepted' | string {
      try {
        parseConfig(input);
        return 'accepted';
      } catch (err) {
        expect(err, `${String(err)} for ${JSON.stringify(input)}`).to.be.instanceOf(ConfigError);
        const e = err as ConfigError;
        expect(e.code).to.equal('ERR_CONFIG');
        // A known field's path, or the name of an unknown field exactly as the input spelled it.
        const unknownKey = typeof input === 'object' && input !== null && Object.hasOwn(input, e.field);
        if (!unknownKey) expect(e.field).to.match(fieldPath);
        expect(e.message).to.include(`"${e.field}"`);
        return e.field;
      }
    }

    it('valid configs are accepted with every value kept', () => {
      fc.assert(
        fc.property(validArb, (o) => {
          count('config: valid configs');
          const c = parseConfig(o);
          expect(c.cluster).to.equal(o.cluster);
          expect(c.serverId).to.equal(o.serverId);
          expect(c.listenAddress).to.equal(o.listen);
          expect(c.staticPeers).to.have.length((o.peers as unknown[]).length);
          if (o.heartbeatIntervalMs !== undefined) expect(c.heartbeatIntervalMs).to.equal(o.heartbeatIntervalMs);
          expect(c.heartbeatTimeoutMs).to.equal(o.heartbeatTimeoutMs ?? c.heartbeatIntervalMs);
          expect(c.downAfter).to.be.greaterThan(c.suspectAfter);
          const d = o.detector as Record<string, number | string> | undefined;
          if (d?.kind !== 'phi') expect(c.detector).to.equal(undefined);
          else {
            const got = c.detector!;
            for (const k of ['threshold', 'downThreshold', 'windowSize', 'minStdDevMs', 'acceptablePauseMs'] as const)
              if (d[k] !== undefined) expect(got[k], k).to.equal(d[k]);
            expect(got.downThreshold).to.be.greaterThan(got.threshold);
            expect(got.minStdDevMs).to.be.greaterThan(0);
          }
          // The same config as JSON text parses the same way.
          expect(parseConfig(JSON.stringify(o))).to.deep.equal(c);
        }),
        params(400),
      );
    });

    it('one field replaced by random JSON: accepted, or a ConfigError naming that field (or the rule it broke)', () => {
      // Spelled out, not imported from lib/registry/config.ts: the test states which fields exist.
      const fields = [
        'cluster',
        'serverId',
        'listen',
        'peers',
        'secretFile',
        'secret',
        'heartbeatIntervalMs',
        'heartbeatTimeoutMs',
        'suspectAfter',
        'downAfter',
        'metricsListen',
        'capacity',
        'global',
        'detector',
        'colour',
      ];
      // Cross-field rules report the other field: downAfter must exceed suspectAfter,
      // peers must fit the capacity, and a peer may not carry this node's id.
      const related: Record<string, string[]> = {
        suspectAfter: ['downAfter'],
        // heartbeatTimeoutMs × (downAfter + 1) is the derived idle timeout, a timer: the error names downAfter.
        heartbeatTimeoutMs: ['downAfter'],
        heartbeatIntervalMs: ['downAfter'],
        capacity: ['peers'],
        serverId: ['peers'],
      };
      const valueArb = fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.integer({ min: -10, max: 10_000 }),
        fc.constantFrom('', 'a@127.0.0.1:1', '127.0.0.1:0', '[::1]:7101', 'x'.repeat(64), 1.5, -0, 1e308, 2 ** 53),
      );
      let rejected = 0;
      fc.assert(
        fc.property(validArb, fc.constantFrom(...fields), valueArb, (o, field, value) => {
          count('config: one field replaced by random JSON');
          const input = JSON.parse(JSON.stringify({ ...o, [field]: value })) as Record<string, unknown>;
          const got = check(input);
          if (got === 'accepted') return;
          rejected++;
          const base = got.replace(/[[.].*$/, '');
          expect([field, ...(related[field] ?? [])], `${got} for ${field}=${JSON.stringify(value)}`).to.include(base);
        }),
        params(1500),
      );
      expect(rejected).to.be.greaterThan(0);
    });

    it('random JSON documents and random text: a config or a ConfigError, never another exception', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.jsonValue({ maxDepth: 3 }),
            fc.dictionary(
              fc.constantFrom('cluster', 'serverId', 'listen', 'peers', 'x'),
              fc.jsonValue({ maxDepth: 2 }),
            ),
            fc.string({ unit: 'binary', maxLength: 200 }),
            fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v).slice(0, -1)), // truncated JSON text
          ),
          (input) => {
            count('config: random JSON and text');
            check(input);
          },
        ),
        params(1500),
      );
    });
  });

  // ---- state machine against models --------------------------------------------

  describe('failure-detection state machine against plain models', () => {
    const thresholdsArb = fc
      .tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }))
      .map(([s, extra]) => ({ suspectAfter: s, downAfter: s + extra }));
    type Event = 'miss' | 'beat' | 'left';

    it('a peer status is a function of the misses since its last heartbeat (and a Leave since then)', () => {
      fc.assert(
        fc.property(
          thresholdsArb,
          fc.array(fc.constantFrom<Event>('miss', 'miss', 'miss', 'beat', 'left'), { maxLength: 60 }),
          (t, events) => {
            count('state machine: closed-form model');
            let p: PeerHealth = onHeartbeatReceived();
            let missesSinceBeat = 0;
            let leftSinceBeat = false;
            let previous: PeerStatus = p.status;
            const order = { healthy: 0, suspected: 1, down: 2 } as const;
            for (const e of events) {
              if (e === 'miss') {
                p = onHeartbeatMissed(p, t);
                missesSinceBeat++;
                // Misses only ever make things worse.
                expect(order[p.status]).to.be.at.least(order[previous]);
              } else if (e === 'beat') {
                p = onHeartbeatReceived();
                missesSinceBeat = 0;
                leftSinceBeat = false;
              } else {
                p = { ...p, status: PeerStatus.Down }; // what registry.markDown does
                leftSinceBeat = true;
              }
              const model = leftSinceBeat ? PeerStatus.Down : statusForMissed(missesSinceBeat, t);
              expect(p.status).to.equal(model);
              expect(p.missedHeartbeats).to.equal(missesSinceBeat);
              previous = p.status;
            }
          },
        ),
        params(500),
      );
    });

    it('quorum is a strict majority of healthy nodes, the node itself included', () => {
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...Object.values(PeerStatus)), { maxLength: 40 }), (statuses) => {
          count('state machine: quorum arithmetic');
          const s = computeClusterStatus(statuses);
          const healthy = statuses.filter((x) => x === 'healthy').length + 1;
          expect(s.totalPeers).to.equal(statuses.length + 1);
          expect(s.healthyPeers).to.equal(healthy);
          expect(s.healthyPeers + s.suspectedPeers + s.downPeers).to.equal(s.totalPeers);
          expect(s.quorumAvailable).to.equal(healthy > (statuses.length + 1) / 2);
          expect(s.isDegraded).to.equal(healthy < statuses.length + 1);
        }),
        params(500),
      );
    });

    it('heartbeat ticks under fake time: a stall never counts a miss, and a silent peer misses once per on-time tick', () => {
      type Step = { kind: 'run'; ms: number } | { kind: 'stall'; ms: number } | { kind: 'heard' };
      const stepArb: fc.Arbitrary<Step> = fc.oneof(
        {
          weight: 4,
          arbitrary: fc.record({ kind: fc.constant('run' as const), ms: fc.integer({ min: 1, max: 700 }) }),
        },
        {
          weight: 1,
          arbitrary: fc.record({ kind: fc.constant('stall' as const), ms: fc.integer({ min: 1, max: 5000 }) }),
        },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant('heard' as const) }) },
      );
      fc.assert(
        fc.property(
          fc.integer({ min: 50, max: 500 }),
          fc.integer({ min: 50, max: 1000 }),
          fc.array(stepArb, { maxLength: 40 }),
          (intervalMs, timeoutMs, steps) => {
            count('state machine: heartbeat ticks and stalls (fake timers)');
            const clock = FakeTimers.install({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
            try {
              let lastHeard = Date.now();
              const ticks: { at: number; lag: number; stalled: boolean; missed: boolean }[] = [];
              const m = new HeartbeatMonitor(intervalMs, {
                peers: () => ['p'],
                connected: () => true,
                sendPing: () => undefined,
                overdue: () => Date.now() - lastHeard > timeoutMs,
                markMissed: () => (ticks[ticks.length - 1].missed = true),
                publishLag: (lag, stalled) => ticks.push({ at: Date.now(), lag, stalled, missed: false }),
              });
              m.start();
              const silences: number[] = [];
              for (const s of steps) {
                if (s.kind === 'heard') lastHeard = Date.now();
                // A frozen process: wall time moves, its timers do not run until it resumes.
                else if (s.kind === 'stall') clock.setSystemTime(Date.now() + s.ms);
                else {
                  const before = ticks.length;
                  clock.tick(s.ms);
                  for (let i = before; i < ticks.length; i++) silences[i] = ticks[i].at - lastHeard;
                }
              }
              m.stop();
              ticks.forEach((t, i) => {
                // The local-health rule: a late tick (lag over half an interval) counts no miss.
                if (t.stalled) expect(t.missed, `tick ${i} was late by ${t.lag} ms`).to.equal(false);
                expect(t.stalled).to.equal(t.lag > intervalMs / 2);
                // An on-time tick counts a miss exactly when the peer was silent too long.
                if (!t.stalled && silences[i] !== undefined) expect(t.missed).to.equal(silences[i] > timeoutMs);
                // Drift-free, and no burst of catch-up ticks after a stall: a tick late by less than
                // an interval keeps the cadence, a later one starts a new cadence.
                if (i > 0) {
                  const prev = ticks[i - 1];
                  expect(t.at - prev.at).to.be.at.least(intervalMs - (prev.lag < intervalMs ? prev.lag : 0));
                }
              });
            } finally {
              clock.uninstall();
            }
          },
        ),
        params(300),
      );
    });
  });
});
