// The one private header behind which each OS maps, locks and names regions.
// platform_posix.cc and platform_win32.cc implement it; nothing else includes
// an OS header. Every failure becomes a stable code from core.h.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core.h"

namespace commy::os {

struct Mapping {
  uint8_t* base = nullptr;
  size_t size = 0;
  bool writable = false;
  bool writerLock = false;  // this mapping holds the writer lock
  bool unnamed = false;     // created but not yet published under `name` (see publish)
  std::string name;         // OS object name
#if defined(_WIN32)
  void* mapHandle = nullptr;
  void* mutexHandle = nullptr;
  void* changeHandle = nullptr;  // named semaphore <name>-changed (see notify)
  void* cancelHandle = nullptr;  // unnamed event: cancelWaits() sets it
#else
  int fd = -1;
#endif
};

// OS object name for (cluster, serverId). POSIX: "/commy-<hash>" (fits
// macOS's 31 chars). Windows: "Local\commy-<hash>" or "Global\commy-<hash>".
std::string objectName(const std::string& cluster, const std::string& serverId, bool global);

// Who may read a region besides its owner, and whose region a reader
// expects. Names are resolved by the OS layer; an unknown one fails with
// kInvalidArg naming it.
struct Access {
  // Creating: a principal granted read-only access. POSIX: a group name (or
  // numeric gid): the object is mode 0640, owned by that group. Windows: an
  // account or group name, given read access in the DACL. Empty: owner only.
  std::string readers;
  // Opening: the account that must own the object. POSIX: a user name or a
  // numeric uid; Windows: an account name. Empty: this process's account.
  // An object owned by anyone else is refused with kUntrusted naming its owner.
  std::string owner;
};

// Creates a new object of `size` bytes (memory reserved, so a full /dev/shm
// fails here and not later with SIGBUS), owner-only unless `access.readers`
// grants reading, with the writer lock held, and maps it read-write. Fails
// with kExists when the name is taken, kNoSpace when the memory is not there.
bool createNew(const std::string& name, size_t size, const Access& access, Mapping& out, Error& err);
// Maps an existing object, refusing at once (before any call that can block)
// anything that is not a regular object, and anything not owned by the
// expected account (`access.owner`; a writer always expects itself). A writer
// also requires that no one else may write; a reader that no other account
// may write.
bool openExisting(const std::string& name, bool writable, bool forWriter, const Access& access, Mapping& out,
                  Error& err);
// Takes the writer lock (flock / named mutex). Fails with kWriterAlive while a
// live process holds it.
bool lockWriter(Mapping& m, Error& err);
// True while some live process holds the writer lock of m's object.
bool writerAlive(Mapping& m);
// True when m's name now names another object (the region was recreated).
bool replaced(const Mapping& m);
void close(Mapping& m);
bool unlink(const std::string& name, Error& err);
// Applies `access.readers` to an object this writer took over (POSIX: mode
// 0600, or 0640 owned by the readers group; Windows: the DACL).
bool grant(Mapping& m, const Access& access, Error& err);
// Gives the object made by createNew its name, once the caller has
// initialized it. Where the OS can (Linux: an O_TMPFILE object, linked in),
// the name appears only now, with the lock held and the region complete, so
// no other process ever sees a half-made region or can race for it: kExists
// if the name was taken meanwhile. `replace` (after retire) swaps it in for
// the retired object atomically. Elsewhere the object was named at creation
// and this does nothing.
bool publish(Mapping& m, bool replace, Error& err);
// Gives up a dead writer's object whose layout cannot be reused (`shape`
// says what it holds), so that a new object can take the name. Where publish
// can replace atomically (Linux), m stays open, so its lock keeps every other
// would-be writer out until the caller has published the new object with
// `replace` and then closes m. Other POSIX systems unlink the name and close
// m (readers still mapping the old object see its writer dead and reopen by
// name). Windows cannot: the name lives while any reader holds a handle, so
// it closes m and fails with kBadLayout, saying what to do.
bool retire(Mapping& m, const std::string& shape, Error& err);
// ---- change notification -------------------------------------------------
// Readers block until a 32-bit word of the region (the header's status
// sequence) moves. Linux: a shared futex on the word itself. Windows: a named
// semaphore `<name>-changed`, with the region's DACL (readers get SYNCHRONIZE);
// notify() releases it generously and waiters recheck the word, so a release
// that finds no waiter only causes a spurious wake later, never a lost one.
// Elsewhere: not available (callers poll).
enum class WaitResult { kChanged, kTimeout, kCancelled, kUnsupported };
// Prepares m for notify/waitChange: the writer (createNew or takeover) creates
// the named object with `access`; a reader opens it, checking its owner as
// for the mapping. Failure leaves m usable without notification (callers poll):
// true unless the object exists but must not be trusted (kUntrusted).
bool openNotifier(Mapping& m, bool writer, const Access& access, Error& err);
// True when waitChange can block on m (else it returns kUnsupported).
bool canWait(const Mapping& m);
// Writer: wakes every process blocked on `word` (after the word was changed
// with a seq_cst store). One system call; on Linux two (announce(m) too).
void notify(Mapping& m, const uint8_t* word);
// Blocks the calling thread (never the JS thread) until *word != expected,
// `timeoutMs` passes, or `cancelled` is set and cancelWaits(m) called.
// Spurious wakes are absorbed here.
WaitResult waitChange(Mapping& m, const uint8_t* word, uint32_t expected, uint32_t timeoutMs,
                      const std::atomic<bool>& cancelled);
// Wakes this process's waitChange calls on m so they see `cancelled` (which
// the caller sets first). Linux: a wake on the word (other processes'
// waiters recheck it and sleep again); Windows: m's cancel event.
void cancelWaits(Mapping& m, const uint8_t* word);

// What the JS thread's event loop can watch instead of a thread blocked in
// waitChange (Linux: an inotify descriptor). It turns readable when the
// region may have changed: the writer's notify() or announce() touched the
// object, a descriptor with write access to it closed (its writer stopped or
// died), its name was removed, or an object was created in the directory
// of names (a successor may hold the name now). The caller re-reads what it
// waits for after each; events say "look", never what changed. -1 where the
// OS has none, or the watches could not be set: wait on a thread instead.
int openChangeFd(const Mapping& m);
// Discards the events queued on a change descriptor (non-blocking).
void drainChangeFd(int fd);
void closeChangeFd(int fd);
// Writer: makes every change descriptor on m readable (Linux: futimens, one
// system call; notify() does it too). No-op elsewhere.
void announce(Mapping& m);

// Names of commy objects on this host, where the OS can list them.
bool listNames(std::vector<std::string>& out);

uint32_t currentPid();
uint64_t wallClockMs();

}  // namespace commy::os
