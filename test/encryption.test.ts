// Frame encryption between real nodes: every byte two nodes exchange goes through recording relays,
// and after each connection's handshake none of the plaintext they carried (a third member's id in
// the member list, both nodes' metadata) is on the wire. The handshake itself is in clear by design
// (cluster, the two ends' ids and addresses, nonces, key ids); the relays check that they saw it.
import { expect } from 'chai';
import { connect } from 'node:net';
import { ClusterNode } from '../lib/node.js';
import { Keyring } from '../lib/protocol/auth.js';
import { Connection } from '../lib/transport/connection.js';
import { MessageType } from '../lib/protocol/messages.js';
import { SECRET } from '../harness/cluster.js';
import { framesOf, recordingRelay } from '../harness/relay.js';
import { uniqueKey } from '../harness/names.js';
import { waitFor } from '../harness/wait.js';

describe('frame encryption on the wire', () => {
  const nodes: ClusterNode[] = [];
  const relays: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
    await Promise.all(relays.splice(0).map((r) => r.close()));
  });

  it('after the handshake, no id, metadata or member list of the session is readable in its bytes', async function () {
    this.timeout(60_000);
    const { cluster } = uniqueKey('enc');
    const secrets = { zone: 'zone-secret-7f3a9c', rack: 'rack-hidden-42e1b7', third: 'carol-hidden-id' };
    // a and b reach each other only through relays: each advertises its relay, and names the other's.
    let aPort = 0;
    let bPort = 0;
    const toA = await recordingRelay(() => aPort);
    const toB = await recordingRelay(() => bPort);
    relays.push(toA, toB);
    const timing = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 100 };
    const a = await ClusterNode.start(
      {
        cluster,
        serverId: 'alice-node',
        listen: '127.0.0.1:0',
        advertise: `127.0.0.1:${toA.port}`,
        peers: [`bob-node@127.0.0.1:${toB.port}`],
        ...timing,
      },
      { secret: SECRET, unlinkOnStop: true, metadata: { zone: secrets.zone } },
    );
    nodes.push(a);
    aPort = Number(a.address.split(':').pop());
    const b = await ClusterNode.start(
      {
        cluster,
        serverId: 'bob-node',
        listen: '127.0.0.1:0',
        advertise: `127.0.0.1:${toB.port}`,
        peers: [`alice-node@127.0.0.1:${toA.port}`],
        ...timing,
      },
      { secret: SECRET, unlinkOnStop: true, metadata: { rack: secrets.rack } },
    );
    nodes.push(b);
    bPort = Number(b.address.split(':').pop());
    // A third member known to alice alone: bob can learn its id only from alice's member list.
    const c = await ClusterNode.start(
      { cluster, serverId: secrets.third, listen: '127.0.0.1:0', peers: [`alice-node@${a.address}`], ...timing },
      { secret: SECRET, unlinkOnStop: true, allowDynamicJoin: true },
    );
    nodes.push(c);
    await waitFor(
      () =>
        b.registry.hasPeer(secrets.third) &&
        b.getPeerMetadata('alice-node').zone === secrets.zone &&
        a.getPeerMetadata('bob-node').rack === secrets.rack,
      { what: "bob to learn carol and both nodes each other's metadata", timeoutMs: 20_000 },
    );

    let handshakeFrames = 0;
    let sealedFrames = 0;
    const handshake: Buffer[] = [];
    const sealed: Buffer[] = [];
    for (const s of [...toA.sessions, ...toB.sessions]) {
      // The client sends Hello then HelloProof, the server HelloAck; every later frame is sealed.
      for (const [dir, inClear] of [
        [framesOf(s.toServer), 2],
        [framesOf(s.toClient), 1],
      ] as const)
        dir.forEach((f, i) => {
          if (i < inClear) {
            expect(f.type).to.be.oneOf([MessageType.Hello, MessageType.HelloAck, MessageType.HelloProof]);
            handshakeFrames++;
            handshake.push(f.payload);
          } else {
            sealedFrames++;
            sealed.push(f.payload);
          }
        });
    }
    const clear = Buffer.concat(handshake);
    const wire = Buffer.concat(sealed);
    console.log(
      `      ${toA.sessions.length + toB.sessions.length} connections through the relays: ${handshakeFrames} handshake frames, ` +
        `${sealedFrames} sealed frames (${wire.length} bytes)`,
    );
    // The relays saw the session: the handshake names both ends in clear ...
    expect(clear.includes('alice-node')).to.equal(true);
    expect(clear.includes('bob-node')).to.equal(true);
    // ... and after it, heartbeats, metadata and member lists crossed them, none of it readable.
    expect(sealedFrames).to.be.greaterThan(4);
    for (const [what, text] of Object.entries({ ...secrets, alice: 'alice-node', bob: 'bob-node', cluster }))
      expect(wire.includes(text), `${what} ("${text}") readable after the handshake`).to.equal(false);
  });

  it('a member that sends a tampered, replayed or truncated frame is cut off; the node keeps serving the others', async function () {
    this.timeout(60_000);
    const { cluster } = uniqueKey('enc');
    const timing = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 100 };
    const a = await ClusterNode.start(
      { cluster, serverId: 'a', listen: '127.0.0.1:0', peers: [], ...timing },
      { secret: SECRET, unlinkOnStop: true },
    );
    nodes.push(a);
    const b = await ClusterNode.start(
      { cluster, serverId: 'b', listen: '127.0.0.1:0', peers: [`a@${a.address}`], ...timing },
      { secret: SECRET, unlinkOnStop: true },
    );
    nodes.push(b);
    await waitFor(() => a.registry.getPeer('b')?.status === 'healthy' && a.connections().length === 1, {
      what: 'a and b connected',
    });
    const [host, port] = a.address.split(':');
    /** An authenticated member m: it completes a real 2.2 handshake, then its socket writes what `change` makes of each frame. */
    const attack = async (id: string, change: (frame: Buffer, sent: Buffer[]) => Buffer) => {
      const socket = connect({ host, port: Number(port) });
      const conn = new Connection(socket, 'client', {
        cluster,
        serverId: id,
        listen: '127.0.0.1:1',
        keyring: new Keyring([SECRET]),
        handshakeTimeoutMs: 5000,
        idleTimeoutMs: 10_000,
        maxFrameBytes: 1 << 20,
        admit: () => null,
      });
      await new Promise<void>((resolve, reject) => {
        conn.once('open', () => resolve());
        conn.once('close', ({ error }) => reject(new Error(`${id} refused: ${error}`)));
      });
      const sent: Buffer[] = [];
      const write = socket.write.bind(socket) as (b: Buffer) => boolean;
      (socket as unknown as { write: (b: Buffer) => boolean }).write = (f: Buffer) => {
        const out = change(Buffer.from(f), sent);
        sent.push(Buffer.from(f));
        return write(out);
      };
      const closed = new Promise<void>((r) => conn.once('close', () => r()));
      const ping = { type: MessageType.HeartbeatPing, body: { serverId: id, timestamp: Date.now(), sequence: 1 } };
      conn.send(ping as never);
      conn.send({ ...ping, body: { ...ping.body, sequence: 2 } } as never);
      await closed;
    };
    const failedBefore = a.rejectedFrames().auth_failed;
    const lastSeen = () => a.registry.getPeer('b')?.lastSeenMs ?? 0;
    // Tampered: one bit of the ciphertext of the first frame after the handshake.
    await attack('m1', (f, sent) => {
      if (sent.length === 0) f[f.length - 20] ^= 0x01;
      return f;
    });
    // Replayed: the second frame is the first one again.
    await attack('m2', (f, sent) => (sent.length === 1 ? sent[0] : f));
    // Truncated: a frame whose length prefix is cut by its last 4 bytes (the tag then ends short).
    await attack('m3', (f, sent) => {
      if (sent.length > 0) return f;
      const cut = Buffer.from(f.subarray(0, f.length - 4));
      cut.writeUInt32BE(cut.length - 4, 0);
      return cut;
    });
    await waitFor(() => a.rejectedFrames().auth_failed - failedBefore >= 3, { what: 'three auth failures counted' });
    // b is still served: healthy, on its connection, and heard from after the attacks.
    const after = lastSeen();
    await waitFor(() => lastSeen() > after, { what: "a to hear b's next heartbeat" });
    expect(a.registry.getPeer('b')?.status).to.equal('healthy');
    expect(a.connections().map((c) => c.serverId)).to.deep.equal(['b']);
  });
});
