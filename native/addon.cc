// Node-API surface of the native core: thin methods only. Option checking and
// API shaping live in lib/region/; this file converts types and errors.
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <optional>

#include "change_waiter.h"
#include "core.h"
#include "loop_waiter.h"
#include "platform.h"
#include "region.h"

namespace commy {

// The CommyError class that lib/binding.ts hands over at load, held by the
// Addon (Node-API instance data: each worker thread has its own).
Napi::FunctionReference* errorClassOf(Napi::Env env);

namespace {

// Throws new CommyError(code, message), or a plain Error with a `code` before
// lib/binding.ts has called setErrorClass (nothing else loads the addon).
[[noreturn]] void throwError(Napi::Env env, const Error& e) {
  const char* c = e.code ? e.code : code::kOs;
  Napi::FunctionReference* errorClass = errorClassOf(env);
  if (errorClass && !errorClass->IsEmpty())
    throw Napi::Error(env, errorClass->New({Napi::String::New(env, c), Napi::String::New(env, e.message)}));
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, c));
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

// An absent (undefined) option reads as "".
std::string optionalStringArg(const Napi::Object& o, const char* key) {
  return o.Get(key).IsUndefined() ? std::string() : stringArg(o, key);
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

// The event loop's own wait where the OS gives a change descriptor (Linux),
// else a waiting thread. COMMY_CHANGE_WAITER=thread forces the thread (tests
// and the notify benchmark run both ways on Linux).
std::unique_ptr<ChangeWaiter> makeChangeWaiter(Napi::Env env, const std::shared_ptr<Region>& region) {
#if defined(COMMY_LOOP_WAITER)
  const char* force = std::getenv("COMMY_CHANGE_WAITER");
  if (!(force && std::strcmp(force, "thread") == 0))
    if (auto w = LoopWaiter::open(env, region)) return w;
#else
  (void)env;
#endif
  return std::make_unique<ThreadWaiter>(region);
}

}  // namespace

class RegionWrap : public Napi::ObjectWrap<RegionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Region",
                       {
                           InstanceMethod<&RegionWrap::Close>("close"),
                           InstanceMethod<&RegionWrap::Info>("info"),
                           InstanceMethod<&RegionWrap::Read>("read"),
                           InstanceMethod<&RegionWrap::WriteHeaderData>("writeHeaderData"),
                           InstanceMethod<&RegionWrap::WriteSlot>("writeSlot"),
                           InstanceMethod<&RegionWrap::AddCounter>("addCounter"),
                           InstanceMethod<&RegionWrap::ResetCounters>("resetCounters"),
                           InstanceMethod<&RegionWrap::Touch>("touch"),
                           InstanceMethod<&RegionWrap::SetState>("setState"),
                           InstanceMethod<&RegionWrap::UnlinkName>("unlinkName"),
                           InstanceMethod<&RegionWrap::StatusSeq>("statusSeq"),
                           InstanceMethod<&RegionWrap::CanWait>("canWait"),
                           InstanceMethod<&RegionWrap::WaitForChange>("waitForChange"),
                           InstanceMethod<&RegionWrap::CancelWait>("cancelWait"),
                           InstanceMethod<&RegionWrap::Generation>("generation"),
                           InstanceMethod<&RegionWrap::Replaced>("replaced"),
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

  // statusSeq(): the header's status sequence (0 in a minor-0 region).
  Napi::Value StatusSeq(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env()).statusSeq());
  }
  Napi::Value CanWait(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live(info.Env()).canWait());
  }
  // waitForChange(expected, timeoutMs[, writerAlive]): a promise of
  // "changed", "timeout", "writer", "replaced", "unsupported", "cancelled" or "closed"
  // (see ChangeWaiter). timeoutMs -1: no timeout. One at a time.
  Napi::Value WaitForChange(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
      throwCode(env, code::kInvalidArg, "waitForChange(expected, timeoutMs[, writerAlive]) takes numbers");
    double t = info[1].As<Napi::Number>().DoubleValue();
    if (!(t == -1 || (t >= 0 && t <= 2147483647.0)))
      throwCode(env, code::kInvalidArg, "timeoutMs must be -1 (none) or 0..2147483647");
    std::optional<bool> alive;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsBoolean()) throwCode(env, code::kInvalidArg, "writerAlive must be a boolean");
      alive = info[2].As<Napi::Boolean>().Value();
    }
    if (!waiter_) waiter_ = makeChangeWaiter(env, region_);
    if (waiter_->pending()) throwCode(env, code::kInvalidArg, "a waitForChange is already pending on this region");
    std::optional<uint32_t> timeout;
    if (t >= 0) timeout = static_cast<uint32_t>(t);
    return waiter_->wait(env, info[0].As<Napi::Number>().Uint32Value(), timeout, alive);
  }

  // cancelWait(): a pending waitForChange resolves "cancelled" now.
  Napi::Value CancelWait(const Napi::CallbackInfo& info) {
    live(info.Env());
    if (waiter_) waiter_->cancel(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    // First the waiting thread: it must be gone before anything is unmapped.
    if (waiter_) {
      waiter_->close(info.Env());
      waiter_.reset();
    }
    // The one JS object that can alias the mapping is the counters buffer:
    // detach it first (its views turn empty, and V8 drops its backing store
    // now), so nothing in JS can reach the memory once it is unmapped.
    if (!counters_.IsEmpty()) {
      napi_value ab = counters_.Value();
      napi_status st = ab != nullptr ? napi_detach_arraybuffer(info.Env(), ab) : napi_ok;
      counters_.Reset();
      if (st != napi_ok) {
        // The buffer still reaches the memory: never unmap under it. This
        // handle is closed from now on; the buffer's finalizer holds the
        // Region's other share, so the mapping goes when the buffer does.
        region_.reset();
        return info.Env().Undefined();
      }
    }
    if (region_) region_->close();  // idempotent
    return info.Env().Undefined();
  }

  // The facts fixed for the life of the mapping; everything that changes is
  // read through read().
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Region& r = live(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", r.name());
    o.Set("cluster", r.layout().cluster);
    o.Set("serverId", r.layout().serverId);
    o.Set("capacity", r.layout().capacity);
    o.Set("versionMinor", r.layout().versionMinor);
    o.Set("isWriter", r.isWriter());
    return o;
  }

  // read(out, parts, slot, known?): see Region::read. Returns the record count.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Region& r = live(env);
    auto b = bufferArg(info, 0, image::kRecords, "image buffer");
    if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber())
      throwCode(env, code::kInvalidArg, "read(out, parts, slot, known?) takes numbers for parts and slot");
    const uint32_t parts = info[1].As<Napi::Number>().Uint32Value();
    if (parts == 0 || (parts & ~(image::kPartWriter | image::kPartSlots | image::kPartDetail)) != 0)
      throwCode(env, code::kInvalidArg, "parts must be a non-empty set of layout.image part flags");
    double d = info[2].As<Napi::Number>().DoubleValue();
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
    uint32_t count = 0;
    Error e;
    if (!r.read(b.Data(), b.Length(), parts, only, known, count, e)) throwError(env, e);
    return Napi::Number::New(env, count);
  }

  Napi::Value WriteHeaderData(const Napi::CallbackInfo& info) {
    Region& r = writer(info.Env());
    auto b = bufferArg(info, 0, header::kDataSize, "header buffer");
    r.writeHeaderData(b.Data());
    return info.Env().Undefined();
  }

  // writeSlot(index, data, statusChange?): statusChange wakes the waiters.
  Napi::Value WriteSlot(const Napi::CallbackInfo& info) {
    Region& r = writer(info.Env());
    uint32_t i = slotIndex(info, r);
    auto b = bufferArg(info, 1, slot::kDataSize, "slot buffer");
    r.writeSlot(i, b.Data(), info.Length() > 2 && info[2].ToBoolean().Value());
    return info.Env().Undefined();
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

  // unlinkName(): the writer removes its region's name, lock still held.
  Napi::Value UnlinkName(const Napi::CallbackInfo& info) {
    Error e;
    if (!writer(info.Env()).unlinkName(e)) throwError(info.Env(), e);
    return info.Env().Undefined();
  }

  Napi::Value Generation(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env()).generation()));
  }

  Napi::Value Replaced(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live(info.Env()).replaced());
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
  std::unique_ptr<ChangeWaiter> waiter_;  // declared after region_: destroyed (thread joined) first
  Napi::Reference<Napi::ArrayBuffer> counters_;
  bool countersRefused_ = false;
};

class Addon : public Napi::Addon<Addon> {
 public:
  Napi::FunctionReference errorClass;
  Addon(Napi::Env env, Napi::Object exports) {
    region_ = Napi::Persistent(RegionWrap::Define(env));
    DefineAddon(exports, {
      InstanceMethod<&Addon::Create>("create"), InstanceMethod<&Addon::Open>("open"),
          InstanceMethod<&Addon::OpenByName>("openByName"), InstanceMethod<&Addon::ObjectName>("objectName"),
          InstanceMethod<&Addon::ListNames>("listNames"), InstanceMethod<&Addon::Unlink>("unlink"),
          InstanceMethod<&Addon::RemoveIfDead>("removeIfDead"), InstanceMethod<&Addon::SetErrorClass>("setErrorClass"),
          InstanceValue("layout", Layout(env), napi_enumerable),
          InstanceValue("errorCodes", ErrorCodes(env), napi_enumerable),
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
  // Every offset, size and constant JS needs, from layout.h; the field
  // tables export each field's offset as `name` and its size as `nameBytes`.
  static Napi::Object Layout(Napi::Env env) {
    auto u32 = [](size_t v) { return static_cast<uint32_t>(v); };
    Napi::Object l = Napi::Object::New(env);
    l.Set("versionMajor", kVersionMajor);
    l.Set("versionMinor", kVersionMinor);
    l.Set("maxCapacity", kMaxCapacity);
    l.Set("nameBytes", u32(kNameBytes));
    l.Set("headerDataSize", u32(header::kDataSize));
    l.Set("slotDataSize", u32(slot::kDataSize));
    l.Set("headerSize", u32(header::kSize));
    l.Set("slotSize", u32(slot::kSize));
    Napi::Object f = Napi::Object::New(env);  // fixed header fields, for tools and tests
    f.Set("magic", u32(header::kMagic));
    f.Set("byteOrder", u32(header::kByteOrder));
    f.Set("versionMajor", u32(header::kVersionMajor));
    f.Set("versionMinor", u32(header::kVersionMinor));
    f.Set("headerSize", u32(header::kHeaderSize));
    f.Set("slotSize", u32(header::kSlotSize));
    f.Set("capacity", u32(header::kCapacity));
    f.Set("totalSize", u32(header::kTotalSize));
    f.Set("cluster", u32(header::kCluster));
    f.Set("serverId", u32(header::kServerId));
    f.Set("magicValue", Napi::BigInt::New(env, kMagic));
    f.Set("byteOrderMark", kByteOrderMark);
    l.Set("fixed", f);
#define COMMY_EXPORT_FIELD(C, js, offset, bytes) \
  o.Set(#js, u32(offset));                       \
  o.Set(#js "Bytes", u32(bytes));
    {
      Napi::Object o = Napi::Object::New(env);
      COMMY_HEADER_DATA_FIELDS(COMMY_EXPORT_FIELD)
      o.Set("rejectedReasons", u32(header_data::kRejectedReasons));
      o.Set("end", u32(header_data::kEnd));
      l.Set("header", o);
    }
    {
      Napi::Object o = Napi::Object::New(env);
      COMMY_SLOT_DATA_FIELDS(COMMY_EXPORT_FIELD)
      o.Set("numbersEnd", u32(slot_data::kNumbersEnd));
      o.Set("summaryEnd", u32(slot_data::kSummaryEnd));
      o.Set("end", u32(slot_data::kEnd));
      o.Set("rttUnknown", slot_data::kRttUnknown);
      o.Set("stateFree", static_cast<uint32_t>(SlotState::kFree));
      o.Set("stateUsed", static_cast<uint32_t>(SlotState::kUsed));
      // Offsets from the start of a slot (the fields above are from its data).
      o.Set("seq", u32(slot::kSeq));
      o.Set("data", u32(slot::kData));
      o.Set("counters", u32(slot::kCounters));
      o.Set("counterCount", u32(slot::kCounterCount));
      l.Set("slot", o);
    }
#undef COMMY_EXPORT_FIELD
    Napi::Object im = Napi::Object::New(env);
    im.Set("partWriter", image::kPartWriter);
    im.Set("partSlots", image::kPartSlots);
    im.Set("partDetail", image::kPartDetail);
    im.Set("writerPid", u32(image::kWriterPid));
    im.Set("writerState", u32(image::kWriterState));
    im.Set("writerStartMs", u32(image::kWriterStartMs));
    im.Set("heartbeatMs", u32(image::kHeartbeatMs));
    im.Set("generation", u32(image::kGeneration));
    im.Set("writerAlive", u32(image::kWriterAlive));
    im.Set("nowMs", u32(image::kNowMs));
    im.Set("writerBytes", u32(image::kWriterBytes));
    im.Set("headerData", u32(image::kHeaderData));
    im.Set("records", u32(image::kRecords));
    l.Set("image", im);
    Napi::Object rec = Napi::Object::New(env);
    rec.Set("seq", u32(record::kSeq));
    rec.Set("index", u32(record::kIndex));
    rec.Set("bytesSent", u32(record::kBytesSent));
    rec.Set("bytesReceived", u32(record::kBytesReceived));
    rec.Set("data", u32(record::kData));
    rec.Set("summarySize", u32(record::kSummarySize));
    rec.Set("detailSize", u32(record::kDetailSize));
    l.Set("record", rec);
    Napi::Object st = Napi::Object::New(env);
    st.Set("initializing", static_cast<uint32_t>(RegionState::kInitializing));
    st.Set("running", static_cast<uint32_t>(RegionState::kRunning));
    st.Set("stopped", static_cast<uint32_t>(RegionState::kStopped));
    l.Set("regionState", st);
    return l;
  }

  // The codes this addon can throw (core.h), so a test can check that
  // lib/errors.ts documents each one.
  static Napi::Array ErrorCodes(Napi::Env env) {
    Napi::Array a = Napi::Array::New(env);
    uint32_t i = 0;
#define COMMY_EXPORT_CODE(k, text) a.Set(i++, Napi::String::New(env, text));
    COMMY_ERROR_CODES(COMMY_EXPORT_CODE)
#undef COMMY_EXPORT_CODE
    return a;
  }

  // setErrorClass(CommyError): from then on every native error is
  // `new CommyError(code, message)`.
  Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsFunction())
      throwCode(info.Env(), code::kInvalidArg, "setErrorClass(CommyError) takes a class");
    errorClass = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
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
    c.readers = optionalStringArg(o, "readers");
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
    op.owner = optionalStringArg(o, "owner");
    Error e;
    auto r = Region::open(op, e);
    if (!r) throwError(env, e);
    return Wrap(env, std::move(r));
  }

  Napi::Value OpenByName(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throwCode(env, code::kInvalidArg, "name must be a string");
    std::string owner;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsString()) throwCode(env, code::kInvalidArg, "owner must be a string");
      owner = info[1].As<Napi::String>().Utf8Value();
    }
    Error e;
    auto r = Region::openByName(info[0].As<Napi::String>().Utf8Value(), false, owner, e);
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

  // removeIfDead(name): "removed", "alive" (its writer lives) or "gone".
  Napi::Value RemoveIfDead(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throwCode(env, code::kInvalidArg, "name must be a string");
    Error e;
    Region::Removal r;
    if (!Region::removeIfDead(info[0].As<Napi::String>().Utf8Value(), r, e)) throwError(env, e);
    return Napi::String::New(env, r == Region::Removal::kRemoved ? "removed"
                                  : r == Region::Removal::kAlive ? "alive"
                                                                 : "gone");
  }

  Napi::FunctionReference region_;
};

Napi::FunctionReference* errorClassOf(Napi::Env env) {
  Addon* addon = env.GetInstanceData<Addon>();
  return addon ? &addon->errorClass : nullptr;
}

}  // namespace commy

using CommyAddon = commy::Addon;
NODE_API_ADDON(CommyAddon)
