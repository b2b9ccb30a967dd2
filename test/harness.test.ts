// The shared harness (harness/): forked children's message queue and exit,
// free ports, and waitFor's deadline. Tests, benchmarks and the soak rely on these.
import { expect } from 'chai';
import FakeTimers from '@sinonjs/fake-timers';
import { createServer, type Server } from 'node:net';
import { forkFixture } from '../harness/fixtures.js';
import { freePorts } from '../harness/loopback.js';
import type { ForkedChild } from '../harness/processes.js';
import { waitFor } from '../harness/wait.js';

const children: ForkedChild[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill();
    await c.exited;
  }
});
function fork(mode: string): ForkedChild {
  const c = forkFixture('message-child.js', [mode]);
  children.push(c);
  return c;
}

describe('harness forkChild', () => {
  it('next() takes the first matching message, also one that came before the call; the rest stay queued in order', async () => {
    const c = fork('send-and-exit');
    expect(await c.exited).to.deep.equal({ code: 3, signal: null });
    expect(await c.next<{ n: number }>((m) => m.n === 2)).to.deep.equal({ n: 2 });
    expect(c.messages).to.deep.equal([{ n: 1 }]);
    expect(await c.next()).to.deep.equal({ n: 1 });
    expect(c.messages).to.deep.equal([]);
  });

  it('next() rejects as soon as the child is gone without the message, long before its timeout', async () => {
    const c = fork('send-and-exit');
    const startedMs = Date.now();
    const err = await c
      .next((m) => 'never' in m, 20_000, 'a message it never sends')
      .then(
        () => null,
        (e: Error) => e,
      );
    expect(err?.message).to.match(
      /^message-child\.js exited \(code 3, signal null\) before sending a message it never sends$/,
    );
    expect(Date.now() - startedMs).to.be.below(10_000);
    // Already gone: a later call rejects at once.
    const again = await c.next((m) => 'never' in m, 20_000, 'anything').catch((e: Error) => e);
    expect((again as Error).message).to.match(/exited \(code 3/);
  });

  it('next() gives up at its timeout, naming what it waited for; a predicate that throws does not match', async () => {
    const c = fork('echo');
    c.send('ping');
    let asked = 0;
    const throwing = (): boolean => {
      asked++;
      throw new TypeError('cannot read this message');
    };
    const err = await c.next(throwing, 300, 'an echo of x').catch((e: Error) => e);
    expect((err as Error).message).to.equal('timed out after 300 ms waiting for an echo of x from message-child.js');
    expect(asked).to.equal(1);
    expect(c.messages).to.deep.equal([{ echo: 'ping' }]);
    c.send('stop');
    expect((await c.exited).code).to.equal(0);
  });
});

describe('harness freePorts', () => {
  it('returns distinct ports that can be listened on', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).to.equal(5);
    const servers: Server[] = [];
    try {
      for (const port of ports)
        servers.push(
          await new Promise<Server>((resolve, reject) => {
            const s = createServer();
            s.once('error', reject);
            s.listen(port, '127.0.0.1', () => resolve(s));
          }),
        );
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
    expect(servers).to.have.length(5);
  });
});

describe('harness waitFor', () => {
  it('polls until the condition holds, then returns its value', async () => {
    const clock = FakeTimers.install({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      let calls = 0;
      const done = waitFor(() => (++calls === 4 ? 'ready' : null), { timeoutMs: 1000, intervalMs: 50 });
      await clock.tickAsync(200);
      expect(await done).to.equal('ready');
      expect(calls).to.equal(4);
    } finally {
      clock.uninstall();
    }
  });

  it('fails after its deadline, naming what it waited for and the last error', async () => {
    const clock = FakeTimers.install({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const failed = waitFor(
        () => {
          throw new Error('not yet');
        },
        { timeoutMs: 500, intervalMs: 100, what: 'the thing' },
      ).catch((e: Error) => e);
      await clock.tickAsync(700);
      expect(((await failed) as Error).message).to.equal(
        'timed out after 500 ms waiting for the thing (last error: not yet)',
      );
    } finally {
      clock.uninstall();
    }
  });
});
