// A mapped region, writer or reader side: creation with takeover of a dead
// writer's region, validated opening, and the seqlocked reads and writes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core.h"
#include "platform.h"

namespace commy {

// Compact records for hot readers (ClusterView.snapshot/getPeer/status): per
// slot, the seq its copy is consistent with, its index, its counters and only
// the leading fields of its data, so a reader neither copies nor decodes the
// metadata and last-error text it does not show.
namespace compact {
constexpr size_t kSeq = 0;             // u64: seq of the slot for this copy; odd (1) = not known
constexpr size_t kIndex = 8;           // u32 slot index
constexpr size_t kBytesSent = 16;      // u64
constexpr size_t kBytesReceived = 24;  // u64
constexpr size_t kData = 32;           // the first kDataBytes of the slot data (slot_data offsets)
constexpr size_t kDataBytes = slot_data::kAddress + slot_data::kAddressBytes;
constexpr size_t kRecordSize = 256;
// Leading bytes of the data that hold no strings: state, status, generation,
// missed count, connection state, last-seen time, attempts, RTT, next retry,
// status-changed time.
constexpr size_t kHeadBytes = slot_data::kStatusReason;
static_assert(kHeadBytes % 8 == 0, "head is copied in u64 words");
static_assert(kData + kDataBytes <= kRecordSize && kDataBytes % 8 == 0 && kRecordSize % 8 == 0,
              "compact record layout");
}  // namespace compact

struct WriterInfo {
  uint32_t pid = 0;
  uint32_t state = 0;
  uint64_t startMs = 0;
  uint64_t heartbeatMs = 0;
  uint64_t generation = 0;
  bool alive = false;
};

class Region {
 public:
  struct CreateOptions {
    std::string cluster, serverId;
    uint32_t capacity = 0;
    bool global = false;
  };
  struct OpenOptions {
    std::string cluster, serverId;
    bool global = false;
    bool writable = false;  // lets a non-writer add to counters
  };

  static std::unique_ptr<Region> create(const CreateOptions& o, Error& err, bool* tookOver = nullptr);
  static std::unique_ptr<Region> open(const OpenOptions& o, Error& err);
  // Opens an OS object by its name (as listed by os::listNames).
  static std::unique_ptr<Region> openByName(const std::string& name, bool writable, Error& err);
  ~Region();

  void close();
  bool closed() const { return map_.base == nullptr; }
  bool isWriter() const { return map_.writerLock; }
  bool writable() const { return map_.writable; }
  const Layout& layout() const { return layout_; }
  const std::string& name() const { return map_.name; }

  WriterInfo writerInfo();
  bool replaced() const { return os::replaced(map_); }

  bool readHeaderData(uint8_t* out, Error& err) const;
  void writeHeaderData(const uint8_t* data);
  bool readSlot(uint32_t index, uint8_t* record, Error& err) const;  // record: slot::kRecordSize bytes
  void writeSlot(uint32_t index, const uint8_t* data);               // data: slot::kDataSize bytes
  // Copies every used slot as consecutive records of slot::kRecordSize bytes
  // and sets `count`. Each record is consistent by its seqlock; the set as a
  // whole is retried a few times until no write landed during the copy.
  bool readUsedSlots(uint8_t* out, size_t outBytes, uint32_t& count, Error& err) const;
  // Compact records (see compact::) of every used slot (only < 0, with the
  // same whole-set retry as readUsedSlots), or of slot `only` whatever its state.
  // `known` (2 u32 per slot: seq low, high; or null) names, per slot, a seq
  // whose strings the caller already holds: a slot still at that seq gets
  // only its head bytes copied (its record's seq then equals known).
  bool readCompact(uint8_t* out, size_t outBytes, int64_t only, const uint32_t* known, uint32_t& count,
                   Error& err) const;
  // The first `bytes` (a multiple of 8, at most header::kDataSize) of the header data.
  bool readHeaderPrefix(uint8_t* out, size_t bytes, Error& err) const;
  // The slot array of the mapping, for an external view of a writable mapping
  // (byte counters); sizes are the validated layout's, never the shared bytes'.
  uint8_t* slotArea() const { return map_.base + layout_.headerSize; }
  size_t slotAreaBytes() const { return size_t{layout_.capacity} * layout_.slotSize; }
  // Zeroes a slot's counters (writer only, when the slot gets a new peer).
  void resetCounters(uint32_t index);
  uint64_t addCounter(uint32_t index, uint32_t which, uint64_t amount);
  void touch(uint64_t nowMs);
  void setState(RegionState s);
  uint64_t generation() const;

 private:
  Region() = default;
  bool readStable(const uint8_t* seq, const uint8_t* src, uint8_t* dst, size_t bytes, Error& err) const;
  uint8_t* slotAt(uint32_t i) const { return map_.base + layout_.headerSize + uint64_t{i} * layout_.slotSize; }
  mutable os::Mapping map_;  // mutable: the liveness probe takes and drops a lock
  Layout layout_;
};

}  // namespace commy
