// See region.h. Sizes come from the validated Layout copy, never from the
// shared bytes after open, so a hostile region cannot steer our pointers.
#include "region.h"

#include <chrono>
#include <cstring>

namespace commy {

namespace {

std::unique_ptr<Region> fail(Error& err, const char* c, std::string m) {
  err.set(c, std::move(m));
  return nullptr;
}

bool checkIds(const std::string& cluster, const std::string& serverId, Error& err) {
  if (!validId(cluster))
    return err.set(code::kInvalidArg, "cluster must be 1-63 characters of [A-Za-z0-9._-], got \"" + cluster + "\"");
  if (!validId(serverId))
    return err.set(code::kInvalidArg, "serverId must be 1-63 characters of [A-Za-z0-9._-], got \"" + serverId + "\"");
  return true;
}

}  // namespace

Region::~Region() { close(); }

void Region::close() {
  if (map_.base && map_.writerLock)
    storeU32(map_.base + header::kState, static_cast<uint32_t>(RegionState::kStopped), std::memory_order_release);
  os::close(map_);
}

std::unique_ptr<Region> Region::create(const CreateOptions& o, Error& err, bool* tookOver) {
  if (!checkIds(o.cluster, o.serverId, err)) return nullptr;
  if (o.capacity == 0 || o.capacity > kMaxCapacity)
    return fail(err, code::kInvalidArg, "capacity must be 1.." + std::to_string(kMaxCapacity));
  const std::string name = os::objectName(o.cluster, o.serverId, o.global);
  const size_t size = static_cast<size_t>(totalSizeFor(o.capacity));
  std::unique_ptr<Region> r(new Region());
  if (tookOver) *tookOver = false;
  os::Access access;
  access.readers = o.readers;
  // A retired object (a dead writer's, of another shape), held open and
  // locked until its replacement is published; closed on every way out.
  os::Mapping retired;
  struct CloseRetired {
    os::Mapping& m;
    ~CloseRetired() { os::close(m); }
  } closeRetired{retired};
  for (int attempt = 0; attempt < 3; attempt++) {
    if (os::createNew(name, size, access, r->map_, err)) {
      initializeRegion(r->map_.base, o.capacity, o.cluster, o.serverId, os::currentPid(), os::wallClockMs());
      Error e2;
      if (!validateRegion(r->map_.base, r->map_.size, r->layout_, e2)) return fail(err, e2.code, e2.message);
      // Complete and locked: only now does the name lead to it.
      if (os::publish(r->map_, retired.base != nullptr, err)) {
        if (!os::openNotifier(r->map_, true, access, err)) return nullptr;
        return r;
      }
      os::close(r->map_);
      if (err.code != code::kExists) return nullptr;
    } else if (err.code != code::kExists) {
      return nullptr;
    }
    // The name is taken: refuse if its writer lives, otherwise take it over.
    os::Mapping m;
    if (!os::openExisting(name, true, true, os::Access{}, m, err)) {
      if (err.code == code::kNotFound) continue;  // vanished meanwhile: create again
      return nullptr;
    }
    bool locked = os::lockWriter(m, err);
    if (locked && os::replaced(m)) {
      // The name was removed (a clean stop, prune) while we waited for the
      // lock: this object is nobody's region any more. Start again.
      os::close(m);
      continue;
    }
    if (!locked) {
      if (err.code != code::kWriterAlive) {
        os::close(m);
        return nullptr;
      }
      Layout l;
      Error ignored;
      std::string owner = "another process";
      if (validateRegion(m.base, m.size, l, ignored))
        owner = "pid " + std::to_string(loadU32(m.base + header::kWriterPid));
      os::close(m);
      return fail(err, code::kWriterAlive,
                  "region for cluster \"" + o.cluster + "\" server \"" + o.serverId + "\" already has a live writer (" +
                      owner + "); stop it first or pick another serverId");
    }
    Layout l;
    Error invalid;
    bool valid = validateRegion(m.base, m.size, l, invalid);
    if (valid && l.capacity == o.capacity && l.cluster == o.cluster && l.serverId == o.serverId &&
        l.headerSize == header::kSize && l.slotSize == slot::kSize) {
      // Same shape: reuse in place so readers that still map it follow along,
      // with this writer's access rules.
      if (!os::grant(m, access, err)) {
        os::close(m);
        return nullptr;
      }
      reinitializeRegion(m.base, l, os::currentPid(), os::wallClockMs());
      l.versionMinor = kVersionMinor;  // reinitializeRegion stored it
      r->map_ = m;
      r->layout_ = l;
      if (!os::openNotifier(r->map_, true, access, err)) return nullptr;
      if (tookOver) *tookOver = true;
      return r;
    }
    // Another shape (or garbage we own): retire the object so the next
    // attempt creates a fresh one; each OS says whether it can.
    if (!os::retire(m, valid ? "capacity " + std::to_string(l.capacity) : invalid.message, err)) return nullptr;
    os::close(retired);
    retired = m;  // still open where publish can replace it; else already closed
    if (tookOver) *tookOver = true;
  }
  return fail(err, code::kWriterAlive, "could not create region " + name + ": another writer keeps racing for it");
}

bool Region::unlinkName(Error& err) {
  if (!map_.writerLock) return err.set(code::kReadOnly, "only the region's writer may remove its name");
  if (os::replaced(map_)) return true;  // already gone, or another object's now
  return os::unlink(map_.name, err) || err.code == code::kNotFound;
}

bool Region::removeIfDead(const std::string& name, Removal& result, Error& err) {
  os::Mapping m;
  if (!os::openExisting(name, false, true, os::Access{}, m, err)) {
    if (err.code != code::kNotFound) return false;
    result = Removal::kGone;
    return true;
  }
  struct Closer {
    os::Mapping& m;
    ~Closer() { os::close(m); }
  } closer{m};
  if (!os::lockWriter(m, err)) {
    if (err.code != code::kWriterAlive) return false;
    result = Removal::kAlive;
    return true;
  }
  result = Removal::kGone;
  if (os::replaced(m)) return true;  // someone else removed or replaced it meanwhile
  if (!os::unlink(name, err)) {
    if (err.code != code::kNotFound) return false;
    return true;
  }
  result = Removal::kRemoved;
  return true;
}

std::unique_ptr<Region> Region::openByName(const std::string& name, bool writable, const std::string& owner,
                                           Error& err) {
  std::unique_ptr<Region> r(new Region());
  os::Access access;
  access.owner = owner;
  if (!os::openExisting(name, writable, false, access, r->map_, err)) return nullptr;
  if (!validateRegion(r->map_.base, r->map_.size, r->layout_, err)) return nullptr;  // ~Region unmaps
  if (!os::openNotifier(r->map_, false, access, err)) return nullptr;                // a squatter's: refused
  return r;
}

std::unique_ptr<Region> Region::open(const OpenOptions& o, Error& err) {
  if (!checkIds(o.cluster, o.serverId, err)) return nullptr;
  const std::string name = os::objectName(o.cluster, o.serverId, o.global);
  auto r = openByName(name, o.writable, o.owner, err);
  if (!r) return nullptr;
  if (r->layout_.cluster != o.cluster || r->layout_.serverId != o.serverId)
    return fail(err, code::kMismatch,
                "region " + name + " belongs to cluster \"" + r->layout_.cluster + "\" server \"" +
                    r->layout_.serverId + "\", not the one asked for");
  return r;
}

WriterInfo Region::writerInfo() const {
  WriterInfo w;
  const uint8_t* b = map_.base;
  w.pid = loadU32(b + header::kWriterPid);
  w.state = loadU32(b + header::kState, std::memory_order_acquire);
  w.startMs = loadU64(b + header::kWriterStartMs);
  w.heartbeatMs = loadU64(b + header::kHeartbeatMs);
  w.generation = loadU64(b + header::kGeneration, std::memory_order_acquire);
  w.alive = writerAliveCached();
  return w;
}

bool Region::writerAliveCached() const {
  if (map_.writerLock) return true;
  auto now = std::chrono::steady_clock::now();
  if (now - probedAt_ >= std::chrono::milliseconds(kAliveCacheMs)) {  // probedAt_ starts at the clock's epoch
    alive_ = os::writerAlive(map_);
    probedAt_ = now;
  }
  return alive_;
}

uint32_t Region::statusSeq() const {
  if (layout_.versionMinor < 1) return 0;
  return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(map_.base + header::kStatusSeq))
      .load(std::memory_order_acquire);
}

os::WaitResult Region::waitChange(uint32_t expected, uint32_t timeoutMs, const std::atomic<bool>& cancelled) {
  if (!canWait()) return os::WaitResult::kUnsupported;
  return os::waitChange(map_, map_.base + header::kStatusSeq, expected, timeoutMs, cancelled);
}

void Region::cancelWaits() {
  if (map_.base) os::cancelWaits(map_, map_.base + header::kStatusSeq);
}

bool Region::readStable(const uint8_t* seq, const uint8_t* src, uint8_t* dst, size_t bytes, Error& err) const {
  // The common case reads no clock: this runs once per record of every read.
  if (seqlockRead(seq, src, dst, bytes, err)) return true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (;;) {
    if (!os::writerAlive(map_))
      return err.set(code::kContended,
                     "a record of region " + map_.name +
                         " was left mid-write by a writer that is no longer alive; its next writer rewrites it");
    if (std::chrono::steady_clock::now() > deadline)
      return err.set(code::kContended, "a record of region " + map_.name +
                                           " stayed mid-write for 1 s while its writer is alive (it stalls); retry");
    if (seqlockRead(seq, src, dst, bytes, err)) return true;
  }
}

void Region::writeHeaderData(const uint8_t* data) {
  seqlockWrite(map_.base + header::kSeq, map_.base + header::kData, data, header::kDataSize);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(map_.base + header::kGeneration))
      .fetch_add(1, std::memory_order_release);
}

void Region::resetCounters(uint32_t index) {
  uint8_t* s = slotAt(index);
  storeU64(s + slot::kBytesSent, 0);
  storeU64(s + slot::kBytesReceived, 0);
}

void Region::writeSlot(uint32_t index, const uint8_t* data, bool statusChange) {
  uint8_t* s = slotAt(index);
  seqlockWrite(s + slot::kSeq, s + slot::kData, data, slot::kDataSize);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(map_.base + header::kGeneration))
      .fetch_add(1, std::memory_order_release);
  if (statusChange) {
    // seq_cst: a reader that saw the old value and then sleeps on it is woken
    // by this call (the kernel compares the word again before sleeping).
    std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(map_.base + header::kStatusSeq))
        .fetch_add(1, std::memory_order_seq_cst);
    os::notify(map_, map_.base + header::kStatusSeq);
  }
}

// One record. Its seq is kept only when it did not move across the copy, so
// that (index, seq) always names exactly the bytes copied: seq is monotonic
// (one writer), and `before` == `after` pins the seqlock's s0. When the
// caller already holds the strings of the slot's current seq (`known`), only
// the numbers are copied, and only if the seq stays put; otherwise (or if it
// moved meanwhile) everything is copied, and a full copy that moved is still
// consistent by its seqlock but has no seq to name it: 1.
bool Region::copyRecord(uint32_t index, uint8_t* rec, size_t dataBytes, uint64_t known, Error& err) const {
  const uint8_t* s = slotAt(index);
  uint64_t seq = 1;
  for (size_t bytes : {slot_data::kNumbersEnd, dataBytes}) {
    uint64_t before = loadU64(s + slot::kSeq, std::memory_order_acquire);
    if (bytes == slot_data::kNumbersEnd && (before != known || (before & 1) != 0)) continue;
    if (!readStable(s + slot::kSeq, s + slot::kData, rec + record::kData, bytes, err)) return false;
    std::atomic_thread_fence(std::memory_order_acquire);
    uint64_t after = loadU64(s + slot::kSeq);
    if (before == after && (before & 1) == 0) {
      seq = before;
      break;
    }
  }
  uint64_t sent = counterLoad(s + slot::kBytesSent), received = counterLoad(s + slot::kBytesReceived);
  uint64_t idx = index;
  std::memcpy(rec + record::kSeq, &seq, 8);
  std::memcpy(rec + record::kIndex, &idx, 8);
  std::memcpy(rec + record::kBytesSent, &sent, 8);
  std::memcpy(rec + record::kBytesReceived, &received, 8);
  return true;
}

size_t Region::imageBytes(uint32_t parts, uint32_t records) {
  const size_t stride = (parts & image::kPartDetail) ? record::kDetailSize : record::kSummarySize;
  return image::kRecords + size_t{records} * stride;
}

bool Region::read(uint8_t* out, size_t outBytes, uint32_t parts, int64_t only, const uint32_t* known, uint32_t& count,
                  Error& err) const {
  count = 0;
  if (outBytes < image::kRecords) return err.set(code::kInvalidArg, "image buffer too small for its header part");
  if (parts & image::kPartWriter) {
    WriterInfo w = writerInfo();
    const double line[image::kWriterBytes / 8] = {static_cast<double>(w.pid),
                                                  static_cast<double>(w.state),
                                                  static_cast<double>(w.startMs),
                                                  static_cast<double>(w.heartbeatMs),
                                                  static_cast<double>(w.generation),
                                                  w.alive ? 1.0 : 0.0,
                                                  static_cast<double>(os::wallClockMs()),
                                                  0.0};
    std::memcpy(out, line, sizeof(line));
    if (!readStable(map_.base + header::kSeq, map_.base + header::kData, out + image::kHeaderData,
                    image::kHeaderDataCopied, err))
      return false;
  }
  if (!(parts & (image::kPartSlots | image::kPartDetail))) return true;
  const bool detail = (parts & image::kPartDetail) != 0;
  const size_t stride = detail ? record::kDetailSize : record::kSummarySize;
  const size_t dataBytes = detail ? slot::kDataSize : slot_data::kSummaryEnd;
  auto knownSeq = [&](uint32_t i) -> uint64_t {
    if (!known || detail) return 1;
    return (uint64_t{known[2 * size_t{i} + 1]} << 32) | known[2 * size_t{i}];
  };
  uint8_t* records = out + image::kRecords;
  const size_t room = (outBytes - image::kRecords) / stride;
  if (only >= 0) {
    if (only >= int64_t{layout_.capacity}) return err.set(code::kInvalidArg, "slot index out of range");
    if (room < 1) return err.set(code::kInvalidArg, "image buffer too small for one record");
    uint32_t i = static_cast<uint32_t>(only);
    if (!copyRecord(i, records, dataBytes, knownSeq(i), err)) return false;
    count = 1;
    return true;
  }
  const uint8_t* genAddr = map_.base + header::kGeneration;
  for (int attempt = 0; attempt < 4; attempt++) {
    uint64_t g0 = loadU64(genAddr, std::memory_order_acquire);
    count = 0;
    for (uint32_t i = 0; i < layout_.capacity; i++) {
      if (loadU32(slotAt(i) + slot::kData + slot_data::kState) != static_cast<uint32_t>(SlotState::kUsed)) continue;
      if (count >= room) return err.set(code::kInvalidArg, "image buffer too small for the used slots");
      uint8_t* rec = records + size_t{count} * stride;
      if (!copyRecord(i, rec, dataBytes, knownSeq(i), err)) return false;
      if (loadU32(rec + record::kData + slot_data::kState) != static_cast<uint32_t>(SlotState::kUsed))
        continue;  // freed meanwhile
      count++;
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (loadU64(genAddr) == g0) break;
  }
  return true;
}

uint64_t Region::addCounter(uint32_t index, uint32_t which, uint64_t amount) {
  return counterAdd(slotAt(index) + slot::kCounters + 8 * which, amount);
}

void Region::touch(uint64_t nowMs) { storeU64(map_.base + header::kHeartbeatMs, nowMs, std::memory_order_release); }

void Region::setState(RegionState s) {
  storeU32(map_.base + header::kState, static_cast<uint32_t>(s), std::memory_order_release);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(map_.base + header::kGeneration))
      .fetch_add(1, std::memory_order_release);
  // A writer starting (a takeover too) or stopping changes what watchers of
  // its liveness see, with no write to any descriptor: tell them to look.
  os::announce(map_);
}

uint64_t Region::generation() const { return loadU64(map_.base + header::kGeneration, std::memory_order_acquire); }

}  // namespace commy
