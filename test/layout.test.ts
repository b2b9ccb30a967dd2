// One source per layout fact: every offset, size and constant JS uses comes
// from the addon (native/layout.h), and what JS defines beside it agrees
// with it. Adding a slot field touches layout.h, the codec and this test.
import { expect } from 'chai';
import { binding } from '../lib/binding.js';
import {
  RegionWriter,
  RegionReader,
  SlotState,
  emptyHeader,
  emptySlot,
  layout,
  maxIdLength,
  type SlotFields,
} from '../lib/region/index.js';
import { rejectReasonNames } from '../lib/status.js';
import { isErrorCode } from '../lib/errors.js';
import { uniqueKey } from '../harness/names.js';

/** [name, offset, bytes] of every field of an exported field table, by offset. */
function fields(table: Record<string, number>): [string, number, number][] {
  return Object.keys(table)
    .filter((k) => `${k}Bytes` in table)
    .map((k): [string, number, number] => [k, table[k], table[`${k}Bytes`]])
    .sort((a, b) => a[1] - b[1]);
}

describe('layout: one source per fact', () => {
  it('the field tables are ordered, aligned and inside their seqlocked data', () => {
    for (const [table, size, end] of [
      [layout.slot, layout.slotDataSize, layout.slot.end],
      [layout.header, layout.headerDataSize, layout.header.end],
    ] as const) {
      const f = fields(table as unknown as Record<string, number>);
      expect(f.length).to.be.greaterThan(5);
      for (let i = 0; i < f.length; i++) {
        const [name, offset, bytes] = f[i];
        expect(offset % Math.min(bytes, 8), `${name} is aligned`).to.equal(0);
        if (i > 0) expect(offset, `${name} starts after ${f[i - 1][0]}`).to.be.at.least(f[i - 1][1] + f[i - 1][2]);
      }
      const last = f[f.length - 1];
      expect(last[1] + last[2]).to.equal(end);
      expect(end).to.be.at.most(size);
    }
  });

  it('the image and record layouts fit what they copy', () => {
    const { image, record, slot } = layout;
    expect(slot.numbersEnd).to.equal(slot.statusReason); // numbers first, then strings
    expect(slot.summaryEnd).to.equal(slot.address + slot.addressBytes);
    expect(record.data + slot.summaryEnd).to.be.at.most(record.summarySize);
    expect(record.detailSize).to.equal(record.data + layout.slotDataSize);
    expect(image.records).to.be.at.least(image.headerData + layout.header.end);
    for (const k of ['writerPid', 'writerState', 'writerStartMs', 'heartbeatMs', 'generation', 'writerAlive', 'nowMs'])
      expect(image[k as keyof typeof image] % 8, `${k} is an f64 slot`).to.equal(0);
    expect(new Set([image.partWriter, image.partSlots, image.partDetail]).size).to.equal(3);
  });

  it('what JS defines beside the layout equals the native constants', () => {
    expect(rejectReasonNames).to.have.length(layout.header.rejectedReasons);
    expect(maxIdLength).to.equal(layout.nameBytes - 1);
    expect(layout.slot.serverIdBytes).to.equal(layout.nameBytes);
    expect(SlotState).to.deep.equal({ free: 0, used: 1 });
    expect(emptySlot().rttMicros).to.equal(layout.slot.rttUnknown);
    expect(emptyHeader().rejectedFrames).to.have.length(layout.header.rejectedReasons);
    // Every code the addon can throw has a row (meaning, exit code) in the one table.
    expect(binding.errorCodes.length).to.be.greaterThan(10);
    for (const code of binding.errorCodes) expect(isErrorCode(code), `${code} is in lib/errors.ts`).to.equal(true);
  });

  it('every slot and header field round-trips through the region, by the exported offsets', () => {
    const key = uniqueKey('lay');
    const w = RegionWriter.create({ ...key, capacity: 2 });
    const r = RegionReader.open(key);
    try {
      const slot: SlotFields = {
        state: SlotState.used,
        status: 2,
        generation: 2 ** 40 + 3,
        missedHeartbeats: 7,
        connectionState: 3,
        lastSeenMs: 1764150000123.5,
        attemptCount: 11,
        rttMicros: 4321,
        nextRetryMs: 1764150009999,
        statusChangedMs: 1764150000001,
        statusReason: 'missed-heartbeats',
        serverId: 'x'.repeat(maxIdLength),
        address: '[::1]:7102',
        lastError: 'ECONNREFUSED é',
        metadata: Buffer.from('{"zone":"b"}'),
        phiMeanMs: 1003.25,
        phiStdDevMs: 41.5,
        phiSamples: 99,
      };
      w.writeSlot(1, slot);
      w.addBytesSent(1, 123);
      w.addBytesReceived(1, 2 ** 33);
      const back = r.readSlot(1);
      expect(back).to.deep.equal({ ...slot, index: 1, bytesSent: 123, bytesReceived: 2 ** 33 });
      expect(r.usedSlots()).to.deep.equal([back]);
      const summary = r.summary();
      expect(summary.readAll(true)).to.equal(1);
      expect([summary.serverId(0), summary.address(0), summary.status(0), summary.statusReason(0)]).to.deep.equal([
        slot.serverId,
        slot.address,
        slot.status,
        slot.statusReason,
      ]);
      expect(() => summary.lastError(0)).to.throw(/detail images only/);
      const header = {
        ...emptyHeader(),
        listen: '0.0.0.0:7101',
        heartbeatIntervalMs: 250,
        heartbeatTimeoutMs: 300,
        suspectAfter: 2,
        downAfter: 5,
        eventLoopLagMs: 1.5,
        maxEventLoopLagMs: 12.25,
        rejectedFrames: rejectReasonNames.map((_, i) => i * 1000 + 1),
        discoveryProviders: 2,
        discoveryUp: 1,
        discoveryMembers: 12,
        discoveryRefreshMs: 1_764_150_000_123.5,
        discoveryError: 'etcd http://10.0.0.1:2379: UNAVAILABLE ü',
        detectorKind: 1,
        phiWindowSize: 100,
        phiThreshold: 8.5,
        phiDownThreshold: 42.5,
        phiMinStdDevMs: 62.5,
        phiAcceptablePauseMs: 250.25,
      };
      w.writeHeader(header);
      expect(r.header()).to.deep.equal(header);
      expect(r.info().writer).to.include({ pid: process.pid, alive: true, state: 'running' });
    } finally {
      r.close();
      w.stop({ unlink: true });
    }
  });
});
