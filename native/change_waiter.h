// Change notification toward JS: one dedicated thread per mapping blocks in
// Region::waitChange (a futex or a semaphore wait), never libuv's threadpool,
// which fs and dns share, and hands the outcome back through a thread-safe
// function. One wait at a time per mapping; lib/view.ts shares it between
// its waiters. Used by addon.cc only.
//
// A wait may also watch the writer: every kRecheckMs the thread itself probes
// the writer's liveness (and, once it is dead, whether a new region took the
// name), and ends the wait only when that differs from what JS last saw. An
// idle watch thus costs one native wake a second and no JavaScript at all.
#pragma once

#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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

  // How often a wait rechecks the word and, when it watches the writer,
  // probes it: a writer's death or replacement shows at most this late.
  static constexpr uint32_t kRecheckMs = 1000;

  // A promise of "changed" (the status sequence is no longer `expected`),
  // "timeout" (after `timeoutMs`; none: never), "writer" (the writer's
  // liveness is no longer `writerAlive`), "replaced" (the writer is dead and
  // the name now refers to another region), "unsupported" (callers poll) or
  // "closed". Without `writerAlive` the writer is not watched. JS thread only.
  Napi::Promise wait(Napi::Env env, uint32_t expected, std::optional<uint32_t> timeoutMs,
                     std::optional<bool> writerAlive) {
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
      writerAlive_ = writerAlive;
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
    const char* word;
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

  // One wait, in slices of kRecheckMs. Each slice starts by reading the word
  // again, so a wake-up the OS did not deliver (Windows: more waiters than
  // counts, see docs/WINDOWS.md) shows within a slice; a watched writer is
  // probed after each.
  const char* waitOnce(uint32_t expected, std::optional<uint32_t> timeoutMs, std::optional<bool> writerAlive) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    for (;;) {
      uint32_t slice = kRecheckMs;
      if (timeoutMs) {
        auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
        if (spent >= *timeoutMs) return "timeout";
        slice = std::min(static_cast<uint32_t>(*timeoutMs - spent), kRecheckMs);
      }
      os::WaitResult r = region_->waitChange(expected, slice, cancelled_);
      if (r != os::WaitResult::kTimeout) return word(r);
      if (writerAlive) {
        bool alive = region_->writerAliveNow();
        if (alive != *writerAlive) return "writer";
        if (!alive && region_->replaced()) return "replaced";
      }
    }
  }

  void run() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      cv_.wait(lk, [this] { return quit_ || requested_; });
      if (quit_) return;
      requested_ = false;
      uint32_t expected = expected_;
      auto timeoutMs = timeoutMs_;
      auto writerAlive = writerAlive_;
      lk.unlock();
      auto* o = new Outcome{shared_, waitOnce(expected, timeoutMs, writerAlive), tsfn_};
      napi_status st = tsfn_.NonBlockingCall(o, [](Napi::Env env, Napi::Function, Outcome* out) {
        std::unique_ptr<Outcome> own(out);
        if (env == nullptr || !own->shared->deferred) return;  // closed, or the environment is going away
        auto d = std::move(*own->shared->deferred);
        own->shared->deferred.reset();
        own->tsfn.Unref(env);
        d.Resolve(Napi::String::New(env, own->word));
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
  uint32_t expected_ = 0;
  std::optional<uint32_t> timeoutMs_;
  std::optional<bool> writerAlive_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace commy
