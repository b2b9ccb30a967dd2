// A mapped region, writer or reader side: creation with takeover of a dead
// writer's region, validated opening, and the seqlocked reads and writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core.h"
#include "platform.h"

namespace commy {

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
    std::string readers;  // see os::Access
  };
  struct OpenOptions {
    std::string cluster, serverId;
    bool global = false;
    bool writable = false;  // lets a non-writer add to counters
    std::string owner;      // see os::Access
  };

  static std::unique_ptr<Region> create(const CreateOptions& o, Error& err, bool* tookOver = nullptr);
  static std::unique_ptr<Region> open(const OpenOptions& o, Error& err);
  // Opens an OS object by its name (as listed by os::listNames).
  static std::unique_ptr<Region> openByName(const std::string& name, bool writable, const std::string& owner,
                                            Error& err);
  // What removeIfDead found at a name.
  enum class Removal { kRemoved, kAlive, kGone };
  // Removes the name of a region of this account whose writer is dead: it
  // takes the writer lock first, so a live writer's region is never removed
  // and none can start on the object while its name goes.
  static bool removeIfDead(const std::string& name, Removal& result, Error& err);
  ~Region();

  // Writer only: removes the region's name while the lock is still held (so
  // no other writer can have taken it over), if the name still leads here.
  bool unlinkName(Error& err);
  void close();
  bool closed() const { return map_.base == nullptr; }
  bool isWriter() const { return map_.writerLock; }
  bool writable() const { return map_.writable; }
  const Layout& layout() const { return layout_; }
  const std::string& name() const { return map_.name; }

  WriterInfo writerInfo() const;
  bool replaced() const { return os::replaced(map_); }
  // The liveness probe itself, uncached: safe from any thread (the change
  // waiter's), unlike writerInfo's cache.
  bool writerAliveNow() const { return os::writerAlive(map_); }

  void writeHeaderData(const uint8_t* data);
  // data: slot::kDataSize bytes. `statusChange`: the write changes the slot's
  // peer or its status, so the status sequence moves and waiters are woken.
  void writeSlot(uint32_t index, const uint8_t* data, bool statusChange = false);

  // Change notification (os::waitChange): the header's status sequence, 0 in
  // a minor-0 region, and a blocking wait for it to move (never on the JS
  // thread). canWait() is false where the OS or the region cannot: poll.
  uint32_t statusSeq() const;
  bool canWait() const { return layout_.versionMinor >= 1 && os::canWait(map_); }
  os::WaitResult waitChange(uint32_t expected, uint32_t timeoutMs, const std::atomic<bool>& cancelled);
  void cancelWaits();
  // os::openChangeFd on this mapping: -1 where waits need a thread.
  int openChangeFd() const { return canWait() ? os::openChangeFd(map_) : -1; }
  // The one read path: copies a consistent image (image:: and record:: in
  // layout.h) into `out` and sets `count` to the records copied. `parts` is a
  // set of image::kPart* flags. `slot` < 0 copies every used slot, retrying
  // the set until no write landed during the copy (under constant writes it
  // settles for per-slot consistency rather than spin); `slot` >= 0 copies
  // that slot whatever its state. `known` (summary records only; 2 u32 per
  // slot: seq low, high; or null) names, per slot, a seq whose strings the
  // caller already holds: a slot still at that seq gets only its numbers
  // copied, and its record's seq then equals `known`. Every seqlocked copy
  // waits by one rule (readStable).
  bool read(uint8_t* out, size_t outBytes, uint32_t parts, int64_t slot, const uint32_t* known, uint32_t& count,
            Error& err) const;
  // Bytes `read` needs for these parts and `records` records.
  static size_t imageBytes(uint32_t parts, uint32_t records);
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
  // Seqlocked copy with the one bounded wait: a dead writer stays mid-write
  // forever, so give up at once (after seqlockRead's 20 ms); a live one was
  // only descheduled, so keep trying up to 1 s.
  bool readStable(const uint8_t* seq, const uint8_t* src, uint8_t* dst, size_t bytes, Error& err) const;
  bool copyRecord(uint32_t index, uint8_t* rec, size_t dataBytes, uint64_t known, Error& err) const;
  uint8_t* slotAt(uint32_t i) const { return map_.base + layout_.headerSize + uint64_t{i} * layout_.slotSize; }
  // The liveness probe (a system call) at most once per kAliveCacheMs per
  // mapping: a writer's death shows at most that late.
  bool writerAliveCached() const;
  static constexpr int kAliveCacheMs = 1;
  mutable os::Mapping map_;  // mutable: the liveness probe takes and drops a lock
  Layout layout_;
  mutable std::chrono::steady_clock::time_point probedAt_{};
  mutable bool alive_ = false;
};

}  // namespace commy
