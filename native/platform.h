// The one private header behind which each OS maps, locks and names regions.
// platform_posix.cc and platform_win32.cc implement it; nothing else includes
// an OS header. Every failure becomes a stable code from core.h.
#pragma once

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
  std::string name;         // OS object name
#if defined(_WIN32)
  void* mapHandle = nullptr;
  void* mutexHandle = nullptr;
#else
  int fd = -1;
#endif
};

// OS object name for (cluster, serverId). POSIX: "/commy-<hash>" (fits
// macOS's 31 chars). Windows: "Local\commy-<hash>" or "Global\commy-<hash>".
std::string objectName(const std::string& cluster, const std::string& serverId, bool global);

// Creates a new object of `size` bytes, owner-only, and maps it read-write.
// Fails with kExists when the name is taken.
bool createNew(const std::string& name, size_t size, Mapping& out, Error& err);
// Maps an existing object. A writer requires it to be owned by us with no
// group/other access; a reader requires it not to be writable by others.
bool openExisting(const std::string& name, bool writable, bool forWriter, Mapping& out, Error& err);
// Takes the writer lock (flock / named mutex). Fails with kWriterAlive while a
// live process holds it.
bool lockWriter(Mapping& m, Error& err);
// True while some live process holds the writer lock of m's object.
bool writerAlive(Mapping& m);
// True when m's name now names another object (the region was recreated).
bool replaced(const Mapping& m);
void close(Mapping& m);
bool unlink(const std::string& name, Error& err);
// Gives up a dead writer's object whose layout cannot be reused (`shape`
// says what it holds) and closes m, so that a new object can take the name.
// POSIX unlinks the name (readers still mapping the old object see its
// writer dead and reopen by name). Windows cannot: the name lives while any
// reader holds a handle, so it fails with kBadLayout and says what to do.
bool retire(Mapping& m, const std::string& shape, Error& err);
// Names of commy objects on this host, where the OS can list them.
bool listNames(std::vector<std::string>& out);

uint32_t currentPid();
uint64_t wallClockMs();

}  // namespace commy::os
