// The chaos test's fault-injecting proxy (test/chaos/proxy.ts), checked on its
// own so that a chaos failure points at the nodes, not at the tooling.
import { expect } from 'chai';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { FaultProxy } from './chaos/proxy.js';
import { seededRandom } from '../harness/random.js';
import { waitFor } from '../harness/wait.js';

interface Target {
  server: Server;
  port: number;
  sockets: Socket[];
  received: () => string;
  closedCount: () => number;
}

async function startTarget(): Promise<Target> {
  const sockets: Socket[] = [];
  let received = '';
  let closed = 0;
  const server = createServer((s) => {
    sockets.push(s);
    s.on('data', (d) => (received += d.toString()));
    s.on('close', () => closed++);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    sockets,
    received: () => received,
    closedCount: () => closed,
  };
}

async function dial(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  let received = '';
  let closed = false;
  socket.on('data', (d) => (received += d.toString()));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  return { socket, received: () => received, closed: () => closed };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fault proxy (chaos test tooling)', () => {
  let proxy: FaultProxy;
  let target: Target;
  let port: number;
  beforeEach(async () => {
    proxy = new FaultProxy({ seed: 7 });
    target = await startTarget();
    port = await proxy.addRoute('r', { host: '127.0.0.1', port: target.port });
  });
  afterEach(async () => {
    await proxy.close();
    for (const s of target.sockets) s.destroy();
    await new Promise((r) => target.server.close(r));
  });

  it('forwards both ways and propagates a close', async () => {
    const c = await dial(port);
    c.socket.write('ping');
    await waitFor(() => target.received() === 'ping', { what: 'bytes up' });
    target.sockets[0].write('pong');
    await waitFor(() => c.received() === 'pong', { what: 'bytes down' });
    target.sockets[0].destroy();
    await waitFor(() => c.closed(), { what: 'close to reach the client' });
    expect(proxy.stats('r')).to.include({ accepted: 1, open: 0, bytesDropped: 0 });
  });

  it('delays each chunk and keeps the order', async () => {
    proxy.setFaults('r', { delayMs: 150, jitterMs: 100 });
    const c = await dial(port);
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) {
      c.socket.write(String(i));
      await settle(5);
    }
    await waitFor(() => target.received() === '0123456789', { what: 'delayed bytes in order' });
    expect(Date.now() - t0).to.be.at.least(150);
  });

  it('a holding partition passes nothing until healed, then everything in order; new connections wait', async () => {
    const c = await dial(port);
    c.socket.write('a');
    await waitFor(() => target.received() === 'a');
    proxy.setFaults('r', { partition: 'hold' });
    c.socket.write('b');
    target.sockets[0].write('x');
    const late = await dial(port); // accepted by the proxy, unknown to the target
    late.socket.write('L');
    await settle(200);
    expect(target.received()).to.equal('a');
    expect(c.received()).to.equal('');
    expect(target.sockets).to.have.length(1);
    proxy.healAll();
    await waitFor(() => target.received().length === 3 && c.received() === 'x', { what: 'held bytes' });
    expect(target.received()).to.match(/^ab?L?b?$/);
    expect(target.sockets).to.have.length(2);
  });

  it('a discarding partition loses the bytes; one cut direction leaves the other working', async () => {
    const c = await dial(port);
    await waitFor(() => target.sockets.length === 1);
    proxy.setFaults('r', { partition: 'discard' });
    c.socket.write('lost');
    await settle(100);
    proxy.setFaults('r', { cut: { direction: 'up', mode: 'discard' } });
    c.socket.write('lost too');
    target.sockets[0].write('down still works');
    await waitFor(() => c.received() === 'down still works', { what: 'the open direction' });
    await settle(100);
    expect(target.received()).to.equal('');
    expect(proxy.stats('r').bytesDropped).to.equal('lost'.length + 'lost too'.length);
  });

  it('drops chunks at the given rate, reproducibly for a seed', async () => {
    const draws = (seed: number) => Array.from({ length: 5 }, seededRandom(seed));
    expect(draws(42)).to.deep.equal(draws(42));
    expect(draws(42)).to.not.deep.equal(draws(43));
    proxy.setFaults('r', { dropRate: 1 });
    const c = await dial(port);
    c.socket.write('gone');
    await settle(100);
    expect(target.received()).to.equal('');
    expect(proxy.stats('r').chunksDropped).to.equal(1);
  });

  it('half-open closes the target side, keeps the client side open and silent, and forwards no new connection', async () => {
    const c = await dial(port);
    await waitFor(() => target.sockets.length === 1);
    proxy.setFaults('r', { halfOpen: true });
    await waitFor(() => target.closedCount() === 1, { what: 'the target side to close' });
    c.socket.write('into the void');
    const fresh = await dial(port);
    fresh.socket.write('hello?');
    await settle(200);
    expect(c.closed()).to.equal(false);
    expect(target.sockets).to.have.length(1);
    expect(proxy.stats('r').halfOpened).to.equal(1);
    proxy.healAll(); // the broken connection stays broken; new ones work again
    const after = await dial(port);
    after.socket.write('back');
    await waitFor(() => target.received() === 'back', { what: 'a new connection after heal' });
    expect(c.closed()).to.equal(false);
    c.socket.destroy();
    fresh.socket.destroy();
    after.socket.destroy();
    await waitFor(() => proxy.socketCount === 0, { what: 'the proxy to release every socket' });
  });
});
