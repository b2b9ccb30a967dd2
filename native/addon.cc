// Node-API surface of the native core: thin methods only. Option checking and
// API shaping live in lib/region.ts; this file converts types and errors.
#include <napi.h>

#include <cstring>

#include "core.h"
#include "platform.h"
#include "region.h"

namespace commy {

namespace {

[[noreturn]] void throwError(Napi::Env env, const Error& e) {
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, e.code ? e.code : code::kOs));
  throw err;
}

[[noreturn]] void throwCode(Napi::Env env, const char* c, const std::string& m) {
  Error e;
  e.set(c, m);
  throwError(env, e);
}

std::string stringArg(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throwCode(o.Env(), code::kInvalidArg, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool boolArg(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

Napi::Buffer<uint8_t> bufferArg(const Napi::CallbackInfo& info, size_t i, size_t minBytes, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throwCode(info.Env(), code::kInvalidArg, std::string(what) + " must be a Buffer");
  auto b = info[i].As<Napi::Buffer<uint8_t>>();
  if (b.Length() < minBytes)
    throwCode(info.Env(), code::kInvalidArg,
              std::string(what) + " must hold at least " + std::to_string(minBytes) + " bytes");
  return b;
}

}  // namespace

class RegionWrap : public Napi::ObjectWrap<RegionWrap> {
 public:
  static constexpr size_t kCompactWriterBytes = 64;
  static constexpr size_t kCompactRecords = kCompactWriterBytes + header::kDataSize;
  static constexpr size_t kCompactHeaderBytes = header_data::kRejectedFrames;  // all but the rejection counts

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Region",
                       {
                           InstanceMethod<&RegionWrap::Close>("close"),
                           InstanceMethod<&RegionWrap::Info>("info"),
                           InstanceMethod<&RegionWrap::ReadHeaderData>("readHeaderData"),
                           InstanceMethod<&RegionWrap::WriteHeaderData>("writeHeaderData"),
                           InstanceMethod<&RegionWrap::ReadSlot>("readSlot"),
                           InstanceMethod<&RegionWrap::WriteSlot>("writeSlot"),
                           InstanceMethod<&RegionWrap::ReadUsedSlots>("readUsedSlots"),
                           InstanceMethod<&RegionWrap::AddCounter>("addCounter"),
                           InstanceMethod<&RegionWrap::ResetCounters>("resetCounters"),
                           InstanceMethod<&RegionWrap::Touch>("touch"),
                           InstanceMethod<&RegionWrap::SetState>("setState"),
                           InstanceMethod<&RegionWrap::Generation>("generation"),
                           InstanceMethod<&RegionWrap::Replaced>("replaced"),
                           InstanceMethod<&RegionWrap::ReadCompact>("readCompact"),
                           InstanceMethod<&RegionWrap::Counters>("counters"),
                       });
  }

  // Only reachable from the static factories, which pass an External.
  explicit RegionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RegionWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throwCode(info.Env(), code::kInvalidArg, "use Region.create() or Region.open()");
    region_.reset(info[0].As<Napi::External<Region>>().Data());
  }

 private:
  Region& live(Napi::Env env) {
    if (!region_ || region_->closed()) throwCode(env, code::kClosed, "region is closed; open it again to keep reading");
    return *region_;
  }
  Region& writer(Napi::Env env) {
    Region& r = live(env);
    if (!r.isWriter()) throwCode(env, code::kReadOnly, "only the region's writer may change it");
    return r;
  }
  uint32_t slotIndex(const Napi::CallbackInfo& info, const Region& r) {
    if (info.Length() < 1 || !info[0].IsNumber())
      throwCode(info.Env(), code::kInvalidArg, "slot index must be a number");
    double d = info[0].As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d < r.layout().capacity) || d != static_cast<double>(static_cast<uint32_t>(d)))
      throwCode(info.Env(), code::kInvalidArg,
                "slot index must be an integer in 0.." + std::to_string(r.layout().capacity - 1));
    return static_cast<uint32_t>(d);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    // The one JS object that can alias the mapping is the counters buffer:
    // detach it first (its views turn empty, and V8 drops its backing store
    // now), so nothing in JS can reach the memory once it is unmapped.
    if (!counters_.IsEmpty()) {
      napi_value ab = counters_.Value();
      if (ab != nullptr) napi_detach_arraybuffer(info.Env(), ab);
      counters_.Reset();
    }
    if (region_) region_->close();  // idempotent
    return info.Env().Undefined();
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Region& r = live(env);
    WriterInfo w = r.writerInfo();
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", r.name());
    o.Set("cluster", r.layout().cluster);
    o.Set("serverId", r.layout().serverId);
    o.Set("capacity", r.layout().capacity);
    o.Set("versionMinor", r.layout().versionMinor);
    o.Set("isWriter", r.isWriter());
    o.Set("writerPid", w.pid);
    o.Set("state", w.state);
    o.Set("writerStartMs", static_cast<double>(w.startMs));
    o.Set("heartbeatMs", static_cast<double>(w.heartbeatMs));
    o.Set("generation", static_cast<double>(w.generation));
    o.Set("alive", w.alive);
    o.Set("nowMs", static_cast<double>(os::wallClockMs()));
    return o;
  }

  Napi::Value ReadHeaderData(const Napi::CallbackInfo& info) {
    Region& r = live(info.Env());
    auto b = bufferArg(info, 0, header::kDataSize, "header buffer");
    Error e;
    if (!r.readHeaderData(b.Data(), e)) throwError(info.Env(), e);
    return info.Env().Undefined();
  }

  Napi::Value WriteHeaderData(const Napi::CallbackInfo& info) {
    Region& r = writer(info.Env());
    auto b = bufferArg(info, 0, header::kDataSize, "header buffer");
    r.writeHeaderData(b.Data());
    return info.Env().Undefined();
  }

  Napi::Value ReadSlot(const Napi::CallbackInfo& info) {
    Region& r = live(info.Env());
    uint32_t i = slotIndex(info, r);
    auto b = bufferArg(info, 1, slot::kRecordSize, "slot buffer");
    Error e;
    if (!r.readSlot(i, b.Data(), e)) throwError(info.Env(), e);
    return info.Env().Undefined();
  }

  Napi::Value WriteSlot(const Napi::CallbackInfo& info) {
    Region& r = writer(info.Env());
    uint32_t i = slotIndex(info, r);
    auto b = bufferArg(info, 1, slot::kDataSize, "slot buffer");
    r.writeSlot(i, b.Data());
    return info.Env().Undefined();
  }

  Napi::Value ReadUsedSlots(const Napi::CallbackInfo& info) {
    Region& r = live(info.Env());
    auto b = bufferArg(info, 0, 0, "slots buffer");
    uint32_t count = 0;
    Error e;
    if (!r.readUsedSlots(b.Data(), b.Length(), count, e)) throwError(info.Env(), e);
    return Napi::Number::New(info.Env(), count);
  }

  Napi::Value AddCounter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Region& r = live(env);
    if (!r.writable()) throwCode(env, code::kReadOnly, "open the region with writable: true to add to counters");
    uint32_t i = slotIndex(info, r);
    if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber())
      throwCode(env, code::kInvalidArg, "addCounter(index, counter, amount) takes numbers");
    uint32_t which = info[1].As<Napi::Number>().Uint32Value();
    if (which >= slot::kCounterCount) throwCode(env, code::kInvalidArg, "counter must be 0 (sent) or 1 (received)");
    double amount = info[2].As<Napi::Number>().DoubleValue();
    if (!(amount >= 0 && amount <= 9007199254740991.0) || amount != static_cast<double>(static_cast<uint64_t>(amount)))
      throwCode(env, code::kInvalidArg, "amount must be a non-negative safe integer");
    r.addCounter(i, which, static_cast<uint64_t>(amount));
    return env.Undefined();
  }

  Napi::Value ResetCounters(const Napi::CallbackInfo& info) {
    Region& r = writer(info.Env());
    r.resetCounters(slotIndex(info, r));
    return info.Env().Undefined();
  }

  Napi::Value Touch(const Napi::CallbackInfo& info) {
    writer(info.Env()).touch(os::wallClockMs());
    return info.Env().Undefined();
  }

  Napi::Value SetState(const Napi::CallbackInfo& info) {
    Region& r = writer(info.Env());
    if (info.Length() < 1 || !info[0].IsNumber()) throwCode(info.Env(), code::kInvalidArg, "state must be a number");
    uint32_t s = info[0].As<Napi::Number>().Uint32Value();
    if (s > static_cast<uint32_t>(RegionState::kStopped)) throwCode(info.Env(), code::kInvalidArg, "unknown state");
    r.setState(static_cast<RegionState>(s));
    return info.Env().Undefined();
  }

  Napi::Value Generation(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env()).generation()));
  }

  Napi::Value Replaced(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live(info.Env()).replaced());
  }

  // readCompact(out, slot, withWriter, known?): compact records (see compact::
  // in region.h) after a 64-byte writer line (f64 pid, state, startMs,
  // heartbeatMs, generation, alive, nowMs; filled when withWriter) and the
  // header data up to the rejected-frame counters (filled when withWriter).
  // slot -1: every used slot; slot >= 0: that slot only. `known`: a
  // Uint32Array of 2 per slot (see Region::readCompact). Returns the record
  // count. One call gives ClusterView.snapshot() everything it shows.
  Napi::Value ReadCompact(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Region& r = live(env);
    auto b = bufferArg(info, 0, kCompactRecords, "compact buffer");
    if (info.Length() < 2 || !info[1].IsNumber()) throwCode(env, code::kInvalidArg, "slot must be a number");
    double d = info[1].As<Napi::Number>().DoubleValue();
    int64_t only = -1;
    if (d != -1) {
      if (!(d >= 0 && d < r.layout().capacity) || d != static_cast<double>(static_cast<uint32_t>(d)))
        throwCode(env, code::kInvalidArg,
                  "slot must be -1 or an integer in 0.." + std::to_string(r.layout().capacity - 1));
      only = static_cast<int64_t>(d);
    }
    const uint32_t* known = nullptr;
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
        throwCode(env, code::kInvalidArg, "known must be a Uint32Array");
      auto k = info[3].As<Napi::Uint32Array>();
      if (k.ElementLength() < 2 * size_t{r.layout().capacity})
        throwCode(env, code::kInvalidArg, "known must hold 2 entries per slot");
      known = k.Data();
    }
    uint8_t* out = b.Data();
    Error e;
    if (info.Length() > 2 && info[2].ToBoolean().Value()) {
      WriterInfo w = r.writerInfo();
      const double line[8] = {static_cast<double>(w.pid),
                              static_cast<double>(w.state),
                              static_cast<double>(w.startMs),
                              static_cast<double>(w.heartbeatMs),
                              static_cast<double>(w.generation),
                              w.alive ? 1.0 : 0.0,
                              static_cast<double>(os::wallClockMs()),
                              0.0};
      std::memcpy(out, line, sizeof(line));
      if (!r.readHeaderPrefix(out + kCompactWriterBytes, kCompactHeaderBytes, e)) throwError(env, e);
    }
    uint32_t count = 0;
    if (!r.readCompact(out + kCompactRecords, b.Length() - kCompactRecords, only, known, count, e)) throwError(env, e);
    return Napi::Number::New(env, count);
  }

  // counters(): {buffer, slotSize} where buffer is an external ArrayBuffer
  // over the slot array of a writable mapping, so JS can add to the byte
  // counters with Atomics; null for a read-only mapping or where the runtime
  // refuses external buffers (callers then use addCounter). At most one such
  // buffer per mapping, ever: repeated calls return the same one. Lifetime:
  // close() detaches it before unmapping; if instead this object is collected
  // first, the buffer's finalizer holds the Region, so the memory stays
  // mapped for as long as the buffer exists.
  Napi::Value Counters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Region& r = live(env);
    if (!r.writable() || countersRefused_) return env.Null();
    if (counters_.IsEmpty()) {
      auto* pin = new std::shared_ptr<Region>(region_);
      napi_value ab;
      napi_status st = napi_create_external_arraybuffer(
          env, r.slotArea(), r.slotAreaBytes(),
          [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<Region>*>(hint); }, pin, &ab);
      if (st != napi_ok) {
        delete pin;  // napi_no_external_buffers_allowed, or any refusal: JS falls back to addCounter
        countersRefused_ = true;
        return env.Null();
      }
      counters_ = Napi::Persistent(Napi::ArrayBuffer(env, ab));
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("buffer", counters_.Value());
    o.Set("slotSize", r.layout().slotSize);
    o.Set("counterOffset", static_cast<uint32_t>(slot::kCounters));
    return o;
  }

  std::shared_ptr<Region> region_;
  Napi::Reference<Napi::ArrayBuffer> counters_;
  bool countersRefused_ = false;
};

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    region_ = Napi::Persistent(RegionWrap::Define(env));
    DefineAddon(exports, {
      InstanceMethod<&Addon::Create>("create"), InstanceMethod<&Addon::Open>("open"),
          InstanceMethod<&Addon::OpenByName>("openByName"), InstanceMethod<&Addon::ObjectName>("objectName"),
          InstanceMethod<&Addon::ListNames>("listNames"), InstanceMethod<&Addon::Unlink>("unlink"),
          InstanceValue("layout", Layout(env), napi_enumerable),
          InstanceValue("platform",
#if defined(_WIN32)
                        Napi::String::New(env, "win32"),
#else
                                           Napi::String::New(env, "posix"),
#endif
                        napi_enumerable),
    });
  }

 private:
  static Napi::Object Layout(Napi::Env env) {
    Napi::Object l = Napi::Object::New(env);
    l.Set("versionMajor", kVersionMajor);
    l.Set("versionMinor", kVersionMinor);
    l.Set("maxCapacity", kMaxCapacity);
    l.Set("nameBytes", static_cast<uint32_t>(kNameBytes));
    l.Set("headerDataSize", static_cast<uint32_t>(header::kDataSize));
    l.Set("slotDataSize", static_cast<uint32_t>(slot::kDataSize));
    l.Set("slotRecordSize", static_cast<uint32_t>(slot::kRecordSize));
    l.Set("headerSize", static_cast<uint32_t>(header::kSize));
    l.Set("slotSize", static_cast<uint32_t>(slot::kSize));
    Napi::Object f = Napi::Object::New(env);  // fixed header fields, for tools and tests
    f.Set("magic", static_cast<uint32_t>(header::kMagic));
    f.Set("byteOrder", static_cast<uint32_t>(header::kByteOrder));
    f.Set("versionMajor", static_cast<uint32_t>(header::kVersionMajor));
    f.Set("versionMinor", static_cast<uint32_t>(header::kVersionMinor));
    f.Set("headerSize", static_cast<uint32_t>(header::kHeaderSize));
    f.Set("slotSize", static_cast<uint32_t>(header::kSlotSize));
    f.Set("capacity", static_cast<uint32_t>(header::kCapacity));
    f.Set("totalSize", static_cast<uint32_t>(header::kTotalSize));
    f.Set("cluster", static_cast<uint32_t>(header::kCluster));
    f.Set("serverId", static_cast<uint32_t>(header::kServerId));
    f.Set("magicValue", Napi::BigInt::New(env, kMagic));
    f.Set("byteOrderMark", kByteOrderMark);
    l.Set("fixed", f);
    Napi::Object h = Napi::Object::New(env);
    h.Set("listen", static_cast<uint32_t>(header_data::kListen));
    h.Set("listenBytes", static_cast<uint32_t>(header_data::kListenBytes));
    h.Set("heartbeatIntervalMs", static_cast<uint32_t>(header_data::kHeartbeatIntervalMs));
    h.Set("heartbeatTimeoutMs", static_cast<uint32_t>(header_data::kHeartbeatTimeoutMs));
    h.Set("suspectAfter", static_cast<uint32_t>(header_data::kSuspectAfter));
    h.Set("downAfter", static_cast<uint32_t>(header_data::kDownAfter));
    h.Set("eventLoopLagMs", static_cast<uint32_t>(header_data::kEventLoopLagMs));
    h.Set("maxEventLoopLagMs", static_cast<uint32_t>(header_data::kMaxEventLoopLagMs));
    h.Set("rejectedFrames", static_cast<uint32_t>(header_data::kRejectedFrames));
    h.Set("rejectedReasons", static_cast<uint32_t>(header_data::kRejectedReasons));
    l.Set("header", h);
    Napi::Object s = Napi::Object::New(env);
    s.Set("state", static_cast<uint32_t>(slot_data::kState));
    s.Set("status", static_cast<uint32_t>(slot_data::kStatus));
    s.Set("generation", static_cast<uint32_t>(slot_data::kGeneration));
    s.Set("missedHeartbeats", static_cast<uint32_t>(slot_data::kMissedHeartbeats));
    s.Set("connectionState", static_cast<uint32_t>(slot_data::kConnectionState));
    s.Set("lastSeenMs", static_cast<uint32_t>(slot_data::kLastSeenMs));
    s.Set("attemptCount", static_cast<uint32_t>(slot_data::kAttemptCount));
    s.Set("rttMicros", static_cast<uint32_t>(slot_data::kRttMicros));
    s.Set("nextRetryMs", static_cast<uint32_t>(slot_data::kNextRetryMs));
    s.Set("statusChangedMs", static_cast<uint32_t>(slot_data::kStatusChangedMs));
    s.Set("statusReason", static_cast<uint32_t>(slot_data::kStatusReason));
    s.Set("statusReasonBytes", static_cast<uint32_t>(slot_data::kStatusReasonBytes));
    s.Set("serverId", static_cast<uint32_t>(slot_data::kServerId));
    s.Set("address", static_cast<uint32_t>(slot_data::kAddress));
    s.Set("addressBytes", static_cast<uint32_t>(slot_data::kAddressBytes));
    s.Set("lastError", static_cast<uint32_t>(slot_data::kLastError));
    s.Set("lastErrorBytes", static_cast<uint32_t>(slot_data::kLastErrorBytes));
    s.Set("metadataLength", static_cast<uint32_t>(slot_data::kMetadataLength));
    s.Set("metadata", static_cast<uint32_t>(slot_data::kMetadata));
    s.Set("metadataBytes", static_cast<uint32_t>(slot_data::kMetadataBytes));
    s.Set("bytesSent", static_cast<uint32_t>(slot::kDataSize));
    s.Set("bytesReceived", static_cast<uint32_t>(slot::kDataSize + 8));
    l.Set("slot", s);
    Napi::Object st = Napi::Object::New(env);
    st.Set("initializing", static_cast<uint32_t>(RegionState::kInitializing));
    st.Set("running", static_cast<uint32_t>(RegionState::kRunning));
    st.Set("stopped", static_cast<uint32_t>(RegionState::kStopped));
    l.Set("regionState", st);
    Napi::Object c = Napi::Object::New(env);  // readCompact() output, see compact:: in region.h
    c.Set("writerBytes", static_cast<uint32_t>(RegionWrap::kCompactWriterBytes));
    c.Set("recordsOffset", static_cast<uint32_t>(RegionWrap::kCompactRecords));
    c.Set("headerBytes", static_cast<uint32_t>(RegionWrap::kCompactHeaderBytes));
    c.Set("recordSize", static_cast<uint32_t>(compact::kRecordSize));
    c.Set("seq", static_cast<uint32_t>(compact::kSeq));
    c.Set("index", static_cast<uint32_t>(compact::kIndex));
    c.Set("bytesSent", static_cast<uint32_t>(compact::kBytesSent));
    c.Set("bytesReceived", static_cast<uint32_t>(compact::kBytesReceived));
    c.Set("data", static_cast<uint32_t>(compact::kData));
    c.Set("dataBytes", static_cast<uint32_t>(compact::kDataBytes));
    l.Set("compact", c);
    return l;
  }

  Napi::Value Wrap(Napi::Env env, std::unique_ptr<Region> r) {
    return region_.New({Napi::External<Region>::New(env, r.release())});
  }

  Napi::Value Create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throwCode(env, code::kInvalidArg, "create() takes an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    Region::CreateOptions c;
    c.cluster = stringArg(o, "cluster");
    c.serverId = stringArg(o, "serverId");
    c.global = boolArg(o, "global");
    Napi::Value cap = o.Get("capacity");
    if (!cap.IsNumber()) throwCode(env, code::kInvalidArg, "capacity must be a number");
    c.capacity = cap.As<Napi::Number>().Uint32Value();
    Error e;
    bool tookOver = false;
    auto r = Region::create(c, e, &tookOver);
    if (!r) throwError(env, e);
    Napi::Object obj = Wrap(env, std::move(r)).As<Napi::Object>();
    obj.Set("tookOver", tookOver);
    return obj;
  }

  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throwCode(env, code::kInvalidArg, "open() takes an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    Region::OpenOptions op;
    op.cluster = stringArg(o, "cluster");
    op.serverId = stringArg(o, "serverId");
    op.global = boolArg(o, "global");
    op.writable = boolArg(o, "writable");
    Error e;
    auto r = Region::open(op, e);
    if (!r) throwError(env, e);
    return Wrap(env, std::move(r));
  }

  Napi::Value OpenByName(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throwCode(env, code::kInvalidArg, "name must be a string");
    Error e;
    auto r = Region::openByName(info[0].As<Napi::String>().Utf8Value(), false, e);
    if (!r) throwError(env, e);
    return Wrap(env, std::move(r));
  }

  Napi::Value ObjectName(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
      throwCode(env, code::kInvalidArg, "objectName(cluster, serverId, global?)");
    bool global = info.Length() > 2 && info[2].ToBoolean().Value();
    return Napi::String::New(
        env, os::objectName(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), global));
  }

  Napi::Value ListNames(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<std::string> names;
    if (!os::listNames(names)) return env.Null();
    Napi::Array a = Napi::Array::New(env, names.size());
    for (size_t i = 0; i < names.size(); i++) a.Set(static_cast<uint32_t>(i), names[i]);
    return a;
  }

  Napi::Value Unlink(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throwCode(env, code::kInvalidArg, "name must be a string");
    Error e;
    if (!os::unlink(info[0].As<Napi::String>().Utf8Value(), e)) {
      if (e.code == code::kNotFound) return Napi::Boolean::New(env, false);
      throwError(env, e);
    }
    return Napi::Boolean::New(env, true);
  }

  Napi::FunctionReference region_;
};

}  // namespace commy

using CommyAddon = commy::Addon;
NODE_API_ADDON(CommyAddon)
