// The region's binary layout, as the addon exports it from native/layout.h:
// the one source of every offset, size and constant. Nothing in JS repeats
// a number from that file.
import { binding } from '../binding.js';

export const layout = binding.layout;

// Copies with fast properties: the addon's objects are in V8's slow
// (dictionary) mode, and every encode and decode reads these.
/** Slot data fields: offset as `name`, size as `nameBytes` (native/layout.h COMMY_SLOT_DATA_FIELDS). */
export const S = { ...layout.slot };
/** Header data fields (native/layout.h COMMY_HEADER_DATA_FIELDS). */
export const H = { ...layout.header };
/** The read image: part flags and the writer line's offsets. */
export const I = { ...layout.image };
/** One slot record in an image. */
export const R = { ...layout.record };

/** Slot states as stored in a slot's `state` field. */
export const SlotState = { free: layout.slot.stateFree, used: layout.slot.stateUsed } as const;

/** The `rttMicros` value that means "no round trip measured yet". */
export const RTT_UNKNOWN = layout.slot.rttUnknown;

/** Longest cluster or server id: a NUL-padded name field less its NUL. */
export const maxIdLength = layout.nameBytes - 1;
