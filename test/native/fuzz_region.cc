// libFuzzer target: every input is a region image from an untrusted source,
// of any size. Built with clang -fsanitize=fuzzer,address,undefined by
// scripts/fuzz-region.sh, which also replays the seed corpus (corpus/) and
// every past crash (regressions/) on each run.
//   1. Always: the image is copied into a heap buffer of exactly its size (so
//      ASan catches any read past the end) and validated by validateRegion.
//      An accepted layout must be self-consistent and inside the buffer, and
//      the reader's accesses (header data, every slot's seqlocked data, names
//      and counters) are replayed over it.
//   2. One input in 32, chosen by a hash of its bytes: it is also written to a
//      real POSIX shared-memory object and opened with Region::openByName, as
//      `commy status` would; both paths must agree.
// Any violated expectation aborts, which libFuzzer reports as a crash.
// A custom mutator makes half of the mutations structure-aware (one header
// field set to a boundary value, sizes optionally made consistent, the image
// resized around its declared size), because byte flips alone rarely produce
// a layout that passes the first checks and only then goes wrong.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "core.h"
#include "layout.h"
#include "platform.h"
#include "region.h"

using namespace commy;

namespace {

#define FUZZ_CHECK(cond)                                                                               \
  do {                                                                                                 \
    if (!(cond)) {                                                                                     \
      std::fprintf(stderr, "fuzz_region: %s:%d: expectation failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                                    \
    }                                                                                                  \
  } while (0)

const char* const kCodes[] = {
    code::kInvalidArg,   code::kNotFound,  code::kNotReady, code::kBadMagic,    code::kBadByteOrder,
    code::kBadVersion,   code::kBadLayout, code::kMismatch, code::kWriterAlive, code::kUntrusted,
    code::kAccessDenied, code::kPrivilege, code::kClosed,   code::kReadOnly,    code::kContended,
    code::kExists,       code::kOs};

bool knownCode(const char* c) {
  if (c == nullptr) return false;
  for (const char* k : kCodes)
    if (std::strcmp(c, k) == 0) return true;
  return false;
}

uint64_t fnv(const uint8_t* d, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ d[i]) * 0x100000001b3ULL;
  return h;
}

// A heap copy of exactly n bytes, 64-byte aligned like a mapping.
struct Image {
  explicit Image(const uint8_t* d, size_t n)
      : size(n), p(static_cast<uint8_t*>(::operator new (n ? n : 1, std::align_val_t{64}))) {
    if (n) std::memcpy(p, d, n);
  }
  ~Image() { ::operator delete (p, std::align_val_t{64}); }
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;
  size_t size;
  uint8_t* p;
};

void checkLayout(const Layout& l, size_t mapped) {
  FUZZ_CHECK(l.headerSize >= header::kSize && l.headerSize % kCacheLine == 0);
  FUZZ_CHECK(l.slotSize >= slot::kSize && l.slotSize % kCacheLine == 0);
  FUZZ_CHECK(l.capacity >= 1 && l.capacity <= kMaxCapacity);
  FUZZ_CHECK(l.totalSize == uint64_t{l.headerSize} + uint64_t{l.capacity} * l.slotSize);
  FUZZ_CHECK(l.totalSize <= mapped);
  FUZZ_CHECK(validId(l.cluster) && validId(l.serverId));
}

// What a reader touches once a region is accepted. Seqs are made even first:
// an odd seq makes a real reader wait its bounded 20 ms, which path 2 covers.
void readLikeAReader(uint8_t* base, const Layout& l) {
  uint8_t hdr[header::kDataSize];
  uint64_t hseq = loadU64(base + header::kSeq);
  storeU64(base + header::kSeq, hseq & ~uint64_t{1});
  Error e;
  FUZZ_CHECK(seqlockRead(base + header::kSeq, base + header::kData, hdr, header::kDataSize, e));
  (void)readName(hdr + header_data::kListen, header_data::kListenBytes);
  (void)loadU32(base + header::kWriterPid);
  (void)loadU64(base + header::kGeneration);
  uint8_t rec[slot::kDataSize];
  for (uint32_t i = 0; i < l.capacity; i++) {
    uint8_t* s = base + l.headerSize + uint64_t{i} * l.slotSize;
    storeU64(s + slot::kSeq, loadU64(s + slot::kSeq) & ~uint64_t{1});
    Error se;
    FUZZ_CHECK(seqlockRead(s + slot::kSeq, s + slot::kData, rec, slot::kDataSize, se));
    (void)readName(rec + slot_data::kServerId, kNameBytes);
    (void)readName(rec + slot_data::kAddress, slot_data::kAddressBytes);
    uint32_t metaLen = 0;
    std::memcpy(&metaLen, rec + slot_data::kMetadataLength, 4);
    (void)metaLen;  // TypeScript clamps it to kMetadataBytes (lib/region.ts decodeSlot)
    (void)counterLoad(s + slot::kBytesSent);
    (void)counterLoad(s + slot::kBytesReceived);
  }
}

std::string objectName() {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "/commy-fuzz-%d", static_cast<int>(getpid()));
  return buf;
}

// Writes the image to a real shm object and opens it the way readers do.
void throughTheOs(const uint8_t* data, size_t size, bool memValid, const Layout& memLayout, const char* memCode,
                  bool keepOddSeqs) {
  const std::string name = objectName();
  shm_unlink(name.c_str());
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, static_cast<off_t>(size)) == 0);
  if (size > 0) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    FUZZ_CHECK(p != MAP_FAILED);
    std::memcpy(p, data, size);
    if (memValid && !keepOddSeqs) {
      auto* b = static_cast<uint8_t*>(p);
      storeU64(b + header::kSeq, loadU64(b + header::kSeq) & ~uint64_t{1});
      for (uint32_t i = 0; i < memLayout.capacity; i++) {
        uint8_t* s = b + memLayout.headerSize + uint64_t{i} * memLayout.slotSize;
        storeU64(s + slot::kSeq, loadU64(s + slot::kSeq) & ~uint64_t{1});
      }
    }
    munmap(p, size);
  }
  ::close(fd);

  Error err;
  std::unique_ptr<Region> r = Region::openByName(name, false, "", err);
  if (!r) {
    FUZZ_CHECK(knownCode(err.code) && !err.message.empty());
    FUZZ_CHECK(!memValid);
    FUZZ_CHECK(memCode != nullptr && std::strcmp(err.code, memCode) == 0);
  } else {
    FUZZ_CHECK(memValid);
    const Layout& l = r->layout();
    checkLayout(l, size);
    FUZZ_CHECK(l.capacity == memLayout.capacity && l.totalSize == memLayout.totalSize);
    FUZZ_CHECK(!r->isWriter());
    WriterInfo w = r->writerInfo();
    FUZZ_CHECK(!w.alive);  // nobody holds the writer lock of this object
    // Every part of the one read path: writer line and header, summary
    // records (with a cache of known seqs), detail records, one slot.
    std::vector<uint8_t> out(Region::imageBytes(image::kPartDetail, l.capacity));
    std::vector<uint32_t> known(2 * size_t{l.capacity}, 1);
    for (uint32_t parts : {image::kPartWriter, image::kPartWriter | image::kPartSlots, image::kPartDetail}) {
      uint32_t count = 0;
      Error se;
      if (r->read(out.data(), out.size(), parts, -1, known.data(), count, se))
        FUZZ_CHECK(count <= l.capacity);
      else
        FUZZ_CHECK(std::strcmp(se.code, code::kContended) == 0);
    }
    uint32_t one = 0;
    Error oe;
    if (!r->read(out.data(), out.size(), image::kPartSlots, l.capacity - 1, known.data(), one, oe))
      FUZZ_CHECK(std::strcmp(oe.code, code::kContended) == 0);
    r->close();
    r->close();  // idempotent
  }
  shm_unlink(name.c_str());
}

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t maxSize);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t maxSize, unsigned int seed) {
  std::minstd_rand engine(seed);
  auto rng = [&engine]() { return static_cast<uint32_t>(engine()); };
  if (size < header::kSize || maxSize < header::kSize || rng() % 2 == 0) return LLVMFuzzerMutate(data, size, maxSize);
  auto pick = [&rng](std::initializer_list<uint32_t> v) { return *(v.begin() + rng() % v.size()); };
  auto u32 = [data](size_t off) {
    uint32_t v;
    std::memcpy(&v, data + off, 4);
    return v;
  };
  auto put32 = [data](size_t off, uint32_t v) { std::memcpy(data + off, &v, 4); };
  uint32_t line = static_cast<uint32_t>(kCacheLine);
  switch (rng() % 7) {
    case 0:
      put32(header::kHeaderSize, pick({0, line, 960, 1024, 1088, 2048, (1u << 20) + line, line * (rng() % 64)}));
      break;
    case 1:
      put32(header::kSlotSize, pick({0, line, 960, 1024, 1088, 2048, 0xFFFFFFC0u, line * (rng() % 64)}));
      break;
    case 2:
      put32(header::kCapacity, pick({0, 1, 2, 3, 4, 15, 16, kMaxCapacity, kMaxCapacity + 1, 0xFFFFFFFFu}));
      break;
    case 3:
      put32(header::kVersionMajor, pick({1, 2, 0x00010001u, 0xFFFF0001u, 0x0100u}));
      break;
    case 4: {  // a name field: valid, full-length, unterminated or empty
      size_t field = rng() % 2 ? header::kCluster : header::kServerId;
      std::memset(data + field, 0, kNameBytes);
      std::memset(data + field, pick({'a', '-', '/', 0xFF}), rng() % (kNameBytes + 1));
      break;
    }
    case 5: {  // a slot's seq or state, as a dying writer could leave them
      uint32_t hs = u32(header::kHeaderSize), ss = u32(header::kSlotSize);
      uint64_t at = uint64_t{hs} + uint64_t{ss} * (rng() % 16);
      if (hs >= header::kSize && ss >= slot::kSize && at + slot::kSize <= size) {
        if (rng() % 2)
          data[at + slot::kSeq] ^= 1;
        else
          put32(static_cast<size_t>(at + slot::kData + slot_data::kState), pick({0, 1, 2, 0xFFFFFFFFu}));
      }
      break;
    }
    default:
      size = LLVMFuzzerMutate(data, size, maxSize);
      break;
  }
  if (size < header::kSize) return size;
  uint64_t total = uint64_t{u32(header::kHeaderSize)} + uint64_t{u32(header::kCapacity)} * u32(header::kSlotSize);
  if (rng() % 2) std::memcpy(data + header::kTotalSize, &total, 8);  // make the sizes agree
  if (rng() % 2) {                                                   // cut or grow the image around its declared size
    uint64_t declared;
    std::memcpy(&declared, data + header::kTotalSize, 8);
    int64_t delta = static_cast<int64_t>(rng() % 1200) - 1100;
    int64_t want = static_cast<int64_t>(declared > maxSize ? maxSize : declared) + delta;
    size_t next = want < static_cast<int64_t>(header::kSize) ? header::kSize
                  : static_cast<size_t>(want) > maxSize      ? maxSize
                                                             : static_cast<size_t>(want);
    if (next > size) std::memset(data + size, 0, next - size);
    size = next;
  }
  return size;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Image img(data, size);
  Layout l;
  Error e;
  bool valid = validateRegion(img.p, img.size, l, e);
  if (valid) {
    checkLayout(l, img.size);
    readLikeAReader(img.p, l);
  } else {
    FUZZ_CHECK(knownCode(e.code) && !e.message.empty());
  }
  uint64_t h = fnv(data, size);
  if (h % 32 == 0) throughTheOs(data, size, valid, l, valid ? nullptr : e.code, h % 256 == 0);
  return 0;
}
