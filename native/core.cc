// See core.h. All shared-memory access goes through std::atomic_ref so that a
// concurrent writer in another process is never a data race for the compiler.
#include "core.h"

#include <chrono>
#include <cstring>
#include <thread>

#if defined(_MSC_VER)
#include <intrin.h>
#endif

namespace commy {

namespace {

template <typename T>
std::atomic_ref<T> at(const uint8_t* addr) {
  // Shared memory is only ever touched atomically; const_cast is for loads.
  return std::atomic_ref<T>(*reinterpret_cast<T*>(const_cast<uint8_t*>(addr)));
}

inline void cpuRelax() {
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_pause();
#elif defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

uint64_t byteSwap64(uint64_t v) {
  uint64_t r = 0;
  for (int i = 0; i < 8; i++) r = (r << 8) | ((v >> (8 * i)) & 0xFF);
  return r;
}

}  // namespace

uint64_t loadU64(const uint8_t* addr, std::memory_order order) { return at<uint64_t>(addr).load(order); }
uint32_t loadU32(const uint8_t* addr, std::memory_order order) { return at<uint32_t>(addr).load(order); }
void storeU64(uint8_t* addr, uint64_t v, std::memory_order order) { at<uint64_t>(addr).store(v, order); }
void storeU32(uint8_t* addr, uint32_t v, std::memory_order order) { at<uint32_t>(addr).store(v, order); }

bool validId(const std::string& s) {
  if (s.empty() || s.size() >= kNameBytes) return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

uint64_t totalSizeFor(uint32_t capacity) { return header::kSize + uint64_t{capacity} * slot::kSize; }

std::string readName(const uint8_t* field, size_t bytes) {
  char buf[kNameBytes * 2];
  size_t n = bytes < sizeof(buf) ? bytes : sizeof(buf);
  // Word-wise atomic copy: the field may change under us.
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w = loadU64(field + i);
    std::memcpy(buf + i, &w, 8);
  }
  size_t len = 0;
  while (len < n && buf[len] != '\0') len++;
  return std::string(buf, len);
}

bool validateRegion(const uint8_t* base, size_t mappedSize, Layout& out, Error& err) {
  if (mappedSize == 0) return err.set(code::kNotReady, "region has size 0: its writer is still creating it");
  if (mappedSize < header::kSize)
    return err.set(code::kBadLayout, "region is truncated: " + std::to_string(mappedSize) +
                                         " bytes, smaller than the " + std::to_string(header::kSize) + "-byte header");
  uint64_t magic = loadU64(base + header::kMagic, std::memory_order_acquire);
  if (magic == 0) return err.set(code::kNotReady, "region header is not published yet: its writer is starting");
  uint32_t bom = loadU32(base + header::kByteOrder);
  if (magic != kMagic) {
    if (byteSwap64(magic) == kMagic)
      return err.set(code::kBadByteOrder, "region was written by a host of the other byte order");
    return err.set(code::kBadMagic, "not a commy region (bad magic number)");
  }
  if (bom != kByteOrderMark) return err.set(code::kBadByteOrder, "region byte-order mark is wrong");
  uint32_t versions = loadU32(base + header::kVersionMajor);
  uint16_t major = static_cast<uint16_t>(versions & 0xFFFF);
  uint16_t minor = static_cast<uint16_t>(versions >> 16);
  if (major != kVersionMajor)
    return err.set(code::kBadVersion, "region layout version " + std::to_string(major) + "." + std::to_string(minor) +
                                          " is not supported (this build reads " + std::to_string(kVersionMajor) +
                                          ".x); upgrade commy");
  uint32_t headerSize = loadU32(base + header::kHeaderSize);
  uint32_t slotSize = loadU32(base + header::kSlotSize);
  uint32_t capacity = loadU32(base + header::kCapacity);
  uint64_t totalSize = loadU64(base + header::kTotalSize);
  if (headerSize < header::kSize || headerSize % kCacheLine != 0 || headerSize > (1u << 20))
    return err.set(code::kBadLayout, "region header size " + std::to_string(headerSize) + " is invalid");
  if (slotSize < slot::kSize || slotSize % kCacheLine != 0 || slotSize > (1u << 20))
    return err.set(code::kBadLayout, "region slot size " + std::to_string(slotSize) + " is invalid");
  if (capacity == 0 || capacity > kMaxCapacity)
    return err.set(code::kBadLayout, "region capacity " + std::to_string(capacity) + " is out of range");
  uint64_t expected = uint64_t{headerSize} + uint64_t{capacity} * slotSize;  // no overflow: bounded above
  if (totalSize != expected)
    return err.set(code::kBadLayout, "region declares " + std::to_string(totalSize) +
                                         " bytes but its sizes add up to " + std::to_string(expected));
  if (totalSize > mappedSize)
    return err.set(code::kBadLayout, "region declares " + std::to_string(totalSize) + " bytes but only " +
                                         std::to_string(mappedSize) + " are mapped (truncated)");
  std::string cluster = readName(base + header::kCluster, kNameBytes);
  std::string serverId = readName(base + header::kServerId, kNameBytes);
  if (!validId(cluster) || !validId(serverId))
    return err.set(code::kBadLayout, "region header holds an invalid cluster or server id");
  out.headerSize = headerSize;
  out.slotSize = slotSize;
  out.capacity = capacity;
  out.totalSize = totalSize;
  out.versionMinor = minor;
  out.cluster = std::move(cluster);
  out.serverId = std::move(serverId);
  return true;
}

namespace {
void writeName(uint8_t* field, const std::string& s) {
  uint8_t buf[kNameBytes] = {0};
  std::memcpy(buf, s.data(), s.size() < kNameBytes - 1 ? s.size() : kNameBytes - 1);
  for (size_t i = 0; i < kNameBytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, buf + i, 8);
    storeU64(field + i, w);
  }
}

void freeAllSlots(uint8_t* base, uint32_t headerSize, uint32_t slotSize, uint32_t capacity) {
  static const uint8_t zeros[slot::kDataSize] = {0};
  for (uint32_t i = 0; i < capacity; i++) {
    uint8_t* s = base + headerSize + uint64_t{i} * slotSize;
    // Keep the slot generation rising so readers notice the reuse.
    uint64_t gen = loadU64(s + slot::kData + slot_data::kGeneration);
    uint8_t fresh[slot::kDataSize];
    std::memcpy(fresh, zeros, sizeof(fresh));
    uint64_t next = gen + 1;
    std::memcpy(fresh + slot_data::kGeneration, &next, 8);
    seqlockWrite(s + slot::kSeq, s + slot::kData, fresh, slot::kDataSize);
    storeU64(s + slot::kBytesSent, 0);
    storeU64(s + slot::kBytesReceived, 0);
  }
}
}  // namespace

void initializeRegion(uint8_t* base, uint32_t capacity, const std::string& cluster, const std::string& serverId,
                      uint32_t pid, uint64_t nowMs) {
  storeU64(base + header::kMagic, 0);
  storeU32(base + header::kByteOrder, kByteOrderMark);
  storeU32(base + header::kVersionMajor, uint32_t{kVersionMajor} | (uint32_t{kVersionMinor} << 16));
  storeU32(base + header::kHeaderSize, header::kSize);
  storeU32(base + header::kSlotSize, slot::kSize);
  storeU32(base + header::kCapacity, capacity);
  storeU64(base + header::kTotalSize, totalSizeFor(capacity));
  writeName(base + header::kCluster, cluster);
  writeName(base + header::kServerId, serverId);
  storeU32(base + header::kWriterPid, pid);
  storeU32(base + header::kState, static_cast<uint32_t>(RegionState::kRunning));
  storeU64(base + header::kWriterStartMs, nowMs);
  storeU64(base + header::kHeartbeatMs, nowMs);
  storeU64(base + header::kGeneration, 1);
  // A fresh OS object is zero-filled, so the slots are already free with seq 0.
  // Publish last: a reader that sees the magic sees everything above.
  storeU64(base + header::kMagic, kMagic, std::memory_order_release);
}

void reinitializeRegion(uint8_t* base, const Layout& layout, uint32_t pid, uint64_t nowMs) {
  // Readers already mapped keep validated sizes, which stay the same here.
  storeU32(base + header::kState, static_cast<uint32_t>(RegionState::kInitializing));
  freeAllSlots(base, layout.headerSize, layout.slotSize, layout.capacity);
  uint8_t zeros[header::kDataSize] = {0};
  seqlockWrite(base + header::kSeq, base + header::kData, zeros, header::kDataSize);
  storeU32(base + header::kWriterPid, pid);
  storeU64(base + header::kWriterStartMs, nowMs);
  storeU64(base + header::kHeartbeatMs, nowMs);
  // This writer keeps header::kStatusSeq (minor 1); readers mapped already
  // keep the minor they validated and poll if it was 0.
  storeU32(base + header::kVersionMajor, uint32_t{kVersionMajor} | (uint32_t{kVersionMinor} << 16));
  at<uint64_t>(base + header::kGeneration).fetch_add(1, std::memory_order_release);
  storeU32(base + header::kState, static_cast<uint32_t>(RegionState::kRunning), std::memory_order_release);
}

void seqlockWrite(uint8_t* seqAddr, uint8_t* dst, const uint8_t* src, size_t bytes) {
  // Only the single writer (it holds the OS lock) ever stores seq. A seq
  // already odd was left so by a writer that died mid-write (we are taking
  // its region over): it stays odd until the data is rewritten, so no reader
  // can accept the half-written bytes in between.
  uint64_t seq = loadU64(seqAddr);
  if ((seq & 1) == 0) storeU64(seqAddr, ++seq);
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 0; i < bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    storeU64(dst + i, w);
  }
  storeU64(seqAddr, seq + 1, std::memory_order_release);
}

bool seqlockRead(const uint8_t* seqAddr, const uint8_t* src, uint8_t* dst, size_t bytes, Error& err) {
  constexpr int kSpins = 256;
  // The clock is read only once spinning has failed: a read that finds the
  // seq even and unmoved (nearly every one) costs no clock call, which on a
  // VM is tens of ns, and this runs for every record of every read.
  std::chrono::steady_clock::time_point deadline{};
  for (int attempt = 0;; attempt++) {
    uint64_t s0 = loadU64(seqAddr, std::memory_order_acquire);
    if ((s0 & 1) == 0) {
      for (size_t i = 0; i < bytes; i += 8) {
        uint64_t w = loadU64(src + i);
        std::memcpy(dst + i, &w, 8);
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (loadU64(seqAddr) == s0) return true;
    }
    if (attempt < kSpins) {
      cpuRelax();
    } else {
      // The writer may be descheduled mid-write; give it the CPU, but never
      // wait forever: a writer that died mid-write leaves seq odd for good.
      const auto now = std::chrono::steady_clock::now();
      if (attempt == kSpins) deadline = now + std::chrono::milliseconds(20);
      if (now > deadline)
        return err.set(code::kContended,
                       "record stayed mid-write for 20 ms; its writer may have died while writing. Retry, or "
                       "check the writer's liveness");
      std::this_thread::yield();
    }
  }
}

uint64_t counterAdd(uint8_t* addr, uint64_t amount) {
  auto c = at<uint64_t>(addr);
  uint64_t cur = c.load(std::memory_order_relaxed);
  for (;;) {
    uint64_t next = cur + amount;
    if (next < cur) next = UINT64_MAX;  // saturate instead of wrapping
    if (c.compare_exchange_weak(cur, next, std::memory_order_relaxed)) return next;
  }
}

uint64_t counterLoad(const uint8_t* addr) { return at<uint64_t>(addr).load(std::memory_order_relaxed); }

uint64_t keyHash(const std::string& cluster, const std::string& serverId) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    h ^= 0xFF;  // separator byte, never valid in an id: ("ab","c") != ("a","bc")
    h *= 0x100000001b3ULL;
  };
  mix(cluster);
  mix(serverId);
  return h;
}

}  // namespace commy
