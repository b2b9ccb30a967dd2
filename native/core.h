// OS-independent heart of the region: validation of untrusted bytes, the
// seqlocks (per Boehm, "Can seqlocks get along with programming language
// memory models?"), and the cross-process counters. No OS calls, no Node-API.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "layout.h"

namespace commy {

static_assert(std::atomic_ref<uint64_t>::is_always_lock_free, "u64 atomics must be lock-free across processes");
static_assert(std::atomic_ref<uint32_t>::is_always_lock_free, "u32 atomics must be lock-free across processes");

// Stable error codes shared by every OS; JS sees them as err.code of a
// CommyError (lib/errors.ts lists each with its meaning and CLI exit code,
// and a test checks that the two lists agree). Inline arrays, so each code
// has one address program-wide and comparing codes by pointer
// (err.code == code::kExists) works across translation units.
#define COMMY_ERROR_CODES(X)                    \
  X(kInvalidArg, "ERR_INVALID_ARG")             \
  X(kNotFound, "ERR_REGION_NOT_FOUND")          \
  X(kNotReady, "ERR_REGION_NOT_READY")          \
  X(kBadMagic, "ERR_REGION_BAD_MAGIC")          \
  X(kBadByteOrder, "ERR_REGION_BAD_BYTE_ORDER") \
  X(kBadVersion, "ERR_REGION_BAD_VERSION")      \
  X(kBadLayout, "ERR_REGION_BAD_LAYOUT")        \
  X(kMismatch, "ERR_REGION_MISMATCH")           \
  X(kWriterAlive, "ERR_REGION_WRITER_ALIVE")    \
  X(kUntrusted, "ERR_REGION_UNTRUSTED")         \
  X(kAccessDenied, "ERR_REGION_ACCESS_DENIED")  \
  X(kPrivilege, "ERR_REGION_PRIVILEGE")         \
  X(kClosed, "ERR_REGION_CLOSED")               \
  X(kReadOnly, "ERR_REGION_READ_ONLY")          \
  X(kContended, "ERR_REGION_READ_CONTENDED")    \
  X(kExists, "ERR_REGION_EXISTS")               \
  X(kNoSpace, "ERR_REGION_NO_SPACE")            \
  X(kOs, "ERR_REGION_OS")

namespace code {
#define COMMY_ERROR_CODE(k, text) inline constexpr char k[] = text;
COMMY_ERROR_CODES(COMMY_ERROR_CODE)
#undef COMMY_ERROR_CODE
}  // namespace code

struct Error {
  const char* code = nullptr;
  std::string message;
  bool set(const char* c, std::string m) {
    code = c;
    message = std::move(m);
    return false;
  }
};

// Sizes read once from an untrusted header, checked, then used instead of
// the shared bytes (which another process may change under us).
struct Layout {
  uint32_t headerSize = 0;
  uint32_t slotSize = 0;
  uint32_t capacity = 0;
  uint64_t totalSize = 0;
  uint16_t versionMinor = 0;
  std::string cluster;
  std::string serverId;
};

// Valid ids: 1..63 bytes of [A-Za-z0-9._-]. Names stay printable and file-safe.
bool validId(const std::string& s);

uint64_t totalSizeFor(uint32_t capacity);

// Checks every header field against the mapped size. Never reads outside
// [base, base + mappedSize). On failure returns false with a stable code.
bool validateRegion(const uint8_t* base, size_t mappedSize, Layout& out, Error& err);

// Writes a fresh header and free slots; magic is stored last with release.
void initializeRegion(uint8_t* base, uint32_t capacity, const std::string& cluster, const std::string& serverId,
                      uint32_t pid, uint64_t nowMs);
// Re-initializes a region that this process just took over from a dead writer,
// keeping every seqlock monotonic so readers mapped to it never see a torn slot.
void reinitializeRegion(uint8_t* base, const Layout& layout, uint32_t pid, uint64_t nowMs);

// Seqlock writer: seq odd, release fence, relaxed stores, seq even (release).
void seqlockWrite(uint8_t* seqAddr, uint8_t* dst, const uint8_t* src, size_t bytes);
// Seqlock reader: acquire load, relaxed loads, acquire fence, re-check.
// Bounded: returns false (kContended) if no stable copy was seen in time,
// e.g. because a writer died with seq odd.
bool seqlockRead(const uint8_t* seqAddr, const uint8_t* src, uint8_t* dst, size_t bytes, Error& err);

// Saturating add; lock-free and safe from any number of processes.
uint64_t counterAdd(uint8_t* addr, uint64_t amount);
uint64_t counterLoad(const uint8_t* addr);

uint64_t loadU64(const uint8_t* addr, std::memory_order order = std::memory_order_relaxed);
uint32_t loadU32(const uint8_t* addr, std::memory_order order = std::memory_order_relaxed);
void storeU64(uint8_t* addr, uint64_t v, std::memory_order order = std::memory_order_relaxed);
void storeU32(uint8_t* addr, uint32_t v, std::memory_order order = std::memory_order_relaxed);

// Reads a NUL-padded name field without trusting it to be terminated.
std::string readName(const uint8_t* field, size_t bytes);

// FNV-1a 64 of the (cluster, serverId) key; names the OS object.
uint64_t keyHash(const std::string& cluster, const std::string& serverId);

}  // namespace commy
