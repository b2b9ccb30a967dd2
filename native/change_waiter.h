// Change notification toward JS. ChangeWaiter is what the addon calls: one
// wait at a time per mapping (lib/view.ts shares it between its waiters),
// settled as a promise. Two ways to wait, picked per mapping by
// makeChangeWaiter:
//  - LoopWaiter (native/loop_waiter.h, Linux): the JS thread's own event loop
//    watches the region's change descriptor; no thread, one wake-up.
//  - ThreadWaiter (here; Windows, or where the descriptor cannot be had): one
//    dedicated thread per mapping blocks in Region::waitChange (a futex or a
//    semaphore wait), never libuv's threadpool, which fs and dns share, and
//    hands the outcome back through a thread-safe function.
//
// A wait may also watch the writer, and then ends when its liveness differs
// from what JS last saw ("writer"), or once it is dead and a new region took
// the name ("replaced"). An idle watch runs no JavaScript.
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
  virtual ~ChangeWaiter() = default;
  virtual bool pending() const = 0;
  // A promise of "changed" (the status sequence is no longer `expected`),
  // "timeout" (after `timeoutMs`; none: never), "writer" (the writer's
  // liveness is no longer `writerAlive`), "replaced" (the writer is dead and
  // the name now refers to another region), "unsupported" (callers poll) or
  // "closed". Without `writerAlive` the writer is not watched. JS thread only.
  virtual Napi::Promise wait(Napi::Env env, uint32_t expected, std::optional<uint32_t> timeoutMs,
                             std::optional<bool> writerAlive) = 0;
  // Settles a pending wait with "cancelled" at once (its caller stopped
  // waiting): it keeps neither the event loop alive nor its promise's
  // reactions reachable. The waiter stays usable. JS thread only.
  virtual void cancel(Napi::Env env) = 0;
  // Settles a pending wait with "closed" and stops waiting at once; no
  // callback runs after it. JS thread only; idempotent.
  virtual void close(Napi::Env env) = 0;
};

// Waits on a dedicated thread, in slices of kRecheckMs: each slice starts by
// reading the word again, and a watched writer is probed after each, so an
// idle watch costs one native wake a second and no JavaScript.
class ThreadWaiter final : public ChangeWaiter {
 public:
  explicit ThreadWaiter(std::shared_ptr<Region> region) : region_(std::move(region)) {}
  ThreadWaiter(const ThreadWaiter&) = delete;
  ThreadWaiter& operator=(const ThreadWaiter&) = delete;
  // From a finalizer: ends the thread; a pending promise is left unsettled
  // (nothing can observe it once its region handle is collected).
  ~ThreadWaiter() override { stopThread(); }

  bool pending() const override { return shared_->deferred.has_value(); }

  // How often a wait rechecks the word and, when it watches the writer,
  // probes it: a writer's death or replacement shows at most this late.
  static constexpr uint32_t kRecheckMs = 1000;

  Napi::Promise wait(Napi::Env env, uint32_t expected, std::optional<uint32_t> timeoutMs,
                     std::optional<bool> writerAlive) override {
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

  // The thread's wait goes on, unreferenced; its outcome settles whichever
  // wait is pending when it comes, as a hint (callers read again what they
  // wait for), or none.
  void cancel(Napi::Env env) override {
    if (!shared_->deferred) return;
    auto d = std::move(*shared_->deferred);
    shared_->deferred.reset();
    tsfn_.Unref(env);
    d.Resolve(Napi::String::New(env, "cancelled"));
  }

  void close(Napi::Env env) override {
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
