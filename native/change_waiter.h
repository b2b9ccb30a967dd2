// Change notification toward JS: one dedicated thread per mapping blocks in
// Region::waitChange (a futex or a semaphore wait), never libuv's threadpool,
// which fs and dns share, and hands the outcome back through a thread-safe
// function. One wait at a time per mapping; lib/view.ts shares it between
// its waiters. Used by addon.cc only.
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "region.h"

namespace commy {

class ChangeWaiter {
 public:
  explicit ChangeWaiter(std::shared_ptr<Region> region) : region_(std::move(region)) {}
  ChangeWaiter(const ChangeWaiter&) = delete;
  ChangeWaiter& operator=(const ChangeWaiter&) = delete;
  // From a finalizer: ends the thread; a pending promise is left unsettled
  // (nothing can observe it once its region handle is collected).
  ~ChangeWaiter() { stopThread(); }

  bool pending() const { return shared_->deferred.has_value(); }

  // A promise of "changed" (the status sequence is no longer `expected`),
  // "timeout", "unsupported" (callers poll) or "closed". JS thread only.
  Napi::Promise wait(Napi::Env env, uint32_t expected, uint32_t timeoutMs) {
    auto deferred = Napi::Promise::Deferred::New(env);
    Napi::Promise promise = deferred.Promise();
    if (!region_->canWait()) {
      deferred.Resolve(Napi::String::New(env, "unsupported"));
      return promise;
    }
    if (!thread_.joinable()) {
      tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                            "commy change wait", 0, 1);
      tsfn_.Unref(env);
      thread_ = std::thread([this] { run(); });
    }
    shared_->deferred.emplace(deferred);
    tsfn_.Ref(env);  // a pending wait keeps the event loop alive, as a timer would
    {
      std::lock_guard<std::mutex> g(mu_);
      expected_ = expected;
      timeoutMs_ = timeoutMs;
      requested_ = true;
    }
    cv_.notify_one();
    return promise;
  }

  // Settles a pending wait with "closed" and ends the thread at once; no
  // callback runs after it. JS thread only; idempotent.
  void close(Napi::Env env) {
    if (shared_->deferred) {
      shared_->deferred->Resolve(Napi::String::New(env, "closed"));
      shared_->deferred.reset();
    }
    if (thread_.joinable()) tsfn_.Unref(env);
    stopThread();
  }

 private:
  // What the JS thread settles. Outcomes still queued after close() find no
  // deferred here and do nothing.
  struct Shared {
    std::optional<Napi::Promise::Deferred> deferred;
  };
  struct Outcome {
    std::shared_ptr<Shared> shared;
    os::WaitResult result;
    Napi::ThreadSafeFunction tsfn;
  };

  static const char* word(os::WaitResult r) {
    switch (r) {
      case os::WaitResult::kChanged:
        return "changed";
      case os::WaitResult::kTimeout:
        return "timeout";
      case os::WaitResult::kUnsupported:
        return "unsupported";
      case os::WaitResult::kCancelled:
        break;
    }
    return "closed";
  }

  void run() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      cv_.wait(lk, [this] { return quit_ || requested_; });
      if (quit_) return;
      requested_ = false;
      uint32_t expected = expected_, timeoutMs = timeoutMs_;
      lk.unlock();
      os::WaitResult r = region_->waitChange(expected, timeoutMs, cancelled_);
      auto* o = new Outcome{shared_, r, tsfn_};
      napi_status st = tsfn_.NonBlockingCall(o, [](Napi::Env env, Napi::Function, Outcome* out) {
        std::unique_ptr<Outcome> own(out);
        if (env == nullptr || !own->shared->deferred) return;  // closed, or the environment is going away
        auto d = std::move(*own->shared->deferred);
        own->shared->deferred.reset();
        own->tsfn.Unref(env);
        d.Resolve(Napi::String::New(env, word(own->result)));
      });
      if (st != napi_ok) delete o;  // released: close() is under way
      lk.lock();
    }
  }

  void stopThread() {
    if (!thread_.joinable()) return;
    cancelled_.store(true, std::memory_order_release);
    region_->cancelWaits();
    {
      std::lock_guard<std::mutex> g(mu_);
      quit_ = true;
    }
    cv_.notify_one();
    thread_.join();
    tsfn_.Release();
  }

  std::shared_ptr<Region> region_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false, quit_ = false;
  uint32_t expected_ = 0, timeoutMs_ = 0;
  std::atomic<bool> cancelled_{false};
};

}  // namespace commy
