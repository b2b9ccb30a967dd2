// Change notification on the JS thread's own event loop (Linux): libuv polls
// the region's change descriptor (os::openChangeFd, an inotify instance), so
// a writer's change reaches JavaScript in one wake-up of this thread, with no
// waiting thread in between and no timer while nothing happens. Used by
// addon.cc (makeChangeWaiter) only.
//
// No wake-up is lost: a wait drains the descriptor and only then reads the
// status sequence and the writer's liveness. The writer announces after its
// store, so a change this read misses is one whose announce is still to
// come, and that makes the descriptor readable.
//
// Lifetime: the libuv handles live in a State that outlives this object until
// libuv has closed them (uv_close completes on a later loop turn), and that
// an async cleanup hook closes if the environment goes first (a worker
// thread ending with a wait pending): no callback runs after close().
#pragma once

// libuv's header comes with Node's own headers (node-gyp's, and the ones the
// prebuild scripts copy in), not with node-api-headers: a build without it
// waits on threads everywhere.
#if defined(__linux__) && __has_include(<uv.h>)
#define COMMY_LOOP_WAITER 1

#include <napi.h>
#include <uv.h>

#include <memory>
#include <optional>

#include "change_waiter.h"
#include "region.h"

namespace commy {

class LoopWaiter final : public ChangeWaiter {
 public:
  // A waiter on env's loop, or null where the descriptor or the loop cannot
  // be had (the caller then waits on a thread).
  static std::unique_ptr<ChangeWaiter> open(Napi::Env env, std::shared_ptr<Region> region) {
    int fd = region->openChangeFd();
    if (fd < 0) return nullptr;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      os::closeChangeFd(fd);
      return nullptr;
    }
    auto* s = new State(env, std::move(region), fd);
    if (uv_poll_init(loop, &s->poll, fd) != 0) {
      os::closeChangeFd(fd);
      delete s;
      return nullptr;
    }
    uv_timer_init(loop, &s->timer);
    s->poll.data = s->timer.data = s;
    // Polled from now until close, and referenced only while a wait is
    // pending: no epoll change per wait (libuv 1.46 defers those through
    // io_uring), and events between waits only drain.
    uv_poll_start(&s->poll, UV_READABLE, &State::onReadable);
    uv_unref(reinterpret_cast<uv_handle_t*>(&s->poll));
    if (napi_add_async_cleanup_hook(env, &State::onEnvCleanup, s, &s->hook) != napi_ok) s->hook = nullptr;
    return std::unique_ptr<ChangeWaiter>(new LoopWaiter(s));
  }

  LoopWaiter(const LoopWaiter&) = delete;
  LoopWaiter& operator=(const LoopWaiter&) = delete;
  // From a finalizer: stops waiting; a pending promise is left unsettled
  // (nothing can observe it once its region handle is collected).
  ~LoopWaiter() override {
    state_->detached = true;
    state_->shutdown();
    if (state_->handlesOpen == 0) delete state_;
  }

  bool pending() const override { return state_->deferred.has_value(); }

  Napi::Promise wait(Napi::Env env, uint32_t expected, std::optional<uint32_t> timeoutMs,
                     std::optional<bool> writerAlive) override {
    State& s = *state_;
    auto deferred = Napi::Promise::Deferred::New(env);
    Napi::Promise promise = deferred.Promise();
    if (s.shut || s.failed) {
      deferred.Resolve(Napi::String::New(env, s.shut ? "closed" : "unsupported"));
      return promise;
    }
    s.expected = expected;
    s.writerAlive = writerAlive;
    // Events queued before this wait are stale: the checks below read what
    // they would have told.
    os::drainChangeFd(s.fd);
    if (const char* w = s.outcome()) {
      deferred.Resolve(Napi::String::New(env, w));
      return promise;
    }
    s.deferred.emplace(deferred);
    // A pending wait keeps the loop alive, as a timer would; between waits
    // the handles hold nothing.
    uv_ref(reinterpret_cast<uv_handle_t*>(&s.poll));
    if (timeoutMs) uv_timer_start(&s.timer, &State::onTimeout, *timeoutMs, 0);
    return promise;
  }

  void cancel(Napi::Env env) override {
    State& s = *state_;
    s.stop();
    if (!s.deferred) return;
    auto d = std::move(*s.deferred);
    s.deferred.reset();
    d.Resolve(Napi::String::New(env, "cancelled"));
  }

  void close(Napi::Env env) override {
    State& s = *state_;
    s.stop();
    if (s.deferred) {
      auto d = std::move(*s.deferred);
      s.deferred.reset();
      d.Resolve(Napi::String::New(env, "closed"));
    }
    s.shutdown();
  }

 private:
  struct State {
    State(Napi::Env e, std::shared_ptr<Region> r, int f) : env(e), region(std::move(r)), fd(f) {}

    napi_env env;
    std::shared_ptr<Region> region;
    int fd;
    uv_poll_t poll{};
    uv_timer_t timer{};
    napi_async_cleanup_hook_handle hook = nullptr;
    std::optional<Napi::Promise::Deferred> deferred;
    uint32_t expected = 0;
    std::optional<bool> writerAlive;
    bool shut = false;      // handles closing or closed
    bool failed = false;    // the descriptor failed: every wait answers "unsupported"
    bool detached = false;  // the LoopWaiter is gone: the last close frees this
    int handlesOpen = 2;

    // What ends the wait now, or null: the same checks, in the same order, as
    // a thread waiter's after each slice.
    const char* outcome() const {
      if (region->closed()) return "closed";
      if (region->statusSeq() != expected) return "changed";
      if (writerAlive) {
        bool alive = region->writerAliveNow();
        if (alive != *writerAlive) return "writer";
        if (!alive && region->replaced()) return "replaced";
      }
      return nullptr;
    }

    // Ends the pending wait's hold on the loop (the poll goes on, unreferenced).
    void stop() {
      if (shut) return;
      uv_unref(reinterpret_cast<uv_handle_t*>(&poll));
      uv_timer_stop(&timer);
    }

    // Resolves the pending wait from a libuv callback: inside a callback
    // scope, so its promise reactions run before the loop goes on.
    void settle(const char* w) {
      stop();
      if (!deferred) return;
      auto d = std::move(*deferred);
      deferred.reset();
      try {
        Napi::Env e(env);
        Napi::HandleScope hs(e);
        Napi::AsyncContext ctx(e, "commy change wait");
        Napi::CallbackScope scope(e, ctx);
        d.Resolve(Napi::String::New(e, w));
      } catch (const Napi::Error&) {
        // The environment refused (it is shutting down): nothing is left to tell.
      }
    }

    static void onReadable(uv_poll_t* h, int status, int) {
      auto* s = static_cast<State*>(h->data);
      if (status < 0) {
        // The descriptor failed (it would fail again at once): stop it; the caller polls from now on.
        uv_poll_stop(h);
        s->failed = true;
        s->settle("unsupported");
        return;
      }
      os::drainChangeFd(s->fd);
      if (!s->deferred) return;  // no one waits: the next wait reads the state itself
      if (const char* w = s->outcome()) s->settle(w);
    }

    static void onTimeout(uv_timer_t* h) {
      auto* s = static_cast<State*>(h->data);
      s->settle("timeout");
    }

    // Closes the handles (at most once); the State goes with the last of
    // them once its LoopWaiter is gone too.
    void shutdown() {
      if (!shut) {
        uv_poll_stop(&poll);
        uv_timer_stop(&timer);
        shut = true;
        uv_close(reinterpret_cast<uv_handle_t*>(&poll), &State::onClosed);
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), &State::onClosed);
      }
    }

    static void onClosed(uv_handle_t* h) {
      auto* s = static_cast<State*>(h->data);
      if (--s->handlesOpen > 0) return;
      os::closeChangeFd(s->fd);
      s->fd = -1;
      if (s->hook) {
        napi_remove_async_cleanup_hook(s->hook);
        s->hook = nullptr;
      }
      if (s->detached) delete s;
    }

    static void onEnvCleanup(napi_async_cleanup_hook_handle, void* arg) {
      auto* s = static_cast<State*>(arg);
      s->deferred.reset();  // the environment is going: nothing can settle it
      s->shutdown();
    }
  };

  explicit LoopWaiter(State* s) : state_(s) {}

  State* state_;
};

}  // namespace commy

#endif  // COMMY_LOOP_WAITER
