// Windows region security beyond owner-only (issue #13): the account a reader
// expects to own a region, the writer mutex and the change semaphore held to
// the same rules as the mapping, and the read-only `readers` ACE. Wine runs everything as one user
// but stores and returns security descriptors, so the squatters here are made
// by test/fixtures/win32-security.cc with foreign owners (BUILTIN\Users), and
// DACLs are read back with its `describe`. The POSIX rules are tested in
// region.test.ts ("permissions").
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { binding } from '../lib/binding.js';
import { RegionReader, RegionWriter, emptySlot, regionName } from '../lib/region/index.js';
import { fixturesDir } from '../harness/fixtures.js';
import { uniqueKey } from '../harness/names.js';
import { codeOf, thrown } from '../harness/errors.js';
import { validImage } from '../harness/images.js';
import { waitFor } from '../harness/wait.js';

const securityTool = join(fixturesDir, 'win32-security.exe');
const users = { sid: 'S-1-5-32-545' }; // a group Wine and Windows both resolve
// What platform_win32.cc's readers ACE grants: section query + map read + READ_CONTROL;
// mutex SYNCHRONIZE + MUTEX_MODIFY_STATE + READ_CONTROL (a liveness probe);
// change semaphore SYNCHRONIZE + READ_CONTROL (wait on it, never release it).
const readersMapping = '0x20005';
const readersMutex = '0x120001';
const readersSemaphore = '0x120000';

/** What fn threw, which must be a CommyError. */
function errorOf(fn: () => unknown): { code?: string; message: string } {
  const e = thrown(fn);
  expect(e?.commy, `expected a CommyError, got ${e?.message ?? 'none'}`).to.equal(true);
  return e!;
}

interface Described {
  mapping: string;
  mutex: string;
  /** The <name>-changed semaphore's owner + DACL, or "OpenSemaphoreW failed: <error>". */
  semaphore: string;
  /** "mapping|mutex|semaphore <mask> <SID>", one per allow ACE. */
  aces: string[];
}

function describeObjects(name: string): Described {
  const out = join(tmpdir(), `commy-dacl-${process.pid}.txt`);
  const r = spawnSync(securityTool, ['describe', name, out], { stdio: 'ignore' });
  const [mapping, mutex, semaphore, ...aces] = readFileSync(out, 'utf8').trimEnd().split('\n');
  rmSync(out, { force: true });
  expect(r.status, `${mapping}\n${mutex}\n${semaphore}`).to.equal(0);
  return { mapping, mutex, semaphore, aces };
}

describe('Windows region security: owner, writer mutex, readers', () => {
  const cleanups: (() => void)[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) await stop(c);
    for (const f of cleanups.splice(0).reverse()) f();
  });

  function needWindows(ctx: Mocha.Context, tool = true): void {
    if (binding.platform !== 'win32') {
      console.log('      skipped: Windows only (DACLs and named mutexes); POSIX owner and mode rules: region.test.ts');
      ctx.skip();
    }
    if (tool && !existsSync(securityTool)) {
      console.log('      skipped: dist/test/fixtures/win32-security.exe missing (scripts/test-windows.sh builds it)');
      ctx.skip();
    }
  }

  function writer(key: { cluster: string; serverId: string }): RegionWriter {
    const w = RegionWriter.create({ ...key, capacity: 2 });
    cleanups.push(() => w.stop({ unlink: true }));
    return w;
  }

  function stop(c: ChildProcess): Promise<void> {
    if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      c.once('exit', () => resolve());
      c.kill();
    });
  }

  /** Starts `squat-mutex` or `squat-semaphore`: the region's <name>-writer mutex (held) or
   * <name>-changed semaphore, with that security descriptor. */
  async function squatObject(
    what: 'mutex' | 'semaphore',
    key: { cluster: string; serverId: string },
    sddl: string,
  ): Promise<ChildProcess> {
    const ready = join(tmpdir(), `commy-squat-${what}-${process.pid}-${key.cluster}.txt`);
    rmSync(ready, { force: true });
    const c = spawn(securityTool, [`squat-${what}`, regionName(key), sddl, ready], { stdio: 'ignore' });
    children.push(c);
    await waitFor(() => existsSync(ready) || c.exitCode !== null, { what: `the squatter to hold the ${what}` });
    rmSync(ready, { force: true });
    expect(c.exitCode, `squat-${what} exit status`).to.equal(null);
    return c;
  }
  const squatMutex = (key: { cluster: string; serverId: string }, sddl: string) => squatObject('mutex', key, sddl);
  const squatSemaphore = (key: { cluster: string; serverId: string }, sddl: string) =>
    squatObject('semaphore', key, sddl);

  it('a writer refuses a writer mutex owned by another account, or that others may take, naming its owner', async function () {
    needWindows(this);
    const cases = [
      {
        sddl: `O:${users.sid}D:P(A;;GA;;;${users.sid})`,
        why: /is owned by BUILTIN\\Users \(S-1-5-32-545\), not by .*\(S-1-5-/,
      },
      { sddl: 'O:@MED:(A;;GA;;;WD)', why: /gives Everyone \(S-1-1-0\) more than read access/ },
    ];
    for (const c of cases) {
      const key = uniqueKey();
      const squatter = await squatMutex(key, c.sddl);
      // The name is free, the mutex is not: createNew's lock meets the squatter.
      const e = errorOf(() => writer(key));
      expect(e.code, e.message).to.equal('ERR_REGION_UNTRUSTED');
      expect(e.message).to.include(`its writer mutex ${regionName(key)}-writer is not the writer's`);
      expect(e.message).to.match(c.why);
      expect(e.message).to.include('stop the process that holds');
      await stop(squatter);
    }
  });

  it("a reader does not take a squatter's writer mutex for a live writer, and a writer cannot take over", async function () {
    needWindows(this);
    const key = uniqueKey();
    const w = RegionWriter.create({ ...key, capacity: 2 });
    const reader = RegionReader.open(key); // keeps the mapping after the writer stops
    cleanups.push(() => reader.close());
    w.stop({ unlink: true });
    expect(reader.info().writer.alive).to.equal(false);
    const squatter = await squatMutex(key, `O:${users.sid}D:P(A;;GA;;;${users.sid})`);
    // The squatter holds <name>-writer: without the owner check it passes for the writer.
    expect(reader.info().writer.alive).to.equal(false);
    const e = errorOf(() => RegionReader.open(key));
    expect(e.code, e.message).to.equal('ERR_REGION_UNTRUSTED');
    expect(e.message).to.match(/its writer mutex .*-writer is not the writer's: it is owned by BUILTIN\\Users/);
    expect(e.message).to.include('this reader cannot tell whether the writer lives');
    // The takeover path (the mapping exists) checks the mutex too.
    const t = errorOf(() => writer(key));
    expect(t.code, t.message).to.equal('ERR_REGION_UNTRUSTED');
    expect(t.message).to.include('no writer can take the lock');
    // Once the squatter is gone the region is taken over, and readers see that writer.
    await stop(squatter);
    const w2 = writer(key);
    expect(w2.tookOver).to.equal(true);
    expect(reader.info().writer.alive).to.equal(true);
  });

  /** Starts `squat`: the region's mapping (a valid image) with that security descriptor. */
  async function squatMapping(key: { cluster: string; serverId: string }, sddl: string): Promise<ChildProcess> {
    const image = join(tmpdir(), `commy-squat-owner-${process.pid}-${key.cluster}.bin`);
    writeFileSync(image, validImage(key.cluster, key.serverId));
    cleanups.push(() => rmSync(image, { force: true }));
    const c = spawn(securityTool, ['squat', regionName(key), image, sddl], { stdio: 'ignore' });
    children.push(c);
    const what = 'the squatter to create the mapping';
    await waitFor(() => codeOf(() => RegionReader.open(key).close()) !== 'ERR_REGION_NOT_FOUND', { what });
    return c;
  }

  it('a reader refuses a mapping owned by another account, naming it; naming that owner opens it', async function () {
    needWindows(this);
    // Owned by BUILTIN\Users, but full access for this user only: the DACL alone is
    // what this process's own region has, so only the owner check refuses it.
    const key = uniqueKey();
    await squatMapping(key, `O:${users.sid}D:P(A;;GA;;;@ME)`);
    const e = errorOf(() => RegionReader.open(key));
    expect(e.code, e.message).to.equal('ERR_REGION_UNTRUSTED');
    expect(e.message).to.match(/it is owned by BUILTIN\\Users \(S-1-5-32-545\), not by .*\(S-1-5-[0-9-]+\)/);
    expect(e.message).to.include("name the owner to read another account's region");
    // Owned by BUILTIN\Users with access for that group only (this process is a
    // member): a reader told to expect that owner, by name or by SID, opens it.
    const key2 = uniqueKey();
    await squatMapping(key2, `O:${users.sid}D:P(A;;GA;;;${users.sid})`);
    expect(errorOf(() => RegionReader.open(key2)).message).to.include('it is owned by BUILTIN\\Users');
    RegionReader.open({ ...key2, owner: 'Users' }).close();
    RegionReader.open({ ...key2, owner: users.sid }).close();
  });

  it('readers: a read-only ACE for that group on the mapping, the mutex and the change semaphore, re-granted by a writer that takes over', function () {
    needWindows(this);
    const key = uniqueKey();
    const first = RegionWriter.create({ ...key, capacity: 2, readers: 'Users' });
    cleanups.push(() => first.close());
    const d = describeObjects(regionName(key));
    const self = /^O:(S-[0-9-]+)D:P/.exec(d.mapping)?.[1];
    expect(self, d.mapping).to.be.a('string');
    expect(d.mutex.startsWith(`O:${self}D:P`), d.mutex).to.equal(true);
    expect(d.semaphore.startsWith(`O:${self}D:P`), d.semaphore).to.equal(true);
    expect(d.aces.filter((a) => a.endsWith(` ${users.sid}`))).to.deep.equal([
      `mapping ${readersMapping} ${users.sid}`,
      `mutex ${readersMutex} ${users.sid}`,
      `semaphore ${readersSemaphore} ${users.sid}`,
    ]);
    expect(d.aces.filter((a) => a.endsWith(` ${self}`)).length).to.equal(3); // the owner's full access
    // A reader accepts the read-only ACEs and sees the writer; it holds the
    // semaphore open from here on, so the takeover below finds it.
    const reader = RegionReader.open(key);
    cleanups.push(() => reader.close());
    expect(reader.info().writer.alive).to.equal(true);
    expect(reader.canWait()).to.equal(true);
    // A writer taking over accepts them too, and applies its own readers (none).
    first.close();
    const second = RegionWriter.create({ ...key, capacity: 2 });
    expect(second.tookOver).to.equal(true);
    const ownerOnly = /^O:(S-[0-9-]+)D:P\(A;;[A-Z]+;;;\1\)$/;
    const d2 = describeObjects(regionName(key));
    expect(d2.mapping).to.match(ownerOnly);
    expect(d2.mutex).to.match(ownerOnly);
    expect(d2.semaphore).to.match(ownerOnly);
    // And one with readers (a string SID this time) grants them on all three objects.
    second.stop({ unlink: true });
    const third = RegionWriter.create({ ...key, capacity: 2, readers: users.sid });
    cleanups.push(() => third.close());
    expect(third.tookOver).to.equal(true);
    const d3 = describeObjects(regionName(key));
    expect(d3.aces.filter((a) => a.endsWith(` ${users.sid}`))).to.deep.equal([
      `mapping ${readersMapping} ${users.sid}`,
      `mutex ${readersMutex} ${users.sid}`,
      `semaphore ${readersSemaphore} ${users.sid}`,
    ]);
  });

  it('a writer refuses a change semaphore owned by another account, or that others may release, naming it and its owner', async function () {
    needWindows(this);
    const cases = [
      {
        sddl: `O:${users.sid}D:P(A;;GA;;;${users.sid})`,
        why: /is owned by BUILTIN\\Users \(S-1-5-32-545\), not by .*\(S-1-5-[0-9-]+\) \(this process's account\)/,
      },
      { sddl: 'O:@MED:(A;;GA;;;WD)', why: /gives Everyone \(S-1-1-0\) more than read access/ },
      // SYNCHRONIZE (waiting) is what readers get; SEMAPHORE_MODIFY_STATE (releasing) is not.
      {
        sddl: 'O:@MED:P(A;;GA;;;@ME)(A;;0x100002;;;WD)',
        why: /gives Everyone \(S-1-1-0\) more than read access \(0x100002\)/,
      },
    ];
    for (const c of cases) {
      const key = uniqueKey();
      const squatter = await squatSemaphore(key, c.sddl);
      // The mapping and the mutex are free: createNew succeeds, openNotifier meets the squatter.
      const e = errorOf(() => writer(key));
      expect(e.code, e.message).to.equal('ERR_REGION_UNTRUSTED');
      expect(e.message).to.include(`its change semaphore ${regionName(key)}-changed is not the writer's`);
      expect(e.message).to.match(c.why);
      expect(e.message).to.include(`stop the process that holds ${regionName(key)}-changed`);
      // The refused writer left nothing behind: no region to open.
      expect(codeOf(() => RegionReader.open(key).close())).to.equal('ERR_REGION_NOT_FOUND');
      await stop(squatter);
      // Once the squatter is gone the writer starts, with its own semaphore.
      writer(key);
      expect(describeObjects(regionName(key)).semaphore).to.match(/^O:(S-[0-9-]+)D:P\(A;;[A-Z]+;;;\1\)$/);
    }
  });

  it('a reader refuses a change semaphore owned by another account, or that others may release', async function () {
    needWindows(this);
    const cases = [
      {
        sddl: `O:${users.sid}D:P(A;;GA;;;${users.sid})`,
        why: /it is owned by BUILTIN\\Users \(S-1-5-32-545\), not by /,
      },
      {
        sddl: 'O:@MED:P(A;;GA;;;@ME)(A;;0x100002;;;WD)',
        why: /its DACL lets Everyone \(S-1-1-0\) change it \(0x100002\)/,
      },
    ];
    for (const c of cases) {
      // A region whose mapping and mutex are what our own writer makes (a
      // mapping squatted with our DACL and no mutex: a dead writer's), and a
      // stranger's semaphore beside it.
      const key = uniqueKey();
      await squatSemaphore(key, c.sddl);
      await squatMapping(key, 'O:@MED:P(A;;GA;;;@ME)');
      const e = errorOf(() => RegionReader.open(key));
      expect(e.code, e.message).to.equal('ERR_REGION_UNTRUSTED');
      expect(e.message).to.include(`its change semaphore ${regionName(key)}-changed is not the writer's`);
      expect(e.message).to.match(c.why);
      expect(e.message).to.include("this reader's wake-ups would be a stranger's");
    }
    // Without a semaphore at all (a writer that has none) the reader opens and polls.
    const key = uniqueKey();
    await squatMapping(key, 'O:@MED:P(A;;GA;;;@ME)');
    const r = RegionReader.open(key);
    expect(r.canWait()).to.equal(false);
    expect(await r.waitForStatusChange(r.statusSeq(), 1000)).to.equal('unsupported');
    r.close();
  });

  it('change notification: a reader blocks on the semaphore, a status write wakes it, other writes do not, close() ends the wait', async function () {
    needWindows(this, false);
    const key = uniqueKey();
    const w = writer(key);
    const reader = RegionReader.open(key);
    cleanups.push(() => reader.close());
    expect(reader.canWait(), 'the reader opened <name>-changed').to.equal(true);
    const seq = reader.statusSeq();
    const slot = { ...emptySlot(), serverId: 'b', address: '127.0.0.1:7102' };
    const timed = async (p: Promise<string>) => {
      const t0 = Date.now();
      return { result: await p, ms: Date.now() - t0 };
    };
    // Nothing moves: it times out on time (not early, though the semaphore may hold spare counts).
    const idle = await timed(reader.waitForStatusChange(seq, 300));
    expect(idle.result).to.equal('timeout');
    expect(idle.ms).to.be.at.least(290);
    // A write that changes no status bumps no word and wakes no one for good.
    const quiet = reader.waitForStatusChange(seq, 300);
    setTimeout(() => w.writeSlot(0, slot, false), 50);
    expect(await quiet).to.equal('timeout');
    // A status write wakes a wait long before its timeout.
    const woken = timed(reader.waitForStatusChange(seq, 20_000));
    setTimeout(() => w.writeSlot(0, { ...slot, status: 1 }, true), 50);
    const changed = await woken;
    expect(changed.result).to.equal('changed');
    expect(changed.ms, `woken after ${changed.ms} ms`).to.be.below(5000);
    expect(reader.statusSeq()).to.equal(seq + 1);
    // That write released 64 counts, one of which woke us: the spare ones are spurious wakes
    // the wait absorbs (it rechecks the word), so the next wait still times out on time.
    const spare = await timed(reader.waitForStatusChange(seq + 1, 300));
    expect(spare.result).to.equal('timeout');
    expect(spare.ms).to.be.at.least(290);
    // Another such write after the first was seen wakes the next wait too (no count is lost).
    const again = timed(reader.waitForStatusChange(seq + 1, 20_000));
    setTimeout(() => w.writeSlot(0, { ...slot, status: 2 }, true), 50);
    expect((await again).result).to.equal('changed');
    // close() sets the cancel event: the pending wait ends at once, not at its 20 s timeout.
    const pending = timed(reader.waitForStatusChange(seq + 2, 20_000));
    setTimeout(() => reader.close(), 50);
    const closed = await pending;
    expect(closed.result).to.equal('closed');
    expect(closed.ms, `ended after ${closed.ms} ms`).to.be.below(5000);
    console.log(
      `      woken ${changed.ms} ms after the wait started (write at 50 ms); close ended a wait after ${closed.ms} ms`,
    );
  });

  it('readers: an unknown account or group, or a domain, is refused with ERR_INVALID_ARG naming it', function () {
    needWindows(this, false);
    const e = errorOf(() => {
      const r = RegionWriter.create({ ...uniqueKey(), capacity: 2, readers: 'no-such-group-commy' });
      r.close();
    });
    expect(e.code, e.message).to.equal('ERR_INVALID_ARG');
    expect(e.message).to.include('readers "no-such-group-commy": no such account or group');
    // The computer's own name resolves, but to a domain: no one reads as that.
    const computer = process.env.COMPUTERNAME ?? hostname();
    const d = errorOf(() => RegionWriter.create({ ...uniqueKey(), capacity: 2, readers: computer }).close());
    expect(d.code, d.message).to.equal('ERR_INVALID_ARG');
    expect(d.message).to.include(`readers "${computer}" names a domain, not an account or group`);
  });

  it('owner: a reader expecting another account refuses our region; our own account name, or none, opens it', function () {
    needWindows(this, false);
    const key = uniqueKey();
    writer(key);
    const e = errorOf(() => RegionReader.open({ ...key, owner: 'SYSTEM' }).close());
    expect(e.code, e.message).to.equal('ERR_REGION_UNTRUSTED');
    expect(e.message).to.match(/it is owned by .*\(S-1-5-[0-9-]+\), not by NT AUTHORITY\\SYSTEM \(S-1-5-18\)/);
    RegionReader.open({ ...key, owner: userInfo().username }).close();
    RegionReader.open(key).close();
    const u = errorOf(() => RegionReader.open({ ...key, owner: 'no-such-account-commy' }).close());
    expect(u.code, u.message).to.equal('ERR_INVALID_ARG');
    expect(u.message).to.include('owner "no-such-account-commy": no such account');
  });
});
