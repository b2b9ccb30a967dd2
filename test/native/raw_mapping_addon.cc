// Test-only Node-API addon commy_test.node: createRawRegion() puts arbitrary bytes under a region's name so
// the JS tests can present corrupt or foreign regions on every OS; openRawRegion() maps a live region
// read-write beside its writer, so a test can play a writer that died mid-write (an odd seq). It lives in test/native/,
// beside the other native test code, so the npm package (which ships native/ but not test/) never contains or builds
// it.
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>

#include "core.h"
#include "platform.h"

namespace commy {

namespace {

[[noreturn]] void throwCode(Napi::Env env, const char* c, const std::string& m) {
  Napi::Error err = Napi::Error::New(env, m);
  err.Set("code", Napi::String::New(env, c ? c : code::kOs));
  throw err;
}

}  // namespace

// Owns the mapping; close() (or garbage collection) unmaps and unlinks it, so a test leaves no object behind.
class RawWrap : public Napi::ObjectWrap<RawWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RawMapping",
                       {InstanceMethod<&RawWrap::Close>("close"), InstanceMethod<&RawWrap::Read>("read"),
                        InstanceMethod<&RawWrap::Write>("write")});
  }
  // (External mapping, owned): owned mappings were created here and are unlinked at close.
  explicit RawWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RawWrap>(info) {
    if (info.Length() != 2 || !info[0].IsExternal()) throwCode(info.Env(), code::kInvalidArg, "use createRawRegion()");
    map_.reset(info[0].As<Napi::External<os::Mapping>>().Data());
    owned_ = info[1].As<Napi::Boolean>().Value();
  }
  ~RawWrap() { release(); }

 private:
  void release() {
    if (!map_) return;
    std::string name = map_->name;
    os::close(*map_);
    Error ignored;
    if (owned_) os::unlink(name, ignored);
    map_.reset();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }
  // The mapped range [offset, offset + length) named by args 0 and `length`, checked.
  uint8_t* range(const Napi::CallbackInfo& info, size_t length) {
    Napi::Env env = info.Env();
    if (!map_) throwCode(env, code::kClosed, "raw mapping is closed");
    if (info.Length() < 2 || !info[0].IsNumber()) throwCode(env, code::kInvalidArg, "(offset, ...) expected");
    double off = info[0].As<Napi::Number>().DoubleValue();
    if (!(off >= 0) || off + static_cast<double>(length) > static_cast<double>(map_->size))
      throwCode(env, code::kInvalidArg, "range past the end of the mapping");
    return map_->base + static_cast<size_t>(off);
  }
  // read(offset, length): a copy of the mapped bytes.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[1].IsNumber()) throwCode(info.Env(), code::kInvalidArg, "read(offset, length)");
    size_t n = info[1].As<Napi::Number>().Uint32Value();
    return Napi::Buffer<uint8_t>::Copy(info.Env(), range(info, n), n);
  }
  // write(offset, bytes): copies bytes into the mapping at offset.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[1].IsBuffer()) throwCode(info.Env(), code::kInvalidArg, "write(offset, bytes)");
    auto bytes = info[1].As<Napi::Buffer<uint8_t>>();
    std::memcpy(range(info, bytes.Length()), bytes.Data(), bytes.Length());
    return info.Env().Undefined();
  }
  std::unique_ptr<os::Mapping> map_;
  bool owned_ = false;
};

class TestAddon : public Napi::Addon<TestAddon> {
 public:
  TestAddon(Napi::Env env, Napi::Object exports) {
    raw_ = Napi::Persistent(RawWrap::Define(env));
    DefineAddon(exports, {InstanceMethod<&TestAddon::CreateRaw>("createRawRegion"),
                          InstanceMethod<&TestAddon::OpenRaw>("openRawRegion")});
  }

 private:
  // createRawRegion(name, bytes): a new owner-only object of bytes.length bytes holding a copy of bytes.
  Napi::Value CreateRaw(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString()) throwCode(env, code::kInvalidArg, "createRawRegion(name, bytes)");
    if (!info[1].IsBuffer()) throwCode(env, code::kInvalidArg, "bytes must be a Buffer");
    auto bytes = info[1].As<Napi::Buffer<uint8_t>>();
    if (bytes.Length() < 1) throwCode(env, code::kInvalidArg, "bytes must not be empty");
    auto m = std::make_unique<os::Mapping>();
    Error e;
    if (!os::createNew(info[0].As<Napi::String>().Utf8Value(), bytes.Length(), os::Access{}, *m, e))
      throwCode(env, e.code, e.message);
    std::memcpy(m->base, bytes.Data(), bytes.Length());  // complete before it has a name
    if (!os::publish(*m, false, e)) {
      os::close(*m);
      throwCode(env, e.code, e.message);
    }
    return raw_.New({Napi::External<os::Mapping>::New(env, m.release()), Napi::Boolean::New(env, true)});
  }

  // openRawRegion(name): maps an existing object read-write, without its writer lock; close() only unmaps.
  Napi::Value OpenRaw(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throwCode(env, code::kInvalidArg, "openRawRegion(name)");
    auto m = std::make_unique<os::Mapping>();
    Error e;
    if (!os::openExisting(info[0].As<Napi::String>().Utf8Value(), true, false, os::Access{}, *m, e))
      throwCode(env, e.code, e.message);
    return raw_.New({Napi::External<os::Mapping>::New(env, m.release()), Napi::Boolean::New(env, false)});
  }

  Napi::FunctionReference raw_;
};

}  // namespace commy

using CommyTestAddon = commy::TestAddon;
NODE_API_ADDON(CommyTestAddon)
