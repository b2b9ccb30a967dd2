// Harness (see harness/README.md): raw region images built from the layout
// the addon exports, for tests that put foreign or corrupt bytes under a name.
import { layout } from '../lib/region/index.js';

/** The bytes of a valid, empty region of (cluster, serverId): header fixed fields only, every slot free. */
export function validImage(cluster: string, serverId: string, capacity = 2): Buffer {
  const f = layout.fixed;
  const total = layout.headerSize + capacity * layout.slotSize;
  const b = Buffer.alloc(total);
  b.writeBigUInt64LE(f.magicValue, f.magic);
  b.writeUInt32LE(f.byteOrderMark, f.byteOrder);
  b.writeUInt16LE(layout.versionMajor, f.versionMajor);
  b.writeUInt16LE(layout.versionMinor, f.versionMinor);
  b.writeUInt32LE(layout.headerSize, f.headerSize);
  b.writeUInt32LE(layout.slotSize, f.slotSize);
  b.writeUInt32LE(capacity, f.capacity);
  b.writeBigUInt64LE(BigInt(total), f.totalSize);
  b.write(cluster, f.cluster);
  b.write(serverId, f.serverId);
  return b;
}
