// Plain C++ tests of the native core (no Node-API, no framework), built by
// CMakeLists.txt as commy_native_test and run under ASan + UBSan by
// scripts/test-native.sh. Exercises region.h/core.h directly: naming,
// create/open/close, validation of hostile bytes, seqlocks, counters,
// liveness and takeover. Prints "N passed, M failed"; exits 1 on any failure.
#include "region.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core.h"
#include "layout.h"
#include "platform.h"

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

using namespace commy;
using Clock = std::chrono::steady_clock;

// writer.alive is probed at most once per millisecond per mapping, so a
// change of the writer shows within that bound: poll for it (deadline 1 s).
static bool aliveBecomes(const Region& r, bool want) {
  const auto deadline = Clock::now() + std::chrono::seconds(1);
  while (r.writerInfo().alive != want) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// ---- a tiny harness ---------------------------------------------------------

namespace {

std::atomic<int> gFailures{0};  // CHECKs failed in the running test case

struct TestCase {
  const char* name;
  void (*fn)();
};
std::vector<TestCase>& registry() {
  static std::vector<TestCase> r;
  return r;
}
struct Registrar {
  Registrar(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

bool sameCode(const char* a, const char* b) { return a && b && std::strcmp(a, b) == 0; }

}  // namespace

#define TEST(name)                                      \
  static void name();                                   \
  static const Registrar registrar_##name(#name, name); \
  static void name()

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      gFailures++;                                                                  \
    }                                                                               \
  } while (0)

// Checks that an operation failed with a given stable code.
#define CHECK_CODE(err, expected)                                                                                  \
  do {                                                                                                             \
    if (!sameCode((err).code, (expected))) {                                                                       \
      std::fprintf(stderr, "%s:%d: CHECK_CODE failed: expected %s, got %s (%s)\n", __FILE__, __LINE__, (expected), \
                   (err).code ? (err).code : "no code", (err).message.c_str());                                    \
      gFailures++;                                                                                                 \
    } else if ((err).message.empty()) {                                                                            \
      std::fprintf(stderr, "%s:%d: CHECK_CODE failed: %s has an empty message\n", __FILE__, __LINE__, (expected)); \
      gFailures++;                                                                                                 \
    }                                                                                                              \
  } while (0)

// ---- helpers ----------------------------------------------------------------

namespace {

const char* const kAllCodes[] = {
    code::kInvalidArg,   code::kNotFound,  code::kNotReady, code::kBadMagic,    code::kBadByteOrder,
    code::kBadVersion,   code::kBadLayout, code::kMismatch, code::kWriterAlive, code::kUntrusted,
    code::kAccessDenied, code::kPrivilege, code::kClosed,   code::kReadOnly,    code::kContended,
    code::kExists,       code::kOs};

bool knownCode(const char* c) {
  for (const char* k : kAllCodes)
    if (sameCode(c, k)) return true;
  return false;
}

// An in-memory region image of exactly `size` bytes, so ASan flags any read
// past the end; 64-byte aligned like a mapping.
struct Image {
  explicit Image(size_t n) : size(n), p(static_cast<uint8_t*>(::operator new (n ? n : 1, std::align_val_t{64}))) {
    std::memset(p, 0, n ? n : 1);
  }
  Image(const Image& other, size_t n) : Image(n) { std::memcpy(p, other.p, std::min(n, other.size)); }
  ~Image() { ::operator delete (p, std::align_val_t{64}); }
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;
  size_t size;
  uint8_t* p;
};

std::unique_ptr<Image> validImage(uint32_t capacity) {
  auto img = std::make_unique<Image>(static_cast<size_t>(totalSizeFor(capacity)));
  initializeRegion(img->p, capacity, "cluster-1", "server.a", 4242, 1764150000000ULL);
  return img;
}

// Region names unique to this process; every one is unlinked at exit.
std::vector<std::string> gNames;

struct Key {
  std::string cluster, serverId, name;
};

Key makeKey(const std::string& serverId) {
  Key k{"commy-test-" + std::to_string(os::currentPid()), serverId, ""};
  k.name = os::objectName(k.cluster, k.serverId, false);
  Error ignored;
  os::unlink(k.name, ignored);  // a leftover from a crashed run with a recycled pid
  gNames.push_back(k.name);
  return k;
}

void unlinkAll() {
  for (const auto& n : gNames) {
    Error ignored;
    os::unlink(n, ignored);
  }
}

std::unique_ptr<Region> createRegion(const Key& k, uint32_t capacity, Error& err, bool* tookOver = nullptr) {
  Region::CreateOptions o;
  o.cluster = k.cluster;
  o.serverId = k.serverId;
  o.capacity = capacity;
  return Region::create(o, err, tookOver);
}

std::unique_ptr<Region> openRegion(const Key& k, bool writable, Error& err) {
  Region::OpenOptions o;
  o.cluster = k.cluster;
  o.serverId = k.serverId;
  o.writable = writable;
  return Region::open(o, err);
}

// A second, raw read-write mapping of a region, to inspect or damage the
// bytes the way another (possibly dying) process would.
struct RawMapping {
  explicit RawMapping(const std::string& name) {
    Error err;
    ok = os::openExisting(name, true, false, os::Access{}, m, err);
    if (!ok) std::fprintf(stderr, "raw mapping of %s failed: %s\n", name.c_str(), err.message.c_str());
  }
  ~RawMapping() { os::close(m); }
  uint8_t* slot(uint32_t i) const { return m.base + header::kSize + uint64_t{i} * slot::kSize; }
  os::Mapping m;
  bool ok = false;
};

struct SlotData {
  uint8_t bytes[slot::kDataSize] = {0};
  void setU32(size_t off, uint32_t v) { std::memcpy(bytes + off, &v, 4); }
  void setU64(size_t off, uint64_t v) { std::memcpy(bytes + off, &v, 8); }
  void setStr(size_t off, const char* s) { std::memcpy(bytes + off, s, std::strlen(s)); }
};

// Per-slot, whole-set and header reads as thin wrappers over the one read
// path (Region::read), so these tests keep their shape: a record here is
// the slot data followed by the two counters.
constexpr size_t kRecordSize = slot::kDataSize + 16;

std::vector<uint8_t>& imageBuffer(uint32_t records) {
  thread_local std::vector<uint8_t> img;
  img.resize(Region::imageBytes(image::kPartDetail, records));
  return img;
}

void unpackRecord(const uint8_t* rec, uint8_t* out) {
  std::memcpy(out, rec + record::kData, slot::kDataSize);
  std::memcpy(out + slot::kDataSize, rec + record::kBytesSent, 8);
  std::memcpy(out + slot::kDataSize + 8, rec + record::kBytesReceived, 8);
}

bool readSlot(const Region& r, uint32_t i, uint8_t* out, Error& e) {
  auto& img = imageBuffer(1);
  uint32_t n = 0;
  if (!r.read(img.data(), img.size(), image::kPartDetail, i, nullptr, n, e)) return false;
  unpackRecord(img.data() + image::kRecords, out);
  return true;
}

bool readUsedSlots(const Region& r, uint8_t* out, size_t outBytes, uint32_t& count, Error& e) {
  auto& img = imageBuffer(r.layout().capacity);
  if (!r.read(img.data(), img.size(), image::kPartDetail, -1, nullptr, count, e)) return false;
  if (size_t{count} * kRecordSize > outBytes) return e.set(code::kInvalidArg, "output buffer too small");
  for (uint32_t k = 0; k < count; k++)
    unpackRecord(img.data() + image::kRecords + size_t{k} * record::kDetailSize, out + size_t{k} * kRecordSize);
  return true;
}

// The header data a read copies: image::kHeaderDataCopied bytes.
bool readHeaderData(const Region& r, uint8_t* out, Error& e) {
  auto& img = imageBuffer(0);
  uint32_t n = 0;
  if (!r.read(img.data(), img.size(), image::kPartWriter, -1, nullptr, n, e)) return false;
  std::memcpy(out, img.data() + image::kHeaderData, image::kHeaderDataCopied);
  return true;
}

uint64_t getU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
uint64_t byteSwapped(uint64_t v) {
  uint64_t r = 0;
  for (int i = 0; i < 8; i++) r = (r << 8) | ((v >> (8 * i)) & 0xFF);
  return r;
}
uint32_t getU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

constexpr uint32_t kRunning = static_cast<uint32_t>(RegionState::kRunning);
constexpr uint32_t kStopped = static_cast<uint32_t>(RegionState::kStopped);
constexpr uint32_t kUsed = static_cast<uint32_t>(SlotState::kUsed);

long long msSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

}  // namespace

// ---- ids and names ----------------------------------------------------------

TEST(ids_and_object_names) {
  CHECK(validId("a"));
  CHECK(validId("cluster-1.prod_A"));
  CHECK(validId(std::string(63, 'x')));
  CHECK(!validId(""));
  CHECK(!validId(std::string(64, 'x')));
  CHECK(!validId("a/b"));
  CHECK(!validId("a b"));
  CHECK(!validId("a\\b"));
  CHECK(!validId(std::string("a\0b", 3)));
  CHECK(!validId("caf\xc3\xa9"));

  std::string n = os::objectName("demo", "a", false);
  CHECK(n == os::objectName("demo", "a", false));  // deterministic
  CHECK(n != os::objectName("demo", "b", false));
#if !defined(_WIN32)
  CHECK(n.size() <= 31);  // macOS PSHMNAMLEN
  CHECK(n[0] == '/' && n.find('/', 1) == std::string::npos);
  CHECK(os::objectName(std::string(63, 'c'), std::string(63, 's'), false).size() <= 31);
#endif
  // The separator keeps ("ab","c") and ("a","bc") apart.
  CHECK(keyHash("ab", "c") != keyHash("a", "bc"));
  CHECK(os::objectName("ab", "c", false) != os::objectName("a", "bc", false));
}

TEST(read_name_never_trusts_termination) {
  Image field(kNameBytes);  // exactly one field: ASan catches any over-read
  std::memset(field.p, 'z', kNameBytes);
  CHECK(readName(field.p, kNameBytes) == std::string(kNameBytes, 'z'));
  std::memcpy(field.p, "abc\0def", 8);
  CHECK(readName(field.p, kNameBytes) == "abc");
}

// ---- create / open / close --------------------------------------------------

TEST(create_open_close) {
  Key k = makeKey("create-open");
  Error err;
  bool tookOver = true;
  auto w = createRegion(k, 4, err, &tookOver);
  CHECK(w != nullptr);
  if (!w) return;
  CHECK(!tookOver);
  CHECK(w->isWriter() && w->writable() && !w->closed());
  CHECK(w->name() == k.name);
  CHECK(w->layout().headerSize == header::kSize);
  CHECK(w->layout().slotSize == slot::kSize);
  CHECK(w->layout().capacity == 4);
  CHECK(w->layout().totalSize == totalSizeFor(4));
  CHECK(w->layout().cluster == k.cluster && w->layout().serverId == k.serverId);

  WriterInfo wi = w->writerInfo();
  CHECK(wi.pid == os::currentPid());
  CHECK(wi.state == kRunning);
  CHECK(wi.alive);
  CHECK(wi.startMs > 0 && wi.heartbeatMs >= wi.startMs);
  uint64_t gen0 = w->generation();
  CHECK(gen0 >= 1);

  Error rerr;
  auto r = openRegion(k, false, rerr);
  CHECK(r != nullptr);
  if (!r) return;
  CHECK(!r->isWriter() && !r->writable());
  CHECK(r->layout().capacity == 4 && r->layout().cluster == k.cluster);
  CHECK(r->writerInfo().alive);  // another open file description sees the writer's lock
  CHECK(r->writerInfo().pid == os::currentPid());
  CHECK(!r->replaced());

  SlotData d;
  d.setU32(slot_data::kState, kUsed);
  d.setU64(slot_data::kGeneration, 7);
  d.setStr(slot_data::kServerId, "peer-b");
  d.setStr(slot_data::kAddress, "127.0.0.1:7102");
  w->writeSlot(2, d.bytes);
  CHECK(w->generation() > gen0);
  w->addCounter(2, 0, 123);
  w->addCounter(2, 1, 456);
  w->touch(wi.heartbeatMs + 5);
  CHECK(r->writerInfo().heartbeatMs == wi.heartbeatMs + 5);

  uint8_t rec[kRecordSize];
  Error e;
  CHECK(readSlot(*r, 2, rec, e));
  CHECK(std::memcmp(rec, d.bytes, slot::kDataSize) == 0);
  CHECK(getU64(rec + slot::kDataSize) == 123);
  CHECK(getU64(rec + slot::kDataSize + 8) == 456);

  std::vector<uint8_t> all(kRecordSize * 4);
  uint32_t count = 99;
  CHECK(readUsedSlots(*r, all.data(), all.size(), count, e));
  CHECK(count == 1);
  CHECK(std::memcmp(all.data(), rec, kRecordSize) == 0);
  Error small;
  CHECK(!readUsedSlots(*r, all.data(), kRecordSize - 1, count, small));
  CHECK_CODE(small, code::kInvalidArg);

  uint8_t hdr[header::kDataSize];
  std::memset(hdr, 0, sizeof(hdr));
  std::memcpy(hdr + header_data::kListen, "127.0.0.1:7101", 14);
  w->writeHeaderData(hdr);
  uint8_t hdrBack[header::kDataSize];
  CHECK(readHeaderData(*r, hdrBack, e));
  CHECK(std::memcmp(hdr, hdrBack, image::kHeaderDataCopied) == 0);

  w->setState(RegionState::kStopped);
  CHECK(r->writerInfo().state == kStopped);
  w->setState(RegionState::kRunning);

  // Lookup by OS name, as `commy ls` does.
  Error berr;
  auto byName = Region::openByName(k.name, false, "", berr);
  CHECK(byName != nullptr && byName->layout().serverId == k.serverId);
  byName.reset();
#if defined(__linux__)
  std::vector<std::string> names;
  CHECK(os::listNames(names));
  CHECK(std::find(names.begin(), names.end(), k.name) != names.end());
#endif

  // A clean close publishes "stopped" and drops the lock; close is idempotent.
  w->close();
  CHECK(w->closed());
  CHECK(!w->isWriter());
  w->close();
  CHECK(w->closed());
  WriterInfo after = r->writerInfo();
  CHECK(aliveBecomes(*r, false));
  CHECK(after.state == kStopped);

  Error uerr;
  CHECK(os::unlink(k.name, uerr));
#if !defined(_WIN32)
  // POSIX names go at once; a Windows object lives while any handle is open.
  CHECK(r->replaced());  // the name no longer names r's object
#endif
  r->close();
  r->close();
  CHECK(r->closed());
  Error nerr;
  CHECK(openRegion(k, false, nerr) == nullptr);
  CHECK_CODE(nerr, code::kNotFound);
}

TEST(bad_arguments_are_refused) {
  Key k = makeKey("bad-args");
  const std::string bad[] = {"", "a/b", "a b", std::string(64, 'x'), "..\\x"};
  for (const auto& id : bad) {
    Region::CreateOptions c;
    c.cluster = id;
    c.serverId = "s";
    c.capacity = 1;
    Error e1;
    CHECK(Region::create(c, e1) == nullptr);
    CHECK_CODE(e1, code::kInvalidArg);
    c.cluster = "c";
    c.serverId = id;
    Error e2;
    CHECK(Region::create(c, e2) == nullptr);
    CHECK_CODE(e2, code::kInvalidArg);
    Region::OpenOptions o;
    o.cluster = "c";
    o.serverId = id;
    Error e3;
    CHECK(Region::open(o, e3) == nullptr);
    CHECK_CODE(e3, code::kInvalidArg);
  }
  for (uint32_t cap : {0u, kMaxCapacity + 1, UINT32_MAX}) {
    Error e;
    CHECK(createRegion(k, cap, e) == nullptr);
    CHECK_CODE(e, code::kInvalidArg);
  }
  Error e;
  CHECK(openRegion(makeKey("never-created"), false, e) == nullptr);
  CHECK_CODE(e, code::kNotFound);
  Error e2;
  CHECK(Region::openByName(os::objectName("no", "such", false), false, "", e2) == nullptr);
  CHECK_CODE(e2, code::kNotFound);
}

// ---- validation of untrusted bytes --------------------------------------------

TEST(validate_accepts_good_images) {
  auto img = validImage(4);
  Layout l;
  Error e;
  CHECK(validateRegion(img->p, img->size, l, e));
  CHECK(l.headerSize == header::kSize && l.slotSize == slot::kSize && l.capacity == 4);
  CHECK(l.totalSize == totalSizeFor(4));
  CHECK(l.cluster == "cluster-1" && l.serverId == "server.a");
  CHECK(l.versionMinor == kVersionMinor);

  // A mapping rounded up to whole pages is fine.
  Image bigger(*img, img->size + 4096);
  Layout l2;
  CHECK(validateRegion(bigger.p, bigger.size, l2, e));

  // Any minor version of the same major is readable.
  storeU32(img->p + header::kVersionMajor, uint32_t{kVersionMajor} | (7u << 16));
  Layout l3;
  CHECK(validateRegion(img->p, img->size, l3, e));
  CHECK(l3.versionMinor == 7);

  // A later minor may grow the header and slots (in cache lines).
  const uint32_t hs = 2048, ss = 1088, cap = 3;
  Image grown(uint64_t{hs} + uint64_t{cap} * ss);
  initializeRegion(grown.p, cap, "c", "s", 1, 1);
  storeU32(grown.p + header::kHeaderSize, hs);
  storeU32(grown.p + header::kSlotSize, ss);
  storeU64(grown.p + header::kTotalSize, grown.size);
  Layout l4;
  CHECK(validateRegion(grown.p, grown.size, l4, e));
  CHECK(l4.headerSize == hs && l4.slotSize == ss && l4.capacity == cap && l4.totalSize == grown.size);
}

TEST(validate_rejects_corrupt_images) {
  struct Case {
    const char* what;
    void (*damage)(uint8_t*);
    const char* code;
  };
  static const Case cases[] = {
      {"magic unpublished", [](uint8_t* b) { storeU64(b + header::kMagic, 0); }, code::kNotReady},
      {"bad magic", [](uint8_t* b) { storeU64(b + header::kMagic, 0x0123456789ABCDEFULL); }, code::kBadMagic},
      {"one magic byte off", [](uint8_t* b) { b[header::kMagic + 7] ^= 1; }, code::kBadMagic},
      {"byte-swapped magic", [](uint8_t* b) { storeU64(b + header::kMagic, byteSwapped(kMagic)); },
       code::kBadByteOrder},
      {"byte-order mark swapped", [](uint8_t* b) { storeU32(b + header::kByteOrder, 0x04030201u); },
       code::kBadByteOrder},
      {"unknown major 2", [](uint8_t* b) { storeU32(b + header::kVersionMajor, 2u); }, code::kBadVersion},
      {"unknown major 0", [](uint8_t* b) { storeU32(b + header::kVersionMajor, 0u | (1u << 16)); }, code::kBadVersion},
      {"unknown major 0xFFFF", [](uint8_t* b) { storeU32(b + header::kVersionMajor, 0xFFFFu); }, code::kBadVersion},
      {"header size 0", [](uint8_t* b) { storeU32(b + header::kHeaderSize, 0); }, code::kBadLayout},
      {"header size below v1", [](uint8_t* b) { storeU32(b + header::kHeaderSize, 512); }, code::kBadLayout},
      {"header size not x64", [](uint8_t* b) { storeU32(b + header::kHeaderSize, 1030); }, code::kBadLayout},
      {"header size huge", [](uint8_t* b) { storeU32(b + header::kHeaderSize, 1u << 21); }, code::kBadLayout},
      {"header size max", [](uint8_t* b) { storeU32(b + header::kHeaderSize, UINT32_MAX); }, code::kBadLayout},
      {"slot size 0", [](uint8_t* b) { storeU32(b + header::kSlotSize, 0); }, code::kBadLayout},
      {"slot size below v1", [](uint8_t* b) { storeU32(b + header::kSlotSize, 960); }, code::kBadLayout},
      {"slot size not x64", [](uint8_t* b) { storeU32(b + header::kSlotSize, 1025); }, code::kBadLayout},
      {"slot size huge", [](uint8_t* b) { storeU32(b + header::kSlotSize, 1u << 21); }, code::kBadLayout},
      {"slot size max", [](uint8_t* b) { storeU32(b + header::kSlotSize, UINT32_MAX); }, code::kBadLayout},
      {"capacity 0", [](uint8_t* b) { storeU32(b + header::kCapacity, 0); }, code::kBadLayout},
      {"capacity too large", [](uint8_t* b) { storeU32(b + header::kCapacity, kMaxCapacity + 1); }, code::kBadLayout},
      {"capacity max", [](uint8_t* b) { storeU32(b + header::kCapacity, UINT32_MAX); }, code::kBadLayout},
      {"total size +1", [](uint8_t* b) { storeU64(b + header::kTotalSize, totalSizeFor(4) + 1); }, code::kBadLayout},
      {"total size -64", [](uint8_t* b) { storeU64(b + header::kTotalSize, totalSizeFor(4) - 64); }, code::kBadLayout},
      {"total size 0", [](uint8_t* b) { storeU64(b + header::kTotalSize, 0); }, code::kBadLayout},
      {"total size max", [](uint8_t* b) { storeU64(b + header::kTotalSize, UINT64_MAX); }, code::kBadLayout},
      {"sizes bigger than the mapping",
       [](uint8_t* b) {
         storeU32(b + header::kCapacity, 8);
         storeU64(b + header::kTotalSize, totalSizeFor(8));
       },
       code::kBadLayout},
      {"cluster not terminated", [](uint8_t* b) { std::memset(b + header::kCluster, 'a', kNameBytes); },
       code::kBadLayout},
      {"server id not terminated", [](uint8_t* b) { std::memset(b + header::kServerId, 'b', kNameBytes); },
       code::kBadLayout},
      {"cluster empty", [](uint8_t* b) { std::memset(b + header::kCluster, 0, kNameBytes); }, code::kBadLayout},
      {"server id empty", [](uint8_t* b) { std::memset(b + header::kServerId, 0, kNameBytes); }, code::kBadLayout},
      {"cluster with a slash", [](uint8_t* b) { std::memcpy(b + header::kCluster, "../etc", 6); }, code::kBadLayout},
      {"server id with a space", [](uint8_t* b) { std::memcpy(b + header::kServerId, "a b", 3); }, code::kBadLayout},
      {"server id with a control byte", [](uint8_t* b) { b[header::kServerId + 1] = 0x07; }, code::kBadLayout},
      {"cluster with a high byte", [](uint8_t* b) { b[header::kCluster] = 0xFF; }, code::kBadLayout},
  };
  for (const Case& c : cases) {
    auto img = validImage(4);
    c.damage(img->p);
    Layout l;
    Error e;
    bool ok = validateRegion(img->p, img->size, l, e);
    if (ok || !sameCode(e.code, c.code))
      std::fprintf(stderr, "  case \"%s\": ok=%d code=%s (%s)\n", c.what, ok, e.code ? e.code : "none",
                   e.message.c_str());
    CHECK(!ok);
    CHECK_CODE(e, c.code);
    CHECK(l.capacity == 0 && l.cluster.empty());  // nothing half-filled on failure
  }

  // Truncated mappings, each in an allocation of exactly that size.
  auto good = validImage(4);
  struct Trunc {
    size_t size;
    const char* code;
  };
  const Trunc truncs[] = {{0, code::kNotReady},
                          {1, code::kBadLayout},
                          {8, code::kBadLayout},
                          {header::kSize - 1, code::kBadLayout},
                          {header::kSize, code::kBadLayout},
                          {static_cast<size_t>(totalSizeFor(4)) - 1, code::kBadLayout},
                          {static_cast<size_t>(totalSizeFor(3)), code::kBadLayout}};
  for (const Trunc& t : truncs) {
    Image cut(*good, t.size);
    Layout l;
    Error e;
    CHECK(!validateRegion(cut.p, cut.size, l, e));
    CHECK_CODE(e, t.code);
  }
}

TEST(validate_survives_random_bytes) {
  const size_t sizes[] = {1,
                          7,
                          8,
                          63,
                          64,
                          200,
                          1023,
                          1024,
                          1025,
                          2048,
                          static_cast<size_t>(totalSizeFor(1)),
                          static_cast<size_t>(totalSizeFor(4)) + 13};
  int accepted = 0;
  const auto good = validImage(2);
  for (uint64_t seed = 1; seed <= 3000; seed++) {
    std::mt19937_64 rng(seed);
    // 1. Pure noise, of many sizes.
    {
      Image img(sizes[seed % (sizeof(sizes) / sizeof(sizes[0]))]);
      for (size_t i = 0; i < img.size; i++) img.p[i] = static_cast<uint8_t>(rng());
      Layout l;
      Error e;
      bool ok = validateRegion(img.p, img.size, l, e);
      CHECK(!ok);
      CHECK(knownCode(e.code) && !e.message.empty());
    }
    // 2. Noise behind a correct magic, byte-order mark and version, so the
    //    size and name checks see the hostile values.
    {
      Image img(static_cast<size_t>(totalSizeFor(2)));
      for (size_t i = 0; i < img.size; i++) img.p[i] = static_cast<uint8_t>(rng());
      storeU64(img.p + header::kMagic, kMagic);
      storeU32(img.p + header::kByteOrder, kByteOrderMark);
      storeU32(img.p + header::kVersionMajor, kVersionMajor);
      Layout l;
      Error e;
      CHECK(!validateRegion(img.p, img.size, l, e));
      CHECK(sameCode(e.code, code::kBadLayout));
    }
    // 3. A good image with a few header bytes flipped: it may still be
    //    valid, but only if every accepted size is consistent and in bounds.
    {
      Image img(*good, good->size);
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; f++) {
        size_t at = rng() % (header::kServerId + kNameBytes);
        img.p[at] = static_cast<uint8_t>(rng());
      }
      size_t mapped = (rng() % 4 == 0) ? static_cast<size_t>(rng() % img.size) : img.size;
      Layout l;
      Error e;
      if (validateRegion(img.p, mapped, l, e)) {
        accepted++;
        CHECK(l.headerSize >= header::kSize && l.headerSize % kCacheLine == 0);
        CHECK(l.slotSize >= slot::kSize && l.slotSize % kCacheLine == 0);
        CHECK(l.capacity >= 1 && l.capacity <= kMaxCapacity);
        CHECK(l.totalSize == uint64_t{l.headerSize} + uint64_t{l.capacity} * l.slotSize);
        CHECK(l.totalSize <= mapped);
        CHECK(validId(l.cluster) && validId(l.serverId));
      } else {
        CHECK(knownCode(e.code) && !e.message.empty());
      }
    }
  }
  CHECK(accepted > 0);  // flips of unchecked bytes (pid, times) keep it valid
}

// ---- seqlocks ---------------------------------------------------------------

TEST(seqlock_reads_are_never_torn) {
  Key k = makeKey("seqlock");
  Error err;
  auto w = createRegion(k, 2, err);
  CHECK(w != nullptr);
  if (!w) return;
  constexpr uint32_t kSlot = 1;
  constexpr int kReaders = 2;
  constexpr uint64_t kReadsPerReader = 200000;
  constexpr uint64_t kMinValuesSeen = 1000;

  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> pacer{0};
  std::thread writer([&] {
    // Invariant: every u64 word of the slot data (and of the header data)
    // holds the same value v, and v only grows.
    SlotData d;
    uint8_t h[header::kDataSize];
    while (ready.load() < kReaders) std::this_thread::yield();
    for (uint64_t v = 1; !stop.load(std::memory_order_relaxed); v++) {
      for (size_t i = 0; i < slot::kDataSize; i += 8) d.setU64(i, v);
      w->writeSlot(kSlot, d.bytes);
      if (v % 8 == 0) {
        for (size_t i = 0; i < header::kDataSize; i += 8) std::memcpy(h + i, &v, 8);
        w->writeHeaderData(h);
      }
      writes.store(v, std::memory_order_relaxed);
      // Mostly back to back, sometimes a short, varying pause: a writer that
      // never pauses starves seqlock readers (each read overlaps a write and
      // retries), so the readers would only ever succeed while it is
      // descheduled and would not race it at all.
      for (uint64_t spin = (v % 4 == 0) ? 0 : v % 509; spin > 0; spin--) pacer.fetch_add(1, std::memory_order_relaxed);
    }
  });

  struct Result {
    uint64_t ok = 0, torn = 0, backwards = 0, contended = 0, otherErrors = 0, changes = 0, headerTorn = 0;
  };
  Result results[kReaders];
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; t++) {
    readers.emplace_back([&, t] {
      Result& res = results[t];
      Error oerr;
      auto r = openRegion(k, false, oerr);  // each reader its own mapping
      ready++;
      if (!r) {
        res.otherErrors++;
        return;
      }
      uint8_t rec[kRecordSize];
      uint8_t h[header::kDataSize];
      uint64_t last = 0, lastHeader = 0;
      // Read until enough reads *and* enough of them raced the writer; on a
      // small machine a reader may run whole time slices while the writer
      // waits for a core, so yield now and then and bound it by a deadline.
      const auto deadline = Clock::now() + std::chrono::seconds(30);
      while (res.ok < kReadsPerReader || res.changes < kMinValuesSeen) {
        if (res.ok % 4096 == 4095) {
          std::this_thread::yield();
          if (Clock::now() > deadline) break;
        }
        Error e;
        if (!readSlot(*r, kSlot, rec, e)) {
          if (sameCode(e.code, code::kContended))
            res.contended++;
          else
            res.otherErrors++;
          if (res.contended + res.otherErrors > 1000) break;
          continue;
        }
        res.ok++;
        uint64_t v = getU64(rec);
        for (size_t i = 8; i < slot::kDataSize; i += 8)
          if (getU64(rec + i) != v) {
            res.torn++;
            break;
          }
        if (v < last) res.backwards++;
        if (v != last) res.changes++;
        last = v;
        if (res.ok % 16 == 0 && readHeaderData(*r, h, e)) {
          uint64_t hv = getU64(h);
          for (size_t i = 8; i < image::kHeaderDataCopied; i += 8)
            if (getU64(h + i) != hv) {
              res.headerTorn++;
              break;
            }
          if (hv < lastHeader) res.backwards++;
          lastHeader = hv;
        }
      }
    });
  }
  for (auto& th : readers) th.join();
  stop = true;
  writer.join();

  for (int t = 0; t < kReaders; t++) {
    const Result& r = results[t];
    std::printf("    reader %d: %" PRIu64 " reads, %" PRIu64 " values seen, %" PRIu64 " torn, %" PRIu64 " contended\n",
                t, r.ok, r.changes, r.torn + r.headerTorn, r.contended);
    CHECK(r.ok >= kReadsPerReader);
    CHECK(r.torn == 0);
    CHECK(r.headerTorn == 0);
    CHECK(r.backwards == 0);
    CHECK(r.otherErrors == 0);
    CHECK(r.changes >= kMinValuesSeen);  // the writer really raced the reader
  }
  std::printf("    writer: %" PRIu64 " slot writes\n", writes.load());
}

TEST(seqlock_stuck_odd_never_hangs) {
  // In memory: a seq left odd by a writer that died mid-write.
  Image img(slot::kSize);
  storeU64(img.p + slot::kSeq, 41);
  uint8_t out[slot::kDataSize];
  Error e;
  auto t0 = Clock::now();
  CHECK(!seqlockRead(img.p + slot::kSeq, img.p + slot::kData, out, slot::kDataSize, e));
  long long ms = msSince(t0);
  CHECK_CODE(e, code::kContended);
  CHECK(ms < 1000);
  storeU64(img.p + slot::kSeq, 42);
  Error e2;
  CHECK(seqlockRead(img.p + slot::kSeq, img.p + slot::kData, out, slot::kDataSize, e2));

  // Through a region: a slot and the header left odd.
  Key k = makeKey("stuck-odd");
  Error err;
  auto w = createRegion(k, 3, err);
  CHECK(w != nullptr);
  if (!w) return;
  SlotData d;
  d.setU32(slot_data::kState, kUsed);
  w->writeSlot(1, d.bytes);
  auto r = openRegion(k, false, err);
  CHECK(r != nullptr);
  RawMapping raw(k.name);
  CHECK(raw.ok);
  if (!r || !raw.ok) return;
  uint64_t seq = loadU64(raw.slot(1) + slot::kSeq);
  CHECK(seq % 2 == 0 && seq > 0);
  storeU64(raw.slot(1) + slot::kSeq, seq + 1);

  uint8_t rec[kRecordSize];
  Error se;
  t0 = Clock::now();
  CHECK(!readSlot(*r, 1, rec, se));
  CHECK_CODE(se, code::kContended);
  CHECK(msSince(t0) < 2000);  // the writer is alive here: it is given up to 1 s
  Error ok0;
  CHECK(readSlot(*r, 0, rec, ok0));  // other slots are unaffected
  std::vector<uint8_t> all(kRecordSize * 3);
  uint32_t count = 0;
  Error ue;
  t0 = Clock::now();
  CHECK(!readUsedSlots(*r, all.data(), all.size(), count, ue));
  CHECK_CODE(ue, code::kContended);
  CHECK(msSince(t0) < 2000);

  uint64_t hseq = loadU64(raw.m.base + header::kSeq);
  storeU64(raw.m.base + header::kSeq, hseq | 1);
  uint8_t h[header::kDataSize];
  Error he;
  t0 = Clock::now();
  CHECK(!readHeaderData(*r, h, he));
  CHECK_CODE(he, code::kContended);
  CHECK(msSince(t0) < 2000);

  storeU64(raw.slot(1) + slot::kSeq, seq + 2);  // a writer finishing late
  Error again;
  CHECK(readSlot(*r, 1, rec, again));
  w.reset();
  // A dead writer (lock released) left a slot mid-write: give up at the first bound.
  storeU64(raw.slot(1) + slot::kSeq, seq + 3);
  Error dead;
  t0 = Clock::now();
  CHECK(!readSlot(*r, 1, rec, dead));
  CHECK_CODE(dead, code::kContended);
  CHECK(msSince(t0) < 500);
  r.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}

TEST(every_read_part_waits_for_a_live_writer_by_one_rule) {
  // A live writer descheduled mid-write (seq odd for 100 ms, far past
  // seqlockRead's 20 ms): every part of the one read path waits for it
  // instead of failing, summary records included.
  Key k = makeKey("one-rule");
  Error err;
  auto w = createRegion(k, 3, err);
  CHECK(w != nullptr);
  if (!w) return;
  SlotData d;
  d.setU32(slot_data::kState, kUsed);
  d.setStr(slot_data::kServerId, "b");
  w->writeSlot(1, d.bytes);
  auto r = openRegion(k, false, err);
  RawMapping raw(k.name);
  CHECK(r != nullptr && raw.ok);
  if (!r || !raw.ok) return;
  std::vector<uint8_t> img(Region::imageBytes(image::kPartDetail, 3));
  std::vector<uint32_t> known(6, 1);
  struct Case {
    uint32_t parts;
    uint8_t* seq;
  };
  const Case cases[] = {{image::kPartSlots, raw.slot(1) + slot::kSeq},
                        {image::kPartDetail, raw.slot(1) + slot::kSeq},
                        {image::kPartWriter, raw.m.base + header::kSeq}};
  for (const Case& c : cases) {
    const uint64_t seq = loadU64(c.seq);
    storeU64(c.seq, seq + 1);
    std::thread finish([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      storeU64(c.seq, seq + 2, std::memory_order_release);
    });
    uint32_t count = 0;
    Error e;
    const bool ok = r->read(img.data(), img.size(), c.parts, -1, known.data(), count, e);
    finish.join();
    CHECK(ok);
    if (!ok) std::printf("    parts %u: %s %s\n", c.parts, e.code ? e.code : "?", e.message.c_str());
    if (c.parts != image::kPartWriter) CHECK(count == 1);
  }
  r.reset();
  w.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}

// ---- counters ---------------------------------------------------------------

TEST(counters_exact_across_threads) {
  Key k = makeKey("counters");
  Error err;
  auto w = createRegion(k, 2, err);
  CHECK(w != nullptr);
  if (!w) return;
  constexpr int kThreads = 4;
  constexpr uint64_t kAdds = 1000000;
  std::atomic<bool> stop{false};
  // The writer keeps rewriting the slot's seqlocked data meanwhile: the
  // counters live on their own line and must not be disturbed.
  std::thread writer([&] {
    SlotData d;
    d.setU32(slot_data::kState, kUsed);
    for (uint64_t v = 0; !stop.load(std::memory_order_relaxed); v++) {
      d.setU64(slot_data::kGeneration, v);
      w->writeSlot(0, d.bytes);
      std::this_thread::yield();
    }
  });
  std::atomic<uint64_t> problems{0};
  std::vector<std::thread> adders;
  for (int t = 0; t < kThreads; t++) {
    adders.emplace_back([&] {
      Error e;
      auto r = openRegion(k, true, e);  // one writable, non-writer mapping per thread
      if (!r || !r->writable() || r->isWriter()) {
        problems++;
        return;
      }
      uint64_t prev = 0;
      for (uint64_t i = 0; i < kAdds; i++) {
        uint64_t now = r->addCounter(0, 0, 1);
        if (now <= prev) problems++;
        prev = now;
        if (i % 4 == 0) r->addCounter(0, 1, 3);
      }
    });
  }
  for (auto& th : adders) th.join();
  stop = true;
  writer.join();
  CHECK(problems.load() == 0);
  uint8_t rec[kRecordSize];
  Error e;
  CHECK(readSlot(*w, 0, rec, e));
  uint64_t sent = getU64(rec + slot::kDataSize), received = getU64(rec + slot::kDataSize + 8);
  std::printf("    bytesSent %" PRIu64 ", bytesReceived %" PRIu64 "\n", sent, received);
  CHECK(sent == kThreads * kAdds);
  CHECK(received == kThreads * (kAdds / 4) * 3);
  CHECK(getU32(rec + slot_data::kState) == kUsed);
  CHECK(readSlot(*w, 1, rec, e));
  CHECK(getU64(rec + slot::kDataSize) == 0);  // the neighbour slot is untouched
  w.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}

#if !defined(_WIN32)
TEST(counters_exact_across_processes) {
  Key k = makeKey("counters-procs");
  Error err;
  auto w = createRegion(k, 1, err);
  CHECK(w != nullptr);
  if (!w) return;
  constexpr int kProcs = 4;
  constexpr uint64_t kAdds = 250000;
  std::fflush(nullptr);
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; p++) {
    pid_t pid = fork();
    if (pid == 0) {
      Error e;
      auto r = openRegion(k, true, e);
      if (!r) _exit(2);
      for (uint64_t i = 0; i < kAdds; i++) r->addCounter(0, 1, 2);
      r.reset();
      _exit(0);
    }
    CHECK(pid > 0);
    if (pid > 0) kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  uint8_t rec[kRecordSize];
  Error e;
  CHECK(readSlot(*w, 0, rec, e));
  CHECK(getU64(rec + slot::kDataSize + 8) == kProcs * kAdds * 2);
  w.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}
#endif

TEST(counters_saturate) {
  Image cell(8);
  CHECK(counterAdd(cell.p, UINT64_MAX - 1) == UINT64_MAX - 1);
  CHECK(counterAdd(cell.p, 1) == UINT64_MAX);
  CHECK(counterAdd(cell.p, 1) == UINT64_MAX);
  CHECK(counterAdd(cell.p, UINT64_MAX) == UINT64_MAX);
  CHECK(counterAdd(cell.p, 0) == UINT64_MAX);
  CHECK(counterLoad(cell.p) == UINT64_MAX);

  Key k = makeKey("saturate");
  Error err;
  auto w = createRegion(k, 1, err);
  CHECK(w != nullptr);
  if (!w) return;
  CHECK(w->addCounter(0, 0, UINT64_MAX - 5) == UINT64_MAX - 5);
  CHECK(w->addCounter(0, 0, 3) == UINT64_MAX - 2);
  CHECK(w->addCounter(0, 0, 10) == UINT64_MAX);
  CHECK(w->addCounter(0, 0, 1) == UINT64_MAX);
  // Racing adds near the top still end exactly at the ceiling.
  CHECK(w->addCounter(0, 1, UINT64_MAX - 1000) == UINT64_MAX - 1000);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < 1000; i++) w->addCounter(0, 1, 7);
    });
  for (auto& th : ts) th.join();
  uint8_t rec[kRecordSize];
  Error e;
  CHECK(readSlot(*w, 0, rec, e));
  CHECK(getU64(rec + slot::kDataSize) == UINT64_MAX);
  CHECK(getU64(rec + slot::kDataSize + 8) == UINT64_MAX);
  // A slot reused for a new peer starts from zero again.
  w->resetCounters(0);
  CHECK(readSlot(*w, 0, rec, e));
  CHECK(getU64(rec + slot::kDataSize) == 0 && getU64(rec + slot::kDataSize + 8) == 0);
  CHECK(w->addCounter(0, 0, 5) == 5);
  w.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}

// ---- liveness and takeover ----------------------------------------------------

TEST(second_writer_is_refused) {
  Key k = makeKey("second-writer");
  Error err;
  auto w = createRegion(k, 2, err);
  CHECK(w != nullptr);
  if (!w) return;
  SlotData d;
  d.setU32(slot_data::kState, kUsed);
  d.setU64(slot_data::kGeneration, 99);
  w->writeSlot(0, d.bytes);
  uint64_t gen = w->generation();

  // flock is per open file description, so a second create in this very
  // process is refused just like one from another process.
  Error e2;
  bool tookOver = true;
  auto second = createRegion(k, 2, e2, &tookOver);
  CHECK(second == nullptr);
  CHECK_CODE(e2, code::kWriterAlive);
  CHECK(e2.message.find("pid " + std::to_string(os::currentPid())) != std::string::npos);
  CHECK(!tookOver);
  // Also with another capacity: never replace a live writer's region.
  Error e3;
  CHECK(createRegion(k, 3, e3) == nullptr);
  CHECK_CODE(e3, code::kWriterAlive);

  // The refused attempts changed nothing.
  CHECK(w->isWriter());
  CHECK(w->generation() == gen);
  CHECK(w->writerInfo().state == kRunning);
  auto r = openRegion(k, false, err);
  CHECK(r != nullptr);
  if (!r) return;
  CHECK(r->writerInfo().alive);
  uint8_t rec[kRecordSize];
  Error e;
  CHECK(readSlot(*r, 0, rec, e));
  CHECK(std::memcmp(rec, d.bytes, slot::kDataSize) == 0);
  w.reset();
  r.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}

TEST(takeover_keeps_seqlocks_monotonic) {
  Key k = makeKey("takeover");
  constexpr uint32_t kCap = 4;
  Error err;
  auto w = createRegion(k, kCap, err);
  CHECK(w != nullptr);
  if (!w) return;
  for (uint32_t i = 0; i < kCap; i++) {
    SlotData d;
    d.setU32(slot_data::kState, kUsed);
    d.setU64(slot_data::kGeneration, 10 + i);
    d.setStr(slot_data::kServerId, "peer");
    for (uint32_t n = 0; n <= i; n++) w->writeSlot(i, d.bytes);  // different seqs per slot
    w->addCounter(i, 0, 1000 + i);
    w->addCounter(i, 1, 2000 + i);
  }
  uint8_t hdr[header::kDataSize];
  std::memset(hdr, 0xAB, sizeof(hdr));
  w->writeHeaderData(hdr);

  auto r = openRegion(k, false, err);  // a reader mapped across the takeover
  RawMapping raw(k.name);
  CHECK(r != nullptr && raw.ok);
  if (!r || !raw.ok) return;
  // The writer "dies" mid-write of slot 2 and of the header.
  storeU64(raw.slot(2) + slot::kSeq, loadU64(raw.slot(2) + slot::kSeq) + 1);
  storeU64(raw.m.base + header::kSeq, loadU64(raw.m.base + header::kSeq) + 1);
  uint64_t seqBefore[kCap];
  for (uint32_t i = 0; i < kCap; i++) seqBefore[i] = loadU64(raw.slot(i) + slot::kSeq);
  uint64_t hseqBefore = loadU64(raw.m.base + header::kSeq);
  uint64_t genBefore = r->generation();

  w->close();  // drops the lock but leaves the object, as a dead process would
  CHECK(aliveBecomes(*r, false));

  bool tookOver = false;
  Error cerr;
  auto w2 = createRegion(k, kCap, cerr, &tookOver);
  CHECK(w2 != nullptr);
  if (!w2) return;
  CHECK(tookOver);
  CHECK(w2->isWriter());
  CHECK(w2->name() == k.name);
  CHECK(!r->replaced());  // reused in place: the old reader follows along
  WriterInfo wi = r->writerInfo();
  CHECK(aliveBecomes(*r, true));
  CHECK(wi.state == kRunning);
  CHECK(wi.pid == os::currentPid());
  CHECK(wi.generation > genBefore);

  // A seq the dead writer left odd stays odd until its data is rewritten:
  // the takeover's one write moves it straight to the next even value, so
  // no reader ever sees an even seq over the half-written bytes. (Making it
  // even first and then writing would end 3 past it.)
  CHECK(loadU64(raw.slot(2) + slot::kSeq) == seqBefore[2] + 1);
  CHECK(loadU64(raw.m.base + header::kSeq) == hseqBefore + 1);
  for (uint32_t i = 0; i < kCap; i++) {
    uint64_t s = loadU64(raw.slot(i) + slot::kSeq);
    CHECK(s % 2 == 0);
    CHECK(s > seqBefore[i]);
    uint8_t rec[kRecordSize];
    Error e;
    CHECK(readSlot(*r, i, rec, e));
    CHECK(getU32(rec + slot_data::kState) == 0);  // free
    CHECK(getU64(rec + slot_data::kGeneration) == 10 + i + 1);
    CHECK(getU64(rec + slot_data::kServerId) == 0);
    CHECK(getU64(rec + slot::kDataSize) == 0 && getU64(rec + slot::kDataSize + 8) == 0);
  }
  uint64_t hseq = loadU64(raw.m.base + header::kSeq);
  CHECK(hseq % 2 == 0 && hseq > hseqBefore);
  uint8_t h[header::kDataSize];
  Error he;
  CHECK(readHeaderData(*r, h, he));
  CHECK(std::all_of(h, h + image::kHeaderDataCopied, [](uint8_t b) { return b == 0; }));
  std::vector<uint8_t> all(kRecordSize * kCap);
  uint32_t count = 99;
  Error ue;
  CHECK(readUsedSlots(*r, all.data(), all.size(), count, ue));
  CHECK(count == 0);

  w2.reset();
  r.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}

#if !defined(_WIN32)
TEST(takeover_of_a_killed_writer) {
  // A real dead writer: a child creates the region, leaves a slot mid-write
  // and exits without closing. The OS drops its flock.
  Key k = makeKey("killed-writer");
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    Error e;
    auto w = createRegion(k, 2, e);
    if (!w) _exit(2);
    SlotData d;
    d.setU32(slot_data::kState, kUsed);
    d.setU64(slot_data::kGeneration, 5);
    w->writeSlot(1, d.bytes);
    RawMapping raw(k.name);
    if (!raw.ok) _exit(3);
    storeU64(raw.slot(1) + slot::kSeq, loadU64(raw.slot(1) + slot::kSeq) + 1);
    _exit(0);  // no close(), no destructors: like kill -9
  }
  CHECK(pid > 0);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  Error err;
  auto r = openRegion(k, false, err);
  CHECK(r != nullptr);
  if (!r) return;
  WriterInfo wi = r->writerInfo();
  CHECK(!wi.alive);
  CHECK(wi.pid == static_cast<uint32_t>(pid));
  CHECK(wi.state == kRunning);  // it never published "stopped"
  uint8_t rec[kRecordSize];
  Error se;
  CHECK(!readSlot(*r, 1, rec, se));
  CHECK_CODE(se, code::kContended);

  bool tookOver = false;
  auto w = createRegion(k, 2, err, &tookOver);
  CHECK(w != nullptr);
  if (!w) return;
  CHECK(tookOver);
  Error e;
  CHECK(readSlot(*r, 1, rec, e));
  CHECK(getU64(rec + slot_data::kGeneration) == 6);
  CHECK(aliveBecomes(*r, true));
  CHECK(r->writerInfo().pid == os::currentPid());
  w.reset();
  r.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}

TEST(takeover_with_another_capacity_replaces_the_object) {
  Key k = makeKey("recreate");
  Error err;
  auto w = createRegion(k, 2, err);
  CHECK(w != nullptr);
  if (!w) return;
  auto r = openRegion(k, false, err);
  CHECK(r != nullptr);
  if (!r) return;
  w->close();
  bool tookOver = false;
  auto w2 = createRegion(k, 5, err, &tookOver);
  CHECK(w2 != nullptr);
  if (!w2) return;
  CHECK(tookOver);
  CHECK(w2->layout().capacity == 5);
  CHECK(r->replaced());              // the old reader learns to reopen by name
  CHECK(r->layout().capacity == 2);  // and keeps its own validated sizes
  CHECK(aliveBecomes(*r, false));
  auto r2 = openRegion(k, false, err);
  CHECK(r2 != nullptr && r2->layout().capacity == 5 && r2->writerInfo().alive);
  w2.reset();
  r.reset();
  r2.reset();
  Error ignored;
  os::unlink(k.name, ignored);
}

// Makes a POSIX object by hand with a given mode and size, bypassing commy.
int makeObject(const std::string& name, mode_t mode, off_t size) {
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return -1;
  if (fchmod(fd, mode) != 0 || (size > 0 && ftruncate(fd, size) != 0)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void writeImage(int fd, uint32_t capacity, const Key& k, size_t mapBytes) {
  void* p = mmap(nullptr, mapBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return;
  initializeRegion(static_cast<uint8_t*>(p), capacity, k.cluster, k.serverId, 1, 1);
  munmap(p, mapBytes);
}

TEST(hostile_objects_are_refused) {
  Error err;
  {  // Garbage in an object we own: readers refuse it, a writer replaces it.
    Key k = makeKey("garbage");
    os::Mapping m;
    CHECK(os::createNew(k.name, static_cast<size_t>(totalSizeFor(2)), os::Access{}, m, err));
    CHECK(os::publish(m, false, err));
    std::memset(m.base, 0x5A, m.size);
    os::close(m);
    Error e;
    CHECK(openRegion(k, false, e) == nullptr);
    CHECK_CODE(e, code::kBadMagic);
    bool tookOver = false;
    auto w = createRegion(k, 2, err, &tookOver);
    CHECK(w != nullptr && tookOver);
    Error e2;
    auto r = openRegion(k, false, e2);
    CHECK(r != nullptr);
    w.reset();
    r.reset();
    os::unlink(k.name, err);
  }
  {  // Size 0 while its creator (holding the writer lock) has not sized it
     // yet: readers and would-be writers wait; nobody removes it.
    Key k = makeKey("empty-in-progress");
    int fd = makeObject(k.name, 0600, 0);
    CHECK(fd >= 0);
    CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
    Error e;
    CHECK(openRegion(k, false, e) == nullptr);
    CHECK_CODE(e, code::kNotReady);
    Error e2;
    CHECK(createRegion(k, 1, e2) == nullptr);
    CHECK_CODE(e2, code::kNotReady);
    int again = shm_open(k.name.c_str(), O_RDONLY, 0);
    CHECK(again >= 0);  // still there
    if (again >= 0) ::close(again);
    if (fd >= 0) ::close(fd);  // the creator dies before sizing it
    // Size 0 and unlocked: a dead creator's leftover. Readers still see
    // "not ready"; the next writer removes it and creates a fresh region.
    Error e3;
    CHECK(openRegion(k, false, e3) == nullptr);
    CHECK_CODE(e3, code::kNotReady);
    bool tookOver = true;
    Error e4;
    auto w = createRegion(k, 1, e4, &tookOver);
    CHECK(w != nullptr);
    CHECK(!tookOver);
    CHECK(w && w->layout().capacity == 1 && w->isWriter());
    w.reset();
    os::unlink(k.name, err);
  }
  {  // Truncated below the size its header declares.
    Key k = makeKey("truncated");
    int fd = makeObject(k.name, 0600, 2048);
    CHECK(fd >= 0);
    if (fd >= 0) {
      writeImage(fd, 4, k, 2048);
      ::close(fd);
    }
    Error e;
    CHECK(openRegion(k, false, e) == nullptr);
    CHECK_CODE(e, code::kBadLayout);
    os::unlink(k.name, err);
  }
  {  // Larger than any valid region.
    Key k = makeKey("huge");
    int fd = makeObject(k.name, 0600, static_cast<off_t>(totalSizeFor(kMaxCapacity) * 2 + 4096));
    CHECK(fd >= 0);
    if (fd >= 0) ::close(fd);
    Error e;
    CHECK(openRegion(k, false, e) == nullptr);
    CHECK_CODE(e, code::kBadLayout);
    os::unlink(k.name, err);
  }
  {  // Writable by others: nobody trusts it.
    Key k = makeKey("world-writable");
    int fd = makeObject(k.name, 0666, static_cast<off_t>(totalSizeFor(1)));
    CHECK(fd >= 0);
    if (fd >= 0) {
      writeImage(fd, 1, k, static_cast<size_t>(totalSizeFor(1)));
      ::close(fd);
    }
    Error e;
    CHECK(openRegion(k, false, e) == nullptr);
    CHECK_CODE(e, code::kUntrusted);
    Error e2;
    CHECK(createRegion(k, 1, e2) == nullptr);
    CHECK_CODE(e2, code::kUntrusted);
    os::unlink(k.name, err);
  }
  {  // Group-readable (a readers group): a reader may map it; the writer adopts
     // its own object and applies its own access rule (here: owner only).
    Key k = makeKey("group-readable");
    int fd = makeObject(k.name, 0640, static_cast<off_t>(totalSizeFor(1)));
    CHECK(fd >= 0);
    if (fd >= 0) {
      writeImage(fd, 1, k, static_cast<size_t>(totalSizeFor(1)));
      ::close(fd);
    }
    Error e;
    auto r = openRegion(k, false, e);
    CHECK(r != nullptr);
    r.reset();
    Error e2;
    auto w = createRegion(k, 1, e2);
    CHECK(w != nullptr);
    struct stat st;
    CHECK(::stat(("/dev/shm" + k.name).c_str(), &st) == 0 && (st.st_mode & 0777) == 0600);
    w.reset();
    os::unlink(k.name, err);
  }
  {  // Group- or other-writable: nobody adopts or reads it.
    Key k = makeKey("group-writable");
    int fd = makeObject(k.name, 0620, static_cast<off_t>(totalSizeFor(1)));
    CHECK(fd >= 0);
    if (fd >= 0) {
      writeImage(fd, 1, k, static_cast<size_t>(totalSizeFor(1)));
      ::close(fd);
    }
    Error e, e2;
    CHECK(openRegion(k, false, e) == nullptr);
    CHECK_CODE(e, code::kUntrusted);
    CHECK(createRegion(k, 1, e2) == nullptr);
    CHECK_CODE(e2, code::kUntrusted);
    os::unlink(k.name, err);
  }
}

TEST(created_regions_are_owner_only_whatever_the_umask) {
  Key k = makeKey("umask");
  mode_t old = umask(0);
  Error err;
  auto w = createRegion(k, 1, err);
  umask(old);
  CHECK(w != nullptr);
  if (!w) return;
  int fd = shm_open(k.name.c_str(), O_RDONLY, 0);
  CHECK(fd >= 0);
  if (fd >= 0) {
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_uid == geteuid());
    CHECK(static_cast<uint64_t>(st.st_size) == totalSizeFor(1));
    ::close(fd);
  }
  w.reset();
  os::unlink(k.name, err);
}
#endif  // !_WIN32

// ---- main -------------------------------------------------------------------

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  auto start = Clock::now();
  for (const TestCase& t : registry()) {
    if (filter && !std::strstr(t.name, filter)) continue;
    std::printf("[ RUN  ] %s\n", t.name);
    std::fflush(stdout);
    gFailures = 0;
    auto t0 = Clock::now();
    t.fn();
    long long ms = msSince(t0);
    if (gFailures.load() == 0) {
      passed++;
      std::printf("[  OK  ] %s (%lld ms)\n", t.name, ms);
    } else {
      failed++;
      std::printf("[ FAIL ] %s: %d check(s) failed (%lld ms)\n", t.name, gFailures.load(), ms);
    }
    std::fflush(stdout);
  }
  unlinkAll();
  std::printf("total %lld ms\n", msSince(start));
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
