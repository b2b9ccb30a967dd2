// The typed region layer: one file per job (layout constants from the addon,
// the field codec, the one image decoder, the counters' fast path, handle
// lifetimes, names). Other layers import from here.
export { layout, SlotState, RTT_UNKNOWN, maxIdLength } from './layout.js';
export {
  emptySlot,
  emptyHeader,
  encodeSlot,
  encodeHeader,
  type SlotFields,
  type SlotRecord,
  type HeaderFields,
} from './codec.js';
export { RegionImage } from './image.js';
export { Counter } from './counters.js';
export {
  RegionWriter,
  RegionReader,
  writerLiveness,
  type ReaderOptions,
  type RegionInfo,
  type WriterLiveness,
} from './handle.js';
export type { WaitOutcome } from '../native.js';
export { regionName, listRegionNames, unlinkRegion, removeDeadRegion, type RegionKey } from './names.js';
