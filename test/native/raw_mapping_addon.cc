// Test-only Node-API addon commy_test.node: createRawRegion() puts arbitrary bytes under a region's name so
// the JS tests can present corrupt or foreign regions on every OS. It lives in test/native/, beside the other
// native test code, so the npm package (which ships native/ but not test/) never contains or builds it.
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
    return DefineClass(env, "RawMapping", {InstanceMethod<&RawWrap::Close>("close")});
  }
  explicit RawWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RawWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) throwCode(info.Env(), code::kInvalidArg, "use createRawRegion()");
    map_.reset(info[0].As<Napi::External<os::Mapping>>().Data());
  }
  ~RawWrap() { release(); }

 private:
  void release() {
    if (!map_) return;
    std::string name = map_->name;
    os::close(*map_);
    Error ignored;
    os::unlink(name, ignored);
    map_.reset();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }
  std::unique_ptr<os::Mapping> map_;
};

class TestAddon : public Napi::Addon<TestAddon> {
 public:
  TestAddon(Napi::Env env, Napi::Object exports) {
    raw_ = Napi::Persistent(RawWrap::Define(env));
    DefineAddon(exports, {InstanceMethod<&TestAddon::CreateRaw>("createRawRegion")});
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
    return raw_.New({Napi::External<os::Mapping>::New(env, m.release())});
  }

  Napi::FunctionReference raw_;
};

}  // namespace commy

using CommyTestAddon = commy::TestAddon;
NODE_API_ADDON(CommyTestAddon)
