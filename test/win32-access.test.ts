// Windows region security beyond owner-only (issue #13): the account a reader
// expects to own a region, the writer mutex held to the same rules as the
// mapping, and the read-only `readers` ACE. Wine runs everything as one user
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
import { RegionReader, RegionWriter, regionName } from '../lib/region/index.js';
import { fixturesDir } from '../harness/fixtures.js';
import { uniqueKey } from '../harness/names.js';
import { codeOf, thrown } from '../harness/errors.js';
import { validImage } from '../harness/images.js';
import { waitFor } from '../harness/wait.js';

const securityTool = join(fixturesDir, 'win32-security.exe');
const users = { sid: 'S-1-5-32-545' }; // a group Wine and Windows both resolve
// What platform_win32.cc's readers ACE grants: section query + map read + READ_CONTROL;
// mutex SYNCHRONIZE + MUTEX_MODIFY_STATE + READ_CONTROL (a liveness probe).
const readersMapping = '0x20005';
const readersMutex = '0x120001';

/** What fn threw, which must be a CommyError. */
function errorOf(fn: () => unknown): { code?: string; message: string } {
  const e = thrown(fn);
  expect(e?.commy, `expected a CommyError, got ${e?.message ?? 'none'}`).to.equal(true);
  return e!;
}

interface Described {
  mapping: string;
  mutex: string;
  /** "mapping|mutex <mask> <SID>", one per allow ACE. */
  aces: string[];
}

function describeObjects(name: string): Described {
  const out = join(tmpdir(), `commy-dacl-${process.pid}.txt`);
  const r = spawnSync(securityTool, ['describe', name, out], { stdio: 'ignore' });
  const [mapping, mutex, ...aces] = readFileSync(out, 'utf8').trimEnd().split('\n');
  rmSync(out, { force: true });
  expect(r.status, `${mapping}\n${mutex}`).to.equal(0);
  return { mapping, mutex, aces };
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

  /** Starts `squat-mutex`: the region's <name>-writer mutex, held, with that security descriptor. */
  async function squatMutex(key: { cluster: string; serverId: string }, sddl: string): Promise<ChildProcess> {
    const ready = join(tmpdir(), `commy-squat-mutex-${process.pid}-${key.cluster}.txt`);
    rmSync(ready, { force: true });
    const c = spawn(securityTool, ['squat-mutex', regionName(key), sddl, ready], { stdio: 'ignore' });
    children.push(c);
    await waitFor(() => existsSync(ready) || c.exitCode !== null, { what: 'the squatter to hold the mutex' });
    rmSync(ready, { force: true });
    expect(c.exitCode, 'squat-mutex exit status').to.equal(null);
    return c;
  }

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

  it('readers: a read-only ACE for that group on the mapping and the mutex, re-granted by a writer that takes over', function () {
    needWindows(this);
    const key = uniqueKey();
    const first = RegionWriter.create({ ...key, capacity: 2, readers: 'Users' });
    cleanups.push(() => first.close());
    const d = describeObjects(regionName(key));
    const self = /^O:(S-[0-9-]+)D:P/.exec(d.mapping)?.[1];
    expect(self, d.mapping).to.be.a('string');
    expect(d.mutex.startsWith(`O:${self}D:P`), d.mutex).to.equal(true);
    expect(d.aces.filter((a) => a.endsWith(` ${users.sid}`))).to.deep.equal([
      `mapping ${readersMapping} ${users.sid}`,
      `mutex ${readersMutex} ${users.sid}`,
    ]);
    expect(d.aces.filter((a) => a.endsWith(` ${self}`)).length).to.equal(2); // the owner's full access
    // A reader accepts the read-only ACE and sees the writer.
    const reader = RegionReader.open(key);
    cleanups.push(() => reader.close());
    expect(reader.info().writer.alive).to.equal(true);
    // A writer taking over accepts it too, and applies its own readers (none).
    first.close();
    const second = RegionWriter.create({ ...key, capacity: 2 });
    expect(second.tookOver).to.equal(true);
    const ownerOnly = /^O:(S-[0-9-]+)D:P\(A;;[A-Z]+;;;\1\)$/;
    const d2 = describeObjects(regionName(key));
    expect(d2.mapping).to.match(ownerOnly);
    expect(d2.mutex).to.match(ownerOnly);
    // And one with readers (a string SID this time) grants them on both objects.
    second.stop({ unlink: true });
    const third = RegionWriter.create({ ...key, capacity: 2, readers: users.sid });
    cleanups.push(() => third.close());
    expect(third.tookOver).to.equal(true);
    const d3 = describeObjects(regionName(key));
    expect(d3.aces.filter((a) => a.endsWith(` ${users.sid}`))).to.deep.equal([
      `mapping ${readersMapping} ${users.sid}`,
      `mutex ${readersMutex} ${users.sid}`,
    ]);
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
