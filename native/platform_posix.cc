// POSIX regions: shm_open + mmap, owner-only 0600, liveness by flock.
// Linux is tested; the calls are the portable subset macOS also has.
#if !defined(_WIN32)

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <thread>

#include "platform.h"

namespace commy::os {

namespace {

bool osError(Error& err, const char* what, const std::string& name, int e) {
  const char* c = code::kOs;
  if (e == ENOENT) c = code::kNotFound;
  if (e == EACCES || e == EPERM) c = code::kAccessDenied;
  if (e == EEXIST) c = code::kExists;
  std::string hint;
  if (e == ENOENT) hint = ": no such region (is the writer running?)";
  if (e == EACCES || e == EPERM) hint = ": permission denied (regions are owner-only; run as the writer's user)";
  return err.set(
      c, std::string(what) + " " + name + " failed: " + std::strerror(e) + " (errno " + std::to_string(e) + ")" + hint);
}

bool mapFd(int fd, size_t size, bool writable, Mapping& out, const std::string& name, Error& err) {
  void* p = mmap(nullptr, size, writable ? (PROT_READ | PROT_WRITE) : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return osError(err, "mmap", name, errno);
  out.base = static_cast<uint8_t*>(p);
  out.size = size;
  out.writable = writable;
  out.fd = fd;
  out.name = name;
  return true;
}

}  // namespace

std::string objectName(const std::string& cluster, const std::string& serverId, bool /*global*/) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "/commy-%016" PRIx64, keyHash(cluster, serverId));
  return buf;
}

bool createNew(const std::string& name, size_t size, Mapping& out, Error& err) {
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) return osError(err, "shm_open(create)", name, errno);
  // Lock before anything else so that no other would-be writer can take over
  // the half-made object; only a reader's probe can hold it, for microseconds.
  out.fd = fd;
  out.name = name;
  if (!lockWriter(out, err)) {
    ::close(fd);
    out.fd = -1;
    return false;
  }
  // The umask may have cleared bits we need: set exactly 0600.
  if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    ::close(fd);
    out.fd = -1;
    shm_unlink(name.c_str());
    return osError(err, "sizing", name, e);
  }
  if (!mapFd(fd, size, true, out, name, err)) {
    ::close(fd);
    out.fd = -1;
    out.writerLock = false;
    return false;
  }
  return true;
}

bool openExisting(const std::string& name, bool writable, bool forWriter, Mapping& out, Error& err) {
  int fd = shm_open(name.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC, 0);
  if (fd < 0) return osError(err, "shm_open", name, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return osError(err, "fstat", name, e);
  }
  std::string why;
  if (!S_ISREG(st.st_mode))
    why = "it is not a regular shared-memory object";
  else if (forWriter && st.st_uid != geteuid())
    why =
        "it is owned by uid " + std::to_string(st.st_uid) + ", not by this process's uid " + std::to_string(geteuid());
  else if (forWriter && (st.st_mode & 077) != 0)
    why = "its mode allows group/other access";
  else if ((st.st_mode & 022) != 0)
    why = "its mode lets other users write to it";
  if (!why.empty()) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return err.set(code::kUntrusted, "refusing region " + name + " (mode " + mode + "): " + why +
                                         ". Remove it (/dev/shm" + name + " on Linux) if it is not yours");
  }
  uint64_t max = totalSizeFor(kMaxCapacity) * 2;
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max) {
    ::close(fd);
    return err.set(code::kBadLayout,
                   "region " + name + " is " + std::to_string(st.st_size) + " bytes, larger than any valid region");
  }
  if (st.st_size == 0) {
    // Either a writer is between shm_open and ftruncate (it holds the lock),
    // or one died there. A would-be writer removes a dead one's leftover.
    bool leftover = forWriter && flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    if (leftover) {
      shm_unlink(name.c_str());
      return err.set(code::kNotFound, "removed an empty region left by a writer that died while creating it");
    }
    return err.set(code::kNotReady, "region " + name + " has size 0: its writer is still creating it");
  }
  if (!mapFd(fd, static_cast<size_t>(st.st_size), writable, out, name, err)) {
    ::close(fd);
    return false;
  }
  return true;
}

bool lockWriter(Mapping& m, Error& err) {
  // A reader's liveness probe holds a shared lock for a few microseconds, so
  // retry briefly before concluding that a live writer holds it.
  for (int i = 0; i < 50; i++) {
    if (flock(m.fd, LOCK_EX | LOCK_NB) == 0) {
      m.writerLock = true;
      return true;
    }
    if (errno != EWOULDBLOCK) return osError(err, "flock", m.name, errno);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return err.set(code::kWriterAlive, "region " + m.name + " already has a live writer");
}

bool writerAlive(Mapping& m) {
  if (m.writerLock) return true;
  if (flock(m.fd, LOCK_SH | LOCK_NB) == 0) {
    flock(m.fd, LOCK_UN);
    return false;
  }
  return errno == EWOULDBLOCK;
}

bool replaced(const Mapping& m) {
  int fd = shm_open(m.name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return true;
  struct stat a, b;
  bool differ = fstat(fd, &a) != 0 || fstat(m.fd, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev;
  ::close(fd);
  return differ;
}

void close(Mapping& m) {
  if (m.base) munmap(m.base, m.size);
  if (m.fd >= 0) ::close(m.fd);  // also drops the flock
  m.base = nullptr;
  m.fd = -1;
  m.writerLock = false;
}

bool unlink(const std::string& name, Error& err) {
  if (shm_unlink(name.c_str()) != 0) return osError(err, "shm_unlink", name, errno);
  return true;
}

bool retire(Mapping& m, const std::string&, Error&) {
  Error ignored;  // already gone is fine: the next create takes the name
  unlink(m.name, ignored);
  close(m);
  return true;
}

bool listNames(std::vector<std::string>& out) {
#if defined(__linux__)
  DIR* d = opendir("/dev/shm");
  if (!d) return false;
  while (struct dirent* e = readdir(d)) {
    if (std::strncmp(e->d_name, "commy-", 6) == 0) out.push_back(std::string("/") + e->d_name);
  }
  closedir(d);
  return true;
#else
  (void)out;
  return false;  // macOS cannot enumerate POSIX shm names
#endif
}

uint32_t currentPid() { return static_cast<uint32_t>(getpid()); }

uint64_t wallClockMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

}  // namespace commy::os

#endif  // !_WIN32
