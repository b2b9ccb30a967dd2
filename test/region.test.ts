// The native region through lib/region/: lifecycle, cross-process reads,
// counters, torn-read stress, validation of corrupt regions, liveness,
// takeover and permissions. Processes are real children.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, statSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binding } from '../lib/binding.js';
import {
  RegionReader,
  RegionWriter,
  SlotState,
  emptySlot,
  emptyHeader,
  layout,
  regionName,
} from '../lib/region/index.js';
import { CommyError } from '../lib/errors.js';
import { fixturesDir, forkFixture, isRoot } from '../harness/fixtures.js';
import { uniqueKey } from '../harness/names.js';
import { thrown } from '../harness/errors.js';
import { validImage } from '../harness/images.js';
import { waitFor } from '../harness/wait.js';
import { testAddon, type RawMapping } from './test-addon.js';

/** The code of what `fn` threw; every native error must be a CommyError with a stable code. */
function codeOf(fn: () => unknown): string | undefined {
  const e = thrown(fn);
  if (e) expect(e.commy, e.message).to.equal(true);
  return e?.code;
}

const writers: RegionWriter[] = [];
function createWriter(key: { cluster: string; serverId: string }, capacity = 4): RegionWriter {
  const w = RegionWriter.create({ ...key, capacity });
  writers.push(w);
  return w;
}
afterEach(() => {
  for (const w of writers.splice(0)) w.stop({ unlink: true });
});

describe('region lifecycle', () => {
  it('creates, opens and closes a region, and close() is idempotent', () => {
    const key = uniqueKey();
    const w = createWriter(key, 8);
    expect(w.capacity).to.equal(8);
    expect(w.tookOver).to.equal(false);
    const r = RegionReader.open(key);
    const info = r.info();
    expect(info.cluster).to.equal(key.cluster);
    expect(info.serverId).to.equal(key.serverId);
    expect(info.writer.pid).to.equal(process.pid);
    expect(info.writer.alive).to.equal(true);
    expect(info.writer.state).to.equal('running');
    r.close();
    r.close();
    expect(codeOf(() => r.info())).to.equal('ERR_REGION_CLOSED');
    expect(codeOf(() => r.usedSlots())).to.equal('ERR_REGION_CLOSED');
  });

  it('gives ERR_REGION_NOT_FOUND with a helpful message for a missing region', () => {
    const key = uniqueKey();
    try {
      RegionReader.open(key);
      expect.fail('open should have thrown');
    } catch (err) {
      expect((err as CommyError).code).to.equal('ERR_REGION_NOT_FOUND');
      expect((err as Error).message).to.match(/no such region/);
    }
  });

  it('rejects invalid ids and capacities with ERR_INVALID_ARG naming the field', () => {
    for (const bad of ['', 'a b', 'x'.repeat(64), 'ü']) {
      try {
        RegionWriter.create({ cluster: bad, serverId: 'a', capacity: 1 });
        expect.fail('should throw');
      } catch (err) {
        expect((err as CommyError).code).to.equal('ERR_INVALID_ARG');
        expect((err as Error).message).to.match(/cluster/);
      }
    }
    expect(codeOf(() => RegionWriter.create({ ...uniqueKey(), capacity: 0 }))).to.equal('ERR_INVALID_ARG');
    expect(codeOf(() => RegionWriter.create({ ...uniqueKey(), capacity: layout.maxCapacity + 1 }))).to.equal(
      'ERR_INVALID_ARG',
    );
  });

  it('round-trips every slot and header field', () => {
    const key = uniqueKey();
    const w = createWriter(key);
    const slot = {
      ...emptySlot(),
      state: SlotState.used,
      status: 2,
      generation: 41,
      missedHeartbeats: 5,
      connectionState: 3,
      lastSeenMs: 1764150000123,
      attemptCount: 9,
      rttMicros: 1234,
      nextRetryMs: 1764150001000,
      statusChangedMs: 1764150000500,
      statusReason: 'missed-heartbeats',
      serverId: 'peer-b',
      address: '[::1]:7102',
      lastError: 'ECONNREFUSED',
      metadata: Buffer.from('{"zone":"eu"}'),
    };
    w.writeSlot(2, slot);
    w.addBytesSent(2, 123);
    w.addBytesReceived(2, 456);
    const header = { ...emptyHeader(), listen: '127.0.0.1:7101', heartbeatIntervalMs: 1000, suspectAfter: 2 };
    header.rejectedFrames[3] = 7;
    w.writeHeader(header);
    const r = RegionReader.open(key);
    expect(r.readSlot(2)).to.deep.equal({ ...slot, index: 2, bytesSent: 123, bytesReceived: 456 });
    expect(r.header()).to.deep.equal(header);
    const used = r.usedSlots();
    expect(used).to.have.length(1);
    expect(used[0].serverId).to.equal('peer-b');
    r.close();
  });

  it('truncates long strings on a character boundary and refuses oversized metadata', () => {
    const key = uniqueKey();
    const w = createWriter(key);
    w.writeSlot(0, { ...emptySlot(), state: SlotState.used, lastError: 'é'.repeat(200) });
    const got = w.readSlot(0).lastError;
    expect(got).to.equal('é'.repeat((layout.slot.lastErrorBytes - 1) >> 1));
    const big = { ...emptySlot(), metadata: Buffer.alloc(layout.slot.metadataBytes + 1) };
    expect(codeOf(() => w.writeSlot(0, big))).to.equal('ERR_INVALID_ARG');
  });

  it('lets only the writer write, and only writable handles add to counters', () => {
    const key = uniqueKey();
    createWriter(key);
    const r = RegionReader.open(key);
    const raw = binding.open(key); // the native handle under a reader
    expect(codeOf(() => raw.writeSlot(0, Buffer.alloc(layout.slotDataSize)))).to.equal('ERR_REGION_READ_ONLY');
    expect(codeOf(() => raw.touch())).to.equal('ERR_REGION_READ_ONLY');
    raw.close();
    expect(codeOf(() => r.addBytesSent(0, 1))).to.equal('ERR_REGION_READ_ONLY');
    expect(codeOf(() => r.readSlot(99))).to.equal('ERR_INVALID_ARG');
    r.close();
  });

  it('rejects negative, fractional and unsafe counter amounts', () => {
    const w = createWriter(uniqueKey());
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2, NaN]) {
      expect(
        codeOf(() => w.addBytesSent(0, bad)),
        String(bad),
      ).to.equal('ERR_INVALID_ARG');
    }
  });
});

describe('cross-process reads', () => {
  it('a reader in a child process sees each of the writer updates', async () => {
    const key = uniqueKey();
    const w = createWriter(key);
    w.writeSlot(0, { ...emptySlot(), state: SlotState.used, attemptCount: 0, address: 'a:0' });
    const child = forkFixture('region-child.js', ['watch-slot0', key.cluster, key.serverId, '5']);
    await child.next((m: { ready?: boolean }) => m.ready === true);
    for (let v = 1; v <= 5; v++) {
      w.writeSlot(0, { ...emptySlot(), state: SlotState.used, attemptCount: v, address: `a:${v}` });
      const seen = await child.next((m: { seen?: number }) => m.seen === v, 10_000, `child to see ${v}`);
      expect(seen).to.deep.equal({ seen: v, address: `a:${v}` });
    }
    expect((await child.exited).code).to.equal(0);
  });

  it('4 processes each adding 1,000,000 to the same counters give exact totals', async function () {
    this.timeout(120_000);
    const key = uniqueKey();
    const w = createWriter(key);
    w.writeSlot(0, { ...emptySlot(), state: SlotState.used });
    const kids = [0, 1, 2, 3].map(() =>
      forkFixture('region-child.js', ['add-counters', key.cluster, key.serverId, '1000000']),
    );
    await Promise.all(kids.map((k) => k.next((m: { ready?: boolean }) => m.ready === true)));
    for (const k of kids) k.send('go');
    await Promise.all(kids.map((k) => k.next((m: { done?: boolean }) => m.done === true, 100_000)));
    const s = w.readSlot(0);
    expect(s.bytesSent).to.equal(4_000_000);
    expect(s.bytesReceived).to.equal(4_000_000);
  });

  it('2 readers take 1,000,000 snapshots between them with 0 torn while a writer rewrites', async function () {
    this.timeout(180_000);
    const key = uniqueKey();
    const writer = forkFixture('region-child.js', ['torn-writer', key.cluster, key.serverId]);
    await writer.next((m: { ready?: boolean }) => m.ready === true);
    const readers = [0, 1].map(() =>
      forkFixture('region-child.js', ['torn-reader', key.cluster, key.serverId, '500000']),
    );
    const results = await Promise.all(
      readers.map((r) =>
        r.next(
          (m: { done?: boolean; torn?: number; snapshots?: number; slots?: number; failed?: number }) =>
            m.done === true,
          170_000,
        ),
      ),
    ).catch((err) => {
      // A reader that crashed must not leave the writer running.
      writer.kill();
      for (const r of readers) r.kill();
      throw err;
    });
    writer.send('stop');
    const w = await writer.next((m: { done?: boolean; writes?: number }) => m.done === true);
    const snapshots = results.reduce((a, r) => a + (r.snapshots ?? 0), 0);
    const slots = results.reduce((a, r) => a + (r.slots ?? 0), 0);
    const torn = results.reduce((a, r) => a + (r.torn ?? 0), 0);
    const failed = results.reduce((a, r) => a + (r.failed ?? 0), 0);
    console.log(
      `      ${snapshots} snapshots (${slots} slots) against ${w.writes} writes: ${torn} torn, ${failed} failed`,
    );
    expect(snapshots).to.be.at.least(1_000_000);
    expect(slots).to.be.at.least(1_000_000);
    expect(torn).to.equal(0);
    expect(failed).to.equal(0);
  });
});

describe('validation of corrupt or foreign regions', () => {
  const raws: RawMapping[] = [];
  afterEach(() => {
    for (const r of raws.splice(0)) r.close();
  });
  function openImage(bytes: Buffer, key = uniqueKey()): string | undefined {
    raws.push(testAddon().createRawRegion(regionName(key), bytes));
    let code: string | undefined;
    try {
      RegionReader.open(key).close();
    } catch (err) {
      code = (err as CommyError).code;
      expect((err as Error).message.length).to.be.greaterThan(10);
    }
    return code;
  }

  it('accepts the reference image (control for the cases below)', () => {
    const key = uniqueKey();
    expect(openImage(validImage(key.cluster, key.serverId), key)).to.equal(undefined);
  });

  it('bad magic gives ERR_REGION_BAD_MAGIC', () => {
    const key = uniqueKey();
    const img = validImage(key.cluster, key.serverId);
    img.write('NOTCOMMY', 0);
    expect(openImage(img, key)).to.equal('ERR_REGION_BAD_MAGIC');
  });

  it('a byte-swapped header gives ERR_REGION_BAD_BYTE_ORDER', () => {
    const key = uniqueKey();
    const img = validImage(key.cluster, key.serverId);
    img.writeBigUInt64BE(layout.fixed.magicValue, 0);
    expect(openImage(img, key)).to.equal('ERR_REGION_BAD_BYTE_ORDER');
  });

  it('an unknown major version gives ERR_REGION_BAD_VERSION, a newer minor is accepted', () => {
    const key = uniqueKey();
    const img = validImage(key.cluster, key.serverId);
    img.writeUInt16LE(layout.versionMajor + 1, layout.fixed.versionMajor);
    expect(openImage(img, key)).to.equal('ERR_REGION_BAD_VERSION');
    const key2 = uniqueKey();
    const newer = validImage(key2.cluster, key2.serverId);
    newer.writeUInt16LE(layout.versionMinor + 7, layout.fixed.versionMinor);
    expect(openImage(newer, key2)).to.equal(undefined);
  });

  it('declared sizes larger than the mapping give ERR_REGION_BAD_LAYOUT', () => {
    const key = uniqueKey();
    const img = validImage(key.cluster, key.serverId, 2);
    img.writeUInt32LE(64, layout.fixed.capacity);
    img.writeBigUInt64LE(BigInt(layout.headerSize + 64 * layout.slotSize), layout.fixed.totalSize);
    expect(openImage(img, key)).to.equal('ERR_REGION_BAD_LAYOUT');
  });

  it('inconsistent sizes and capacities give ERR_REGION_BAD_LAYOUT', () => {
    const cases: [number, number][] = [
      [layout.fixed.capacity, 0],
      [layout.fixed.capacity, layout.maxCapacity + 1],
      [layout.fixed.slotSize, layout.slotSize + 1],
      [layout.fixed.headerSize, 16],
      [layout.fixed.totalSize, 12345],
    ];
    for (const [offset, value] of cases) {
      const key = uniqueKey();
      const img = validImage(key.cluster, key.serverId);
      if (offset === layout.fixed.totalSize) img.writeBigUInt64LE(BigInt(value), offset);
      else img.writeUInt32LE(value, offset);
      expect(openImage(img, key), `offset ${offset} = ${value}`).to.equal('ERR_REGION_BAD_LAYOUT');
    }
  });

  it('a truncated region gives ERR_REGION_BAD_LAYOUT', () => {
    const key = uniqueKey();
    const img = validImage(key.cluster, key.serverId).subarray(0, 100);
    expect(openImage(Buffer.from(img), key)).to.equal('ERR_REGION_BAD_LAYOUT');
  });

  it('a region holding another key gives ERR_REGION_MISMATCH', () => {
    const key = uniqueKey();
    expect(openImage(validImage('other', 'node'), key)).to.equal('ERR_REGION_MISMATCH');
  });

  it('random bytes of random sizes are rejected with a stable code, never a crash', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const codes = new Set<string | undefined>();
    for (let i = 0; i < 60; i++) {
      const size = 1 + (rand() % 8192);
      const bytes = Buffer.alloc(size);
      for (let j = 0; j < size; j++) bytes[j] = rand() & 0xff;
      // Half the cases keep a valid magic so validation goes past the first check.
      if (i % 2 === 0 && size >= 16) {
        bytes.writeBigUInt64LE(layout.fixed.magicValue, 0);
        bytes.writeUInt32LE(layout.fixed.byteOrderMark, 8);
        bytes.writeUInt16LE(1, 12);
      }
      codes.add(openImage(bytes));
    }
    expect([...codes].every((c) => typeof c === 'string' && c.startsWith('ERR_REGION_'))).to.equal(true);
  });
});

describe('writer liveness, exclusivity and takeover', () => {
  it('refuses a second writer in the same process, naming the owner pid', () => {
    const key = uniqueKey();
    createWriter(key);
    try {
      RegionWriter.create({ ...key, capacity: 4 });
      expect.fail('second writer should be refused');
    } catch (err) {
      expect((err as CommyError).code).to.equal('ERR_REGION_WRITER_ALIVE');
      expect((err as Error).message).to.contain(`pid ${process.pid}`);
    }
  });

  it('refuses a second writer in another process; after kill -9 readers see alive:false within 1 s and a new writer takes over', async () => {
    const key = uniqueKey();
    const holder = forkFixture('region-child.js', ['hold-writer', key.cluster, key.serverId]);
    const { pid } = await holder.next((m: { ready?: boolean; pid?: number }) => m.ready === true);
    const r = RegionReader.open(key);
    expect(r.info().writer).to.include({ alive: true, pid });
    const second = forkFixture('region-child.js', ['try-create', key.cluster, key.serverId]);
    const refused = await second.next((m: { created?: boolean; code?: string; message?: string }) => 'created' in m);
    expect(refused.created).to.equal(false);
    expect(refused.code).to.equal('ERR_REGION_WRITER_ALIVE');
    expect(refused.message).to.contain(`pid ${pid}`);

    holder.kill('SIGKILL');
    const killedAt = Date.now();
    await holder.exited;
    await waitFor(() => !r.info().writer.alive, { timeoutMs: 1000, what: 'reader to see the writer dead' });
    expect(Date.now() - killedAt).to.be.lessThan(1000);
    expect(r.info().writer.state).to.equal('running'); // it died without a clean stop

    const w = createWriter(key, 4);
    expect(w.tookOver).to.equal(true);
    expect(w.usedSlots()).to.have.length(0);
    // liveness is probed at most once a millisecond per mapping: the dead reading above may stand that long
    await waitFor(() => r.info().writer.alive, { timeoutMs: 1000, what: 'reader to see the new writer' });
    expect(r.info().writer).to.include({ alive: true, pid: process.pid });
    r.close();
  });

  it('a clean stop publishes "stopped" and readers see the writer gone', () => {
    const key = uniqueKey();
    const w = RegionWriter.create({ ...key, capacity: 2 });
    const r = RegionReader.open(key);
    w.stop();
    const info = r.info();
    expect(info.writer.state).to.equal('stopped');
    expect(info.writer.alive).to.equal(false);
    r.close();
    createWriter(key, 2); // takes it over and unlinks it in afterEach
  });

  it('reports the writer heartbeat age', async () => {
    const key = uniqueKey();
    const w = createWriter(key);
    const r = RegionReader.open(key);
    await waitFor(() => r.info().writer.heartbeatAgeMs >= 20, { what: 'heartbeat to age' });
    w.touch();
    expect(r.info().writer.heartbeatAgeMs).to.be.lessThan(20);
    r.close();
  });

  it('replaces a dead writer region of another capacity; old readers notice via replaced()', async () => {
    const key = uniqueKey();
    const holder = forkFixture('region-child.js', ['hold-writer', key.cluster, key.serverId]);
    await holder.next((m: { ready?: boolean }) => m.ready === true);
    const r = RegionReader.open(key);
    holder.kill('SIGKILL');
    await holder.exited;
    if (binding.platform === 'win32') {
      // Windows cannot unlink a name: while r holds the old mapping the name
      // means that object, so another shape is refused until the last handle closes.
      expect(codeOf(() => RegionWriter.create({ ...key, capacity: 16 }))).to.equal('ERR_REGION_BAD_LAYOUT');
      expect(r.replaced()).to.equal(false);
      r.close();
      const fresh = createWriter(key, 16);
      expect(fresh.tookOver).to.equal(false); // the old mapping vanished with its last handle
      expect(fresh.capacity).to.equal(16);
      return;
    }
    const w = createWriter(key, 16);
    expect(w.tookOver).to.equal(true);
    expect(w.capacity).to.equal(16);
    expect(r.replaced()).to.equal(true);
    r.close();
  });
});

describe('permissions', () => {
  const posix = binding.platform === 'posix' && process.platform === 'linux';
  // Node can neither read nor set a DACL: on Windows a helper does it
  // (test/fixtures/win32-security.cc, built by scripts/test-windows.sh).
  const securityTool = join(fixturesDir, 'win32-security.exe');
  function needSecurityTool(ctx: Mocha.Context): void {
    if (existsSync(securityTool)) return;
    console.log('      skipped: dist/test/fixtures/win32-security.exe missing (scripts/test-windows.sh builds it)');
    ctx.skip();
  }

  it('creates the region with mode 0600 even under umask 000', function () {
    if (binding.platform === 'win32') {
      needSecurityTool(this);
      const key = uniqueKey();
      createWriter(key);
      const out = join(tmpdir(), `commy-dacl-${process.pid}.txt`);
      const r = spawnSync(securityTool, ['describe', regionName(key), out], { stdio: 'ignore' });
      const [mapping, mutex] = readFileSync(out, 'utf8').split('\n');
      rmSync(out, { force: true });
      expect(r.status, `${mapping}\n${mutex}`).to.equal(0);
      // Owned by the user, one ACE (full access) for that user, protected from inheritance.
      const ownerOnly = /^O:(S-[0-9-]+)D:P\(A;;[A-Z]+;;;\1\)$/;
      expect(mapping).to.match(ownerOnly);
      expect(mutex).to.match(ownerOnly);
      return;
    }
    if (!posix) {
      console.log('      skipped: checks /dev/shm modes, Linux only (Windows uses a DACL; see docs/REGION.md)');
      this.skip();
    }
    const key = uniqueKey();
    const old = process.umask(0);
    try {
      createWriter(key);
    } finally {
      process.umask(old);
    }
    const st = statSync(`/dev/shm${regionName(key)}`);
    expect(st.mode & 0o777).to.equal(0o600);
  });

  it('refuses to take over a squatting object with a permissive mode', async function () {
    if (binding.platform === 'win32') {
      needSecurityTool(this);
      const key = uniqueKey();
      const image = join(tmpdir(), `commy-squat-${process.pid}.bin`);
      writeFileSync(image, validImage(key.cluster, key.serverId));
      const squatter = spawn(securityTool, ['squat', regionName(key), image], { stdio: 'ignore' }); // Everyone: GA
      try {
        const what = 'the squatter to create the mapping';
        await waitFor(() => codeOf(() => RegionReader.open(key).close()) !== 'ERR_REGION_NOT_FOUND', { what });
        expect(codeOf(() => RegionWriter.create({ ...key, capacity: 2 }))).to.equal('ERR_REGION_UNTRUSTED');
        expect(codeOf(() => RegionReader.open(key))).to.equal('ERR_REGION_UNTRUSTED');
      } finally {
        squatter.kill();
        rmSync(image, { force: true });
      }
      return;
    }
    if (!posix) {
      console.log('      skipped: squatting a name needs /dev/shm, Linux only');
      this.skip();
    }
    const key = uniqueKey();
    const path = `/dev/shm${regionName(key)}`;
    writeFileSync(path, validImage(key.cluster, key.serverId));
    chmodSync(path, 0o666); // writeFileSync's mode is filtered by the umask
    try {
      const code = codeOf(() => RegionWriter.create({ ...key, capacity: 2 }));
      expect(code).to.equal('ERR_REGION_UNTRUSTED');
      expect(codeOf(() => RegionReader.open(key))).to.equal('ERR_REGION_UNTRUSTED');
    } finally {
      if (existsSync(path)) rmSync(path);
    }
  });

  it('a process running as another uid cannot open the region', async function () {
    if (binding.platform === 'win32') {
      console.log('      skipped: needs a second Windows account (Wine has one user); see docs/WINDOWS.md');
      this.skip();
    }
    if (!posix || !isRoot()) {
      console.log(`      skipped: needs root on Linux to start a child as uid 65534 (uid ${process.getuid?.()})`);
      this.skip();
    }
    const key = uniqueKey();
    createWriter(key);
    const child = forkFixture('region-child.js', ['try-open', key.cluster, key.serverId], { uid: 65534, gid: 65534 });
    const got = await child.next((m: { opened?: boolean; code?: string }) => 'opened' in m);
    expect(got.opened).to.equal(false);
    expect(got.code).to.equal('ERR_REGION_ACCESS_DENIED');
  });
});
