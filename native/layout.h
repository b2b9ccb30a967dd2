// Binary layout of a commy region: the one place where offsets and sizes are
// defined. The addon exports these to TypeScript so no other file repeats them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace commy {

// "COMMYSHM" read as a little-endian u64. A big-endian writer stores the same
// value, so the bytes differ and the byte-order mark below tells readers why.
constexpr uint64_t kMagic = 0x4D4853594D4D4F43ULL;
constexpr uint32_t kByteOrderMark = 0x01020304u;
constexpr uint16_t kVersionMajor = 1;  // readers reject any other major
constexpr uint16_t kVersionMinor = 1;  // readers accept any minor; 1 added header::kStatusSeq

constexpr size_t kCacheLine = 64;
constexpr size_t kNameBytes = 64;  // cluster / serverId, NUL-padded, max 63 chars
constexpr uint32_t kMaxCapacity = 4096;

// ---- header -------------------------------------------------------------
namespace header {
// Immutable after publication (written before magic is released).
constexpr size_t kMagic = 0;          // u64
constexpr size_t kByteOrder = 8;      // u32
constexpr size_t kVersionMajor = 12;  // u16
constexpr size_t kVersionMinor = 14;  // u16
constexpr size_t kHeaderSize = 16;    // u32
constexpr size_t kSlotSize = 20;      // u32
constexpr size_t kCapacity = 24;      // u32
constexpr size_t kReserved0 = 28;     // u32
constexpr size_t kTotalSize = 32;     // u64
constexpr size_t kCluster = 64;       // char[64]
constexpr size_t kServerId = 128;     // char[64]
// Writer line: standalone atomics, each written alone.
constexpr size_t kWriterPid = 192;      // u32
constexpr size_t kState = 196;          // u32 (RegionState)
constexpr size_t kWriterStartMs = 200;  // u64, wall clock
constexpr size_t kHeartbeatMs = 208;    // u64, wall clock
constexpr size_t kGeneration = 216;     // u64, bumped after every slot/header write
// u32, bumped after every status or membership transition (since minor 1):
// the word change notification blocks on (os::waitChange). 0 = never moved.
constexpr size_t kStatusSeq = 224;
// Header seqlock and the data it guards.
constexpr size_t kSeq = 256;   // u64, own cache line
constexpr size_t kData = 320;  // seqlocked bytes, meaning owned by header_data::
constexpr size_t kDataSize = 512;
constexpr size_t kSize = 1024;  // minimum headerSize a v1 reader accepts
}  // namespace header

// Field tables: X(Constant, jsName, offset, bytes). Each table is the one
// definition of its fields: the constants below, the addon's export to JS
// (layout.header / layout.slot) and the ordering checks are generated from it,
// so adding a field is one line here plus its codec in lib/region/.
//
// Seqlocked header data (node-level facts); offsets relative to header::kData.
#define COMMY_HEADER_DATA_FIELDS(X)                                                            \
  X(Listen, listen, 0, 64)                              /* char[64], NUL-padded */             \
  X(HeartbeatIntervalMs, heartbeatIntervalMs, 64, 4)    /* u32 */                              \
  X(HeartbeatTimeoutMs, heartbeatTimeoutMs, 68, 4)      /* u32 */                              \
  X(SuspectAfter, suspectAfter, 72, 4)                  /* u32 */                              \
  X(DownAfter, downAfter, 76, 4)                        /* u32 */                              \
  X(EventLoopLagMs, eventLoopLagMs, 80, 8)              /* f64, last measured tick lag */      \
  X(MaxEventLoopLagMs, maxEventLoopLagMs, 88, 8)        /* f64 */                              \
  X(RejectedFrames, rejectedFrames, 96, 64)             /* u64[kRejectedReasons], by reason */ \
  X(DiscoveryProviders, discoveryProviders, 160, 4)     /* u32, 0 = seeds only */              \
  X(DiscoveryUp, discoveryUp, 164, 4)                   /* u32, 1 = every provider answers */  \
  X(DiscoveryMembers, discoveryMembers, 168, 4)         /* u32, members the providers list */  \
  X(DiscoveryRefreshMs, discoveryRefreshMs, 176, 8)     /* f64 wall clock, 0 = never */        \
  X(DiscoveryError, discoveryError, 184, 96)            /* char[96], why a provider is down */ \
  X(Advertise, advertise, 280, 64)                      /* char[64], the address peers dial */ \
  X(DetectorKind, detectorKind, 344, 4)                 /* u32, 0 = fixed, 1 = phi */          \
  X(PhiWindowSize, phiWindowSize, 348, 4)               /* u32, samples per peer */            \
  X(PhiThreshold, phiThreshold, 352, 8)                 /* f64, Suspected at this phi */       \
  X(PhiDownThreshold, phiDownThreshold, 360, 8)         /* f64, Down at this phi */            \
  X(PhiMinStdDevMs, phiMinStdDevMs, 368, 8)             /* f64, floor of the deviation */      \
  X(PhiAcceptablePauseMs, phiAcceptablePauseMs, 376, 8) /* f64, added to the mean */

// Seqlocked slot data (one peer); offsets relative to slot::kData. The order
// is the read path's split: numbers first (copied on every read), then the
// strings a snapshot shows, then detail only inspect() decodes.
#define COMMY_SLOT_DATA_FIELDS(X)                                                             \
  X(State, state, 0, 4)                        /* u32 SlotState */                            \
  X(Status, status, 4, 4)                      /* u32 PeerStatus index (lib/status.ts) */     \
  X(Generation, generation, 8, 8)              /* u64, bumped each time the slot is reused */ \
  X(MissedHeartbeats, missedHeartbeats, 16, 4) /* u32 */                                      \
  X(ConnectionState, connectionState, 20, 4)   /* u32 ConnectionState index */                \
  X(LastSeenMs, lastSeenMs, 24, 8)             /* f64 wall clock, 0 = never */                \
  X(AttemptCount, attemptCount, 32, 4)         /* u32 */                                      \
  X(RttMicros, rttMicros, 36, 4)               /* u32, kRttUnknown = unknown */               \
  X(NextRetryMs, nextRetryMs, 40, 8)           /* f64 wall clock, 0 = none */                 \
  X(StatusChangedMs, statusChangedMs, 48, 8)   /* f64 wall clock */                           \
  X(StatusReason, statusReason, 56, 32)        /* char[32] */                                 \
  X(ServerId, serverId, 88, 64)                /* char[64] */                                 \
  X(Address, address, 152, 64)                 /* char[64] */                                 \
  X(LastError, lastError, 216, 96)             /* char[96] */                                 \
  X(MetadataLength, metadataLength, 312, 4)    /* u32 */                                      \
  X(Metadata, metadata, 320, 512)              /* u8[512], JSON (lib/region/metadata.ts) */   \
  X(PhiMeanMs, phiMeanMs, 832, 8)              /* f64, mean inter-arrival (phi detector) */   \
  X(PhiStdDevMs, phiStdDevMs, 840, 8)          /* f64, its standard deviation */              \
  X(PhiSamples, phiSamples, 848, 4)            /* u32, real samples in the window */

#define COMMY_FIELD_CONSTANTS(C, js, offset, bytes) \
  constexpr size_t k##C = offset;                   \
  constexpr size_t k##C##Bytes = bytes;

namespace header_data {
COMMY_HEADER_DATA_FIELDS(COMMY_FIELD_CONSTANTS)
constexpr size_t kRejectedReasons = kRejectedFramesBytes / 8;
constexpr size_t kEnd = kPhiAcceptablePauseMs + kPhiAcceptablePauseMsBytes;
}  // namespace header_data

namespace slot_data {
COMMY_SLOT_DATA_FIELDS(COMMY_FIELD_CONSTANTS)
constexpr size_t kNumbersEnd = kStatusReason;             // fixed-size fields, no strings
constexpr size_t kSummaryEnd = kAddress + kAddressBytes;  // what a snapshot shows
constexpr size_t kEnd = kPhiSamples + kPhiSamplesBytes;
constexpr uint32_t kRttUnknown = 0xFFFFFFFFu;
}  // namespace slot_data

#undef COMMY_FIELD_CONSTANTS

enum class RegionState : uint32_t { kInitializing = 0, kRunning = 1, kStopped = 2 };

// ---- slots ----------------------------------------------------------------
namespace slot {
constexpr size_t kSeq = 0;    // u64, own cache line
constexpr size_t kData = 64;  // seqlocked bytes
constexpr size_t kDataSize = 896;
constexpr size_t kCounters = 960;  // own cache line; atomic u64 adds, no seqlock
constexpr size_t kBytesSent = kCounters + 0;
constexpr size_t kBytesReceived = kCounters + 8;
constexpr size_t kCounterCount = 2;
constexpr size_t kSize = 1024;  // minimum slotSize a v1 reader accepts
}  // namespace slot

enum class SlotState : uint32_t { kFree = 0, kUsed = 1 };

constexpr size_t roundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// ---- the read image ---------------------------------------------------------
// What Region::read copies out: one consistent image that every reader in JS
// (snapshot, getPeer, status, inspect, the registry's read-back) decodes with
// one decoder. The writer line and the header data come first, then one
// record per slot.
namespace image {
// Parts to copy (flags).
constexpr uint32_t kPartWriter = 1;  // writer line + header data
constexpr uint32_t kPartSlots = 2;   // summary records: numbers and the strings a snapshot shows
constexpr uint32_t kPartDetail = 4;  // detail records: the whole slot data
// Writer line: f64 values, so JS reads them through one Float64Array.
constexpr size_t kWriterPid = 0;
constexpr size_t kWriterState = 8;
constexpr size_t kWriterStartMs = 16;
constexpr size_t kHeartbeatMs = 24;
constexpr size_t kGeneration = 32;
constexpr size_t kWriterAlive = 40;  // 1 while a live process holds the writer lock
constexpr size_t kNowMs = 48;        // the reader's wall clock at the read
constexpr size_t kWriterBytes = 64;
constexpr size_t kHeaderData = kWriterBytes;  // header data, header_data::kEnd bytes copied
constexpr size_t kHeaderDataCopied = roundUp(header_data::kEnd, 8);
constexpr size_t kRecords = kHeaderData + roundUp(header_data::kEnd, kCacheLine);
}  // namespace image

// One slot in an image.
namespace record {
constexpr size_t kSeq = 0;             // u64: slot seq this copy is consistent with; odd (1) = none
constexpr size_t kIndex = 8;           // u32 slot index
constexpr size_t kBytesSent = 16;      // u64, lock-free counter
constexpr size_t kBytesReceived = 24;  // u64
constexpr size_t kData = 32;           // slot data from its offset 0
constexpr size_t kSummarySize = roundUp(kData + slot_data::kSummaryEnd, kCacheLine);
constexpr size_t kDetailSize = kData + slot::kDataSize;
}  // namespace record

// Checks the field tables: every field is naturally aligned and follows the
// previous one without overlap.
namespace layout_check {
struct Span {
  size_t offset, bytes;
};
#define COMMY_FIELD_SPAN(C, js, offset, bytes) Span{offset, bytes},
inline constexpr Span kHeaderSpans[] = {COMMY_HEADER_DATA_FIELDS(COMMY_FIELD_SPAN)};
inline constexpr Span kSlotSpans[] = {COMMY_SLOT_DATA_FIELDS(COMMY_FIELD_SPAN)};
#undef COMMY_FIELD_SPAN
template <size_t N>
constexpr bool ordered(const Span (&f)[N]) {
  for (size_t i = 0; i < N; i++) {
    const size_t align = f[i].bytes >= 8 ? 8 : f[i].bytes;
    if (f[i].bytes == 0 || f[i].offset % align != 0) return false;
    if (i > 0 && f[i].offset < f[i - 1].offset + f[i - 1].bytes) return false;
  }
  return true;
}
static_assert(ordered(kHeaderSpans), "header data fields overlap or are misaligned");
static_assert(ordered(kSlotSpans), "slot data fields overlap or are misaligned");
}  // namespace layout_check

static_assert(header::kData + header::kDataSize <= header::kSize, "header data overflows header");
static_assert(header_data::kEnd <= header::kDataSize, "header data fields overflow");
static_assert(slot::kData + slot::kDataSize <= slot::kCounters, "slot data overlaps counters");
static_assert(slot::kCounters % kCacheLine == 0, "counters must start a cache line");
static_assert(slot::kCounters + kCacheLine == slot::kSize, "counters line ends the slot");
static_assert(slot_data::kEnd <= slot::kDataSize, "slot fields overflow slot data");
static_assert(slot::kDataSize % 8 == 0 && header::kDataSize % 8 == 0, "seqlocked data is copied in u64 words");
static_assert(slot::kSize % kCacheLine == 0 && header::kSize % kCacheLine == 0, "cache-line padding");
static_assert(slot_data::kServerIdBytes == kNameBytes, "a peer id is a name");
static_assert(slot_data::kNumbersEnd % 8 == 0 && slot_data::kSummaryEnd % 8 == 0,
              "image parts are copied in u64 words");
static_assert(record::kSummarySize % 8 == 0 && record::kDetailSize % 8 == 0, "records keep u64 alignment");

}  // namespace commy
