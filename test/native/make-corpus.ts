// Regenerates the seed corpus of the region fuzzer (test/native/corpus/) from
// real regions written by a PeerRegistry, plus a few damaged variants. Linux
// only (it copies /dev/shm). Run: npx tsc -p . && node dist/test/native/make-corpus.js
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { regionName, layout } from '../../lib/region/index.js';
import { PeerRegistry } from '../../lib/registry/registry.js';
import { parseConfig } from '../../lib/registry/config.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'native', 'corpus');
mkdirSync(out, { recursive: true });
const write = (name: string, bytes: Buffer) => {
  writeFileSync(join(out, name), bytes);
  console.log(`${name}: ${bytes.length} bytes`);
};

function image(capacity: number, peers: number, fill: (r: PeerRegistry) => void = () => undefined): Buffer {
  const key = { cluster: 'corpus', serverId: `seed${process.pid}c${capacity}p${peers}` };
  const r = new PeerRegistry(
    parseConfig({
      ...key,
      listen: '127.0.0.1:7101',
      capacity,
      peers: Array.from({ length: peers }, (_, i) => `p${i}@127.0.0.1:${7200 + i}`),
    }),
  );
  r.initialize();
  fill(r);
  const bytes = readFileSync(`/dev/shm${regionName(key)}`);
  r.close({ unlink: true });
  return bytes;
}

write('empty.bin', Buffer.alloc(0));
write('valid-cap1-no-peers.bin', image(1, 0));
const busy = image(4, 3, (r) => {
  r.markHeartbeatReceived('p0');
  r.markHeartbeatMissed('p1');
  r.markHeartbeatMissed('p1');
  r.markDown('p2', 'left');
  r.setPeerMetadata('p0', { zone: 'eu-1', role: 'api' });
  r.addBytesSent('p0', 123);
  r.addBytesReceived('p0', 456);
  r.updateConnection('p1', { state: 'backoff', attemptCount: 3, lastError: 'ECONNREFUSED' });
  r.removePeer('p2'); // a freed slot with a raised generation
});
write('valid-cap4-three-peers.bin', busy);
write('header-only.bin', busy.subarray(0, layout.headerSize));
write('truncated-in-a-slot.bin', busy.subarray(0, busy.length - 700));
const swapped = Buffer.from(busy);
swapped.subarray(0, 8).reverse();
write('byte-swapped-magic.bin', swapped);
const v2 = Buffer.from(busy);
v2.writeUInt16LE(2, layout.fixed.versionMajor);
write('version-2.bin', v2);
const odd = Buffer.from(busy);
// Slot 0's seqlock (slot::kSeq = 0 in native/layout.h) stuck odd: a writer died mid-write.
odd.writeBigUInt64LE(odd.readBigUInt64LE(layout.headerSize) | 1n, layout.headerSize);
write('slot-seq-odd.bin', odd);
