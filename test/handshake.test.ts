// The handshake and what follows it, over real loopback sockets: the transcript binds every field,
// replies are matched to the peer asked, error replies arrive, and a node's listener, timers and
// dynamically joined peers stay within their rules.
import { expect } from 'chai';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { ClusterNode } from '../lib/node.js';
import { ConfigError, ErrorCode } from '../lib/errors.js';
import { FrameAuth, Keyring, proof, proofMatches, type Transcript } from '../lib/protocol/auth.js';
import { decodeMessage, encodeMessage } from '../lib/protocol/codec.js';
import { FrameDecoder } from '../lib/protocol/frame.js';
import { MessageType, type Hello, type HelloAck, type Message } from '../lib/protocol/messages.js';
import { parseConfig } from '../lib/registry/config.js';
import { Connection, type ConnectionContext } from '../lib/transport/connection.js';
import { SECRET } from '../harness/cluster.js';
import { uniqueKey } from '../harness/names.js';
import { waitFor } from '../harness/wait.js';

const K1 = 'handshake-key-one-0123456789';
const K2 = 'handshake-key-two-0123456789';

function ctx(over: Partial<ConnectionContext> = {}): ConnectionContext {
  return {
    cluster: 'hs',
    serverId: 'a',
    listen: '127.0.0.1:1',
    keyring: new Keyring([K1, K2]),
    handshakeTimeoutMs: 2000,
    idleTimeoutMs: 5000,
    maxFrameBytes: 1 << 20,
    admit: () => null,
    ...over,
  };
}

function outcome(conn: Connection): Promise<{ open: boolean; error?: string }> {
  return new Promise((resolve) => {
    conn.once('open', () => resolve({ open: true }));
    conn.once('close', ({ error }) => resolve({ open: false, error }));
  });
}

async function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('handshake transcript', () => {
  const hello: Hello = {
    version: [2, 0],
    cluster: 'hs',
    serverId: 'a',
    listen: '127.0.0.1:1',
    nonce: Buffer.alloc(32, 1),
    keyIds: ['k1', 'k2'],
  };
  const ack: Omit<HelloAck, 'proof'> = {
    version: [2, 0],
    cluster: 'hs',
    serverId: 'b',
    listen: '127.0.0.1:2',
    nonce: Buffer.alloc(32, 2),
    keyId: 'k1',
  };
  const key = new Keyring([K1]).primary;
  const changed: Record<string, Transcript> = {
    'hello.version': { hello: { ...hello, version: [2, 1] }, ack },
    'hello.cluster': { hello: { ...hello, cluster: 'hs2' }, ack },
    'hello.serverId': { hello: { ...hello, serverId: 'a2' }, ack },
    'hello.listen': { hello: { ...hello, listen: '10.0.0.1:1' }, ack },
    'hello.nonce': { hello: { ...hello, nonce: Buffer.alloc(32, 9) }, ack },
    'hello.keyIds': { hello: { ...hello, keyIds: ['k2'] }, ack },
    'ack.version': { hello, ack: { ...ack, version: [2, 1] } },
    'ack.cluster': { hello, ack: { ...ack, cluster: 'hs2' } },
    'ack.serverId': { hello, ack: { ...ack, serverId: 'b2' } },
    'ack.listen': { hello, ack: { ...ack, listen: '10.0.0.2:2' } },
    'ack.nonce': { hello, ack: { ...ack, nonce: Buffer.alloc(32, 9) } },
    'ack.keyId': { hello, ack: { ...ack, keyId: 'k2' } },
    // Field boundaries count: moving a character from one field to the next is a change too.
    'hello.serverId|listen boundary': { hello: { ...hello, serverId: 'a1', listen: '27.0.0.1:1' }, ack },
  };

  it('both proofs change when any Hello or HelloAck field changes', () => {
    for (const role of ['client', 'server'] as const) {
      const original = proof(key, role, { hello, ack });
      for (const [field, t] of Object.entries(changed))
        expect(proofMatches(original, proof(key, role, t)), `${role} proof, ${field}`).to.equal(false);
    }
  });

  describe('an on-path rewrite of one handshake field', () => {
    let target: { server: Server; port: number };
    let relay: { server: Server; port: number };
    const sockets: Socket[] = [];
    const serverConns: Connection[] = [];
    let rewrite: { hello?: (h: Hello) => Hello; ack?: (a: HelloAck) => HelloAck } = {};

    /** Rewrites the first frame one way with `f`, then forwards bytes untouched. */
    function forward(from: Socket, to: Socket, f: ((m: Message) => Message) | undefined): void {
      const decoder = new FrameDecoder();
      let first = true;
      from.on('data', (chunk: Buffer) => {
        if (!first) return void to.write(chunk);
        const frames = decoder.push(chunk);
        if (frames.length === 0) return;
        first = false;
        const m = decodeMessage(frames[0]);
        to.write(f ? encodeMessage(f(m)) : encodeMessage(m));
        for (const rest of frames.slice(1)) to.write(encodeFrameRaw(rest.type, rest.payload));
      });
      from.on('close', () => to.destroy());
      from.on('error', () => undefined);
    }
    function encodeFrameRaw(type: number, payload: Buffer): Buffer {
      const b = Buffer.alloc(5);
      b.writeUInt32BE(payload.length + 1, 0);
      b[4] = type;
      return Buffer.concat([b, payload]);
    }

    before(async () => {
      target = await listen((s) => {
        sockets.push(s);
        serverConns.push(new Connection(s, 'server', ctx({ serverId: 'b', listen: '127.0.0.1:2' })));
      });
      relay = await listen((down) => {
        sockets.push(down);
        const up = connect({ host: '127.0.0.1', port: target.port });
        sockets.push(up);
        const h = rewrite.hello;
        const a = rewrite.ack;
        forward(down, up, h && ((m) => (m.type === MessageType.Hello ? { type: m.type, body: h(m.body) } : m)));
        forward(up, down, a && ((m) => (m.type === MessageType.HelloAck ? { type: m.type, body: a(m.body) } : m)));
      });
    });
    after(async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([target, relay].map(({ server }) => new Promise((r) => server.close(r))));
    });

    async function attempt(): Promise<{ client: boolean; server: boolean }> {
      const n = serverConns.length;
      const client = new Connection(connect({ host: '127.0.0.1', port: relay.port }), 'client', ctx());
      const c = await outcome(client);
      await waitFor(() => serverConns.length > n, { what: 'the target to accept' });
      const s = serverConns[n];
      const sOpen = s.state === 'open' ? true : s.state === 'closed' ? false : (await outcome(s)).open;
      client.destroy();
      s.destroy();
      return { client: c.open, server: sOpen };
    }

    it('an untouched relay lets the handshake through (the relay itself is sound)', async () => {
      rewrite = {};
      expect(await attempt()).to.deep.equal({ client: true, server: true });
    });

    const cases: [string, typeof rewrite][] = [
      ['Hello.version (minor)', { hello: (h) => ({ ...h, version: [h.version[0], h.version[1] + 3] }) }],
      ['Hello.serverId', { hello: (h) => ({ ...h, serverId: 'mallory' }) }],
      ['Hello.listen', { hello: (h) => ({ ...h, listen: '127.0.0.1:6666' }) }],
      ['Hello.nonce', { hello: (h) => ({ ...h, nonce: Buffer.alloc(32, 7) }) }],
      ['Hello.keyIds (primary dropped)', { hello: (h) => ({ ...h, keyIds: h.keyIds.slice(1) }) }],
      ['HelloAck.version (minor)', { ack: (a) => ({ ...a, version: [a.version[0], a.version[1] + 3] }) }],
      ['HelloAck.serverId', { ack: (a) => ({ ...a, serverId: 'mallory' }) }],
      ['HelloAck.listen', { ack: (a) => ({ ...a, listen: '127.0.0.1:6666' }) }],
      ['HelloAck.nonce', { ack: (a) => ({ ...a, nonce: Buffer.alloc(32, 7) }) }],
      ['HelloAck.proof', { ack: (a) => ({ ...a, proof: Buffer.alloc(32, 7) }) }],
    ];
    for (const [name, r] of cases)
      it(`${name}: neither side opens`, async () => {
        rewrite = r;
        expect(await attempt()).to.deep.equal({ client: false, server: false });
      });
  });
});

describe('a ClusterNode in this process, its peers played by the test', () => {
  const nodes: ClusterNode[] = [];
  const conns: Connection[] = [];
  afterEach(async () => {
    for (const c of conns.splice(0)) c.destroy();
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  async function startA(
    extra: Record<string, unknown> = {},
    opts: Parameters<typeof ClusterNode.start>[1] = {},
  ): Promise<ClusterNode> {
    const { cluster } = uniqueKey('hs');
    const node = await ClusterNode.start(
      { cluster, serverId: 'a', listen: '127.0.0.1:0', peers: ['b@127.0.0.1:9', 'c@127.0.0.1:8'], ...extra },
      { secret: SECRET, unlinkOnStop: true, ...opts },
    );
    nodes.push(node);
    return node;
  }

  /** A peer that dials the node and completes the handshake; resolves once open. */
  async function peer(node: ClusterNode, serverId: string): Promise<Connection> {
    const [host, port] = node.address.split(':');
    const conn = new Connection(
      connect({ host, port: Number(port) }),
      'client',
      ctx({
        cluster: node.config.cluster,
        serverId,
        listen: `127.0.0.1:${1000 + conns.length}`,
        keyring: new Keyring([SECRET]),
      }),
    );
    conns.push(conn);
    const r = await outcome(conn);
    if (!r.open) throw new Error(`${serverId} was refused: ${r.error}`);
    return conn;
  }

  function onRequest(conn: Connection, answer: (m: Message) => void): void {
    conn.on('message', (m) => {
      if (m.type === MessageType.StateSyncRequest || m.type === MessageType.ClientMigration) answer(m);
    });
  }

  it('a reply from another member does not settle a request sent to b', async () => {
    const node = await startA({}, { requestTimeoutMs: 1500 });
    const b = await peer(node, 'b');
    const c = await peer(node, 'c');
    await waitFor(() => node.connections().length === 2, { what: 'both peers connected' });
    onRequest(b, () => undefined); // b never answers
    const forged = [{ serverId: 'x', status: 'down', missedHeartbeats: 99, lastSeenMs: null }];
    onRequest(c, (m) => {
      const id = (m.body as { requestId: number }).requestId;
      // c answers its own request honestly, and forges answers for the ids next to it (sequential ids).
      for (const requestId of [id - 1, id, id + 1])
        c.send({ type: MessageType.StateSyncResponse, body: { requestId, peers: requestId === id ? [] : forged } });
      for (const requestId of [id - 1, id + 1]) c.send({ type: MessageType.ClientMigrationAck, body: { requestId } });
    });
    const e = await node.explain('x');
    expect(e.peers.c).to.deep.equal({ error: 'does not track x' });
    expect(e.peers.b).to.deep.equal({ error: 'no answer within 1500 ms' });
    // The same for a client migration: b's ack cannot come from c.
    const r = await node.announceClientMigration({ clientId: 'u', from: 'a', to: 'b', reason: 'manual' });
    expect(r.missing).to.include('b');
  });

  it('an Error reply settles the request at once', async () => {
    const node = await startA({}, { requestTimeoutMs: 10_000 });
    const b = await peer(node, 'b');
    await waitFor(() => node.connections().length === 1, { what: 'b connected' });
    onRequest(b, (m) =>
      b.send({
        type: MessageType.Error,
        body: {
          requestId: (m.body as { requestId: number }).requestId,
          code: 'ERR_INTERNAL',
          message: 'cannot answer',
        },
      }),
    );
    const t0 = Date.now();
    const e = await node.explain('b');
    expect(e.peers.b).to.deep.equal({ error: 'ERR_INTERNAL: cannot answer' });
    expect(Date.now() - t0).to.be.below(5000);
  });

  it("an outbound connection's remoteAddress is the peer's address, in the node and in the Connection", async () => {
    const target = await listen((s) =>
      conns.push(new Connection(s, 'server', ctx({ serverId: 'b', cluster: 'hs', keyring: new Keyring([SECRET]) }))),
    );
    try {
      const dialed = new Connection(
        connect({ host: '127.0.0.1', port: target.port }),
        'client',
        ctx({ keyring: new Keyring([SECRET]) }),
      );
      conns.push(dialed);
      expect((await outcome(dialed)).open).to.equal(true);
      expect(dialed.remoteAddress).to.equal(`127.0.0.1:${target.port}`);
      // And a ClusterNode's outbound connection to a static peer.
      const { cluster } = uniqueKey('hs');
      const b = await ClusterNode.start(
        { cluster, serverId: 'b', listen: '127.0.0.1:0', peers: ['a@127.0.0.1:9'] },
        { secret: SECRET, unlinkOnStop: true },
      );
      nodes.push(b);
      const a = await ClusterNode.start(
        { cluster, serverId: 'a', listen: '127.0.0.1:0', peers: [`b@${b.address}`] },
        { secret: SECRET, unlinkOnStop: true },
      );
      nodes.push(a);
      await waitFor(() => a.connections().some((x) => x.serverId === 'b' && x.direction === 'outbound'), {
        what: 'a to dial b',
      });
      expect(a.connections().find((x) => x.direction === 'outbound')?.remoteAddress).to.equal(b.address);
    } finally {
      for (const c of conns.splice(0)) c.destroy();
      await new Promise((r) => target.server.close(r));
    }
  });

  it('an error on the listener (EMFILE) is logged and the node keeps serving', async () => {
    const warnings: string[] = [];
    const node = await startA({}, { logger: { info: () => undefined, warn: (_o, msg) => warnings.push(msg ?? '') } });
    const server = (node as unknown as { server: Server }).server;
    server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    expect(warnings).to.include('the listener failed to accept a connection');
    await peer(node, 'b'); // still accepting
  });

  it('refuses any timer option above 2^31-1 ms, naming it, before creating anything', async () => {
    const { cluster } = uniqueKey('hs');
    const config = { cluster, serverId: 'a', listen: '127.0.0.1:0' };
    const tooLong = 2 ** 31;
    for (const opts of [
      { idleTimeoutMs: tooLong },
      { handshakeTimeoutMs: tooLong },
      { requestTimeoutMs: tooLong },
      { dynamicPeerExpiryMs: tooLong },
      { dialPolicy: { maxDelayMs: tooLong } },
      { dialPolicy: { halfOpenAfterMs: 1.5 } },
    ]) {
      const field =
        Object.keys(opts)[0] === 'dialPolicy' ? `dialPolicy.${Object.keys(opts.dialPolicy!)[0]}` : Object.keys(opts)[0];
      const r = await ClusterNode.start(config, { secret: SECRET, unlinkOnStop: true, ...opts }).then(
        (n) => n,
        (e: Error) => e,
      );
      if (r instanceof ClusterNode) {
        nodes.push(r);
        expect.fail(`started with ${JSON.stringify(opts)}`);
      }
      expect((r as { code?: string }).code, field).to.equal(ErrorCode.InvalidArg);
      expect(r.message).to.contain(`"${field}"`);
    }
    // The config: the idle timeout derived from heartbeatTimeoutMs × (downAfter + 1) is a timer too.
    const derived = { ...config, heartbeatTimeoutMs: 3_600_000, downAfter: 1000 };
    expect(() => parseConfig(derived))
      .to.throw(ConfigError)
      .with.property('field', 'downAfter');
    const r = await ClusterNode.start(derived, { secret: SECRET, unlinkOnStop: true }).then(
      (n) => n,
      (e: Error) => e,
    );
    if (r instanceof ClusterNode) nodes.push(r);
    expect(r).to.be.instanceOf(ConfigError);
  });

  it("a peer's member list: junk entries are skipped, a report of the node's departure is refuted, a full region refuses the rest", async () => {
    const warnings: string[] = [];
    const node = await startA(
      { capacity: 4 },
      { logger: { info: () => undefined, warn: (_o, msg) => warnings.push(msg ?? '') } },
    );
    const lists: { serverId: string; incarnation: number; state: string }[][] = [];
    const conn = await peer(node, 'p');
    conn.on('message', (m) => {
      if (m.type === MessageType.MemberList) lists.push(m.body.members);
    });
    // On open, the node sends its whole list: itself first, with its incarnation, then its members.
    await waitFor(() => lists.length >= 1, { what: "the node's member list" });
    const [self, ...members] = lists[0];
    expect(self).to.include({ serverId: 'a', state: 'alive' });
    expect(self.incarnation).to.be.greaterThan(0);
    expect(members.map((m) => m.serverId).sort()).to.deep.equal(['b', 'c', 'p']);
    conn.send({
      type: MessageType.MemberList,
      body: {
        members: [
          { serverId: 'x1', address: '0.0.0.0:7101', incarnation: 1, state: 'alive' }, // not dialable
          { serverId: 'x2', address: 'not an address', incarnation: 1, state: 'alive' },
          { serverId: 'a', address: '', incarnation: self.incarnation, state: 'left' }, // "you left"
          { serverId: 'x3', address: '127.0.0.1:7', incarnation: 5, state: 'alive' }, // the 4th and last slot
          { serverId: 'x4', address: '127.0.0.1:6', incarnation: 5, state: 'alive' }, // no slot left
        ],
      },
    });
    await waitFor(() => node.registry.hasPeer('x3'), { what: 'x3 added' });
    await waitFor(() => lists.some((l) => l.some((m) => m.serverId === 'a' && m.incarnation > self.incarnation)), {
      what: 'the node to announce a greater incarnation of itself',
    });
    for (const id of ['x1', 'x2', 'x4']) expect(node.registry.hasPeer(id), id).to.equal(false);
    expect(
      warnings.some((w) => /cannot add member: .*slots/.test(w)),
      warnings.join(' | '),
    ).to.equal(true);
    expect(conn.state, 'the sender stays connected').to.equal('open');
  });

  /** Plays a peer of protocol 2.0 (no MemberList, no encryption): the frames it gets until a ping, or the end. */
  async function oldPeer(node: ClusterNode): Promise<{ frames: Message[]; closed: boolean }> {
    const [host, port] = node.address.split(':');
    const socket = connect({ host, port: Number(port) });
    const key = new Keyring([SECRET]).primary;
    const hello: Hello = {
      version: [2, 0],
      cluster: node.config.cluster,
      serverId: 'old',
      listen: '127.0.0.1:1',
      nonce: Buffer.alloc(32, 7),
      keyIds: [key.id],
    };
    const decoder = new FrameDecoder();
    const frames: Message[] = [];
    let auth: FrameAuth | undefined;
    try {
      return await new Promise((resolve, reject) => {
        socket.on('error', reject);
        socket.on('close', () => resolve({ frames, closed: true }));
        socket.on('data', (chunk: Buffer) => {
          decoder.feed(chunk);
          for (let f = decoder.next(); f; f = decoder.next()) {
            const m = decodeMessage(f, auth);
            if (m.type === MessageType.HelloAck) {
              const { proof: p, ...ack } = m.body;
              const t: Transcript = { hello, ack };
              if (!proofMatches(proof(key, 'server', t), p)) reject(new Error('bad server proof'));
              socket.write(encodeMessage({ type: MessageType.HelloProof, body: { proof: proof(key, 'client', t) } }));
              auth = new FrameAuth(key, 'client', t);
              expect(auth.encrypted, 'a session with a 2.0 end is not encrypted').to.equal(false);
            } else frames.push(m);
            if (frames.some((x) => x.type === MessageType.HeartbeatPing)) resolve({ frames, closed: false });
          }
        });
        socket.write(encodeMessage({ type: MessageType.Hello, body: hello }));
      });
    } finally {
      socket.destroy();
    }
  }

  it('a 2.0 peer (frames not encrypted) is refused by default with ERR_VERSION naming allowUnencryptedPeers', async () => {
    const node = await startA();
    const { frames, closed } = await oldPeer(node);
    expect(closed).to.equal(true);
    const error = frames.find((m) => m.type === MessageType.Error);
    expect(error?.body).to.include({ code: ErrorCode.Version });
    expect((error?.body as { message: string }).message).to.contain('allowUnencryptedPeers');
    expect(node.registry.hasPeer('old'), 'not admitted').to.equal(false);
    expect(node.rejectedFrames().bad_version).to.equal(1);
  });

  it('with allowUnencryptedPeers a 2.0 peer completes its handshake and heartbeats, and is sent no member list', async () => {
    const warnings: string[] = [];
    const logger = { info: () => {}, warn: (_o: object, msg?: string) => void warnings.push(msg ?? '') };
    const node = await startA({ allowUnencryptedPeers: true }, { logger });
    const { frames, closed } = await oldPeer(node);
    expect(closed).to.equal(false);
    expect(node.registry.hasPeer('old'), 'admitted').to.equal(true);
    expect(frames.map((m) => m.type)).to.not.include(MessageType.MemberList);
    expect(
      warnings.some((w) => /peer old speaks protocol 2\.0: .*not encrypted/.test(w)),
      warnings.join(' | '),
    ).to.equal(true);
  });

  it('bounds the peers allowDynamicJoin admits, and removes one that stays down', async () => {
    const node = await startA(
      { peers: [], heartbeatIntervalMs: 50, heartbeatTimeoutMs: 50 },
      { allowDynamicJoin: true, maxDynamicPeers: 2, dynamicPeerExpiryMs: 300 },
    );
    const p1 = await peer(node, 'p1');
    await peer(node, 'p2');
    const codes: string[] = [];
    const refused = peer(node, 'p3').catch((e: Error) => e);
    conns[conns.length - 1].on('remoteError', (e) => codes.push(e.code));
    expect(await refused).to.be.instanceOf(Error);
    expect(codes).to.deep.equal([ErrorCode.TooManyDynamicPeers]);
    expect(node.rejectedFrames().unknown_peer).to.be.at.least(1);
    // p1 goes away: down after 5 missed heartbeats, then removed once unheard for 300 ms.
    p1.destroy();
    const t0 = Date.now();
    await waitFor(() => !node.registry.hasPeer('p1'), { what: 'p1 removed', timeoutMs: 10_000 });
    console.log(`      p1 removed ${Date.now() - t0} ms after it disconnected`);
    // p2 is still connected (though silent, and so down): it stays.
    expect(node.registry.hasPeer('p2')).to.equal(true);
    await peer(node, 'p3'); // p1's place is free again
    await waitFor(() => node.registry.hasPeer('p3'), { what: 'p3 admitted' });
  });
});
