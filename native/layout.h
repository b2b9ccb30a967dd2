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
constexpr uint16_t kVersionMinor = 0;  // readers accept any minor

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
// Header seqlock and the data it guards.
constexpr size_t kSeq = 256;   // u64, own cache line
constexpr size_t kData = 320;  // seqlocked bytes, meaning owned by header_data::
constexpr size_t kDataSize = 512;
constexpr size_t kSize = 1024;  // minimum headerSize a v1 reader accepts
}  // namespace header

// Meaning of the seqlocked header data (node-level facts).
namespace header_data {
constexpr size_t kListen = 0;  // char[64]
constexpr size_t kListenBytes = 64;
constexpr size_t kHeartbeatIntervalMs = 64;  // u32
constexpr size_t kHeartbeatTimeoutMs = 68;   // u32
constexpr size_t kSuspectAfter = 72;         // u32
constexpr size_t kDownAfter = 76;            // u32
constexpr size_t kEventLoopLagMs = 80;       // f64, last measured tick lag
constexpr size_t kMaxEventLoopLagMs = 88;    // f64
constexpr size_t kRejectedFrames = 96;       // u64[8], by reason index
constexpr size_t kRejectedReasons = 8;
}  // namespace header_data

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
// A copied slot record, as returned to JS: data followed by the counters.
constexpr size_t kRecordSize = kDataSize + kCounterCount * 8;
}  // namespace slot

// Meaning of the seqlocked slot data. Offsets are relative to slot::kData.
namespace slot_data {
constexpr size_t kState = 0;              // u32: 0 free, 1 used
constexpr size_t kStatus = 4;             // u32: PeerStatus index
constexpr size_t kGeneration = 8;         // u64: bumped each time the slot is reused
constexpr size_t kMissedHeartbeats = 16;  // u32
constexpr size_t kConnectionState = 20;   // u32
constexpr size_t kLastSeenMs = 24;        // f64, wall clock, 0 = never
constexpr size_t kAttemptCount = 32;      // u32
constexpr size_t kRttMicros = 36;         // u32, 0xFFFFFFFF = unknown
constexpr size_t kNextRetryMs = 40;       // f64, wall clock, 0 = none
constexpr size_t kStatusChangedMs = 48;   // f64
constexpr size_t kStatusReason = 56;      // char[32]
constexpr size_t kStatusReasonBytes = 32;
constexpr size_t kServerId = 88;  // char[64]
constexpr size_t kAddress = 152;  // char[64]
constexpr size_t kAddressBytes = 64;
constexpr size_t kLastError = 216;  // char[96]
constexpr size_t kLastErrorBytes = 96;
constexpr size_t kMetadataLength = 312;  // u32
constexpr size_t kMetadata = 320;        // u8[512]
constexpr size_t kMetadataBytes = 512;
constexpr size_t kEnd = 832;
}  // namespace slot_data

enum class SlotState : uint32_t { kFree = 0, kUsed = 1 };

static_assert(header::kData + header::kDataSize <= header::kSize, "header data overflows header");
static_assert(header_data::kRejectedFrames + 8 * header_data::kRejectedReasons <= header::kDataSize,
              "header data fields overflow");
static_assert(slot::kData + slot::kDataSize <= slot::kCounters, "slot data overlaps counters");
static_assert(slot::kCounters % kCacheLine == 0, "counters must start a cache line");
static_assert(slot::kCounters + kCacheLine == slot::kSize, "counters line ends the slot");
static_assert(slot_data::kEnd <= slot::kDataSize, "slot fields overflow slot data");
static_assert(slot::kDataSize % 8 == 0 && header::kDataSize % 8 == 0, "seqlocked data is copied in u64 words");
static_assert(slot::kSize % kCacheLine == 0 && header::kSize % kCacheLine == 0, "cache-line padding");

}  // namespace commy
