// POSIX regions: shm_open + mmap, owner-only 0600 (0640 with a readers
// group), liveness by flock, memory reserved at creation. Linux creates each
// object unnamed (O_TMPFILE in /dev/shm) and links it in once it is locked
// and complete; other systems use the portable shm_open subset macOS has.
#if !defined(_WIN32)

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#endif
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <climits>
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
  if (e == EACCES || e == EPERM)
    hint =
        ": permission denied (a region is readable by its owner only, unless its agent grants a group with the "
        "`readers` config field: run as the agent's user or join that group)";
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

namespace {

#if defined(__linux__)
constexpr const char* kShmDir = "/dev/shm";
std::string shmPath(const std::string& name) { return std::string(kShmDir) + name; }
#endif

// Whether this host can make unnamed objects in the shm directory (Linux with
// O_TMPFILE on tmpfs, and /proc to link them in); probed once.
bool unnamedObjects() {
#if defined(__linux__)
  static const bool yes = [] {
    int fd = ::open(kShmDir, O_TMPFILE | O_RDWR | O_CLOEXEC, S_IRUSR | S_IWUSR);
    if (fd < 0) return false;
    struct stat st;
    bool proc = ::stat(("/proc/self/fd/" + std::to_string(fd)).c_str(), &st) == 0;
    ::close(fd);
    return proc;
  }();
  return yes;
#else
  return false;
#endif
}

std::string modeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// "uid 65534 (nobody)": numbers for the record, a name for people.
std::string describeUid(uid_t uid) {
  std::string out = "uid " + std::to_string(uid);
  struct passwd pw, *found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found) out += std::string(" (") + pw.pw_name + ")";
  return out;
}

bool allDigits(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// The uid an `owner` names: a user name or a numeric uid; empty = ourselves.
bool resolveOwner(const std::string& owner, uid_t& uid, Error& err) {
  if (owner.empty()) {
    uid = geteuid();
    return true;
  }
  if (allDigits(owner)) {
    uid = static_cast<uid_t>(std::stoul(owner));
    return true;
  }
  struct passwd pw, *found = nullptr;
  char buf[4096];
  if (getpwnam_r(owner.c_str(), &pw, buf, sizeof(buf), &found) != 0 || !found)
    return err.set(code::kInvalidArg, "owner \"" + owner + "\": no such user on this host");
  uid = pw.pw_uid;
  return true;
}

bool resolveGroup(const std::string& group, gid_t& gid, Error& err) {
  if (allDigits(group)) {
    gid = static_cast<gid_t>(std::stoul(group));
    return true;
  }
  struct group gr, *found = nullptr;
  char buf[8192];
  if (getgrnam_r(group.c_str(), &gr, buf, sizeof(buf), &found) != 0 || !found)
    return err.set(code::kInvalidArg, "readers \"" + group + "\": no such group on this host");
  gid = gr.gr_gid;
  return true;
}

// Permissions: exactly 0600, or 0640 owned by the readers group, whatever the umask.
bool setAccess(int fd, const std::string& name, const Access& access, Error& err) {
  mode_t mode = S_IRUSR | S_IWUSR;
  if (!access.readers.empty()) {
    gid_t gid;
    if (!resolveGroup(access.readers, gid, err)) return false;
    if (fchown(fd, static_cast<uid_t>(-1), gid) != 0) {
      int e = errno;
      return err.set(e == EPERM ? code::kAccessDenied : code::kOs,
                     "cannot give group \"" + access.readers + "\" read access to region " + name + ": " +
                         std::strerror(e) + (e == EPERM ? " (this account must be a member of that group)" : ""));
    }
    mode |= S_IRGRP;
  }
  if (fchmod(fd, mode) != 0) return osError(err, "fchmod", name, errno);
  return true;
}

// Permissions, then every byte reserved, so that a short /dev/shm fails here
// with the figures rather than with SIGBUS at the first write to a page
// tmpfs cannot back.
bool prepareObject(int fd, const std::string& name, size_t size, const Access& access, Error& err) {
  if (!setAccess(fd, name, access, err)) return false;
  int e = posix_fallocate(fd, 0, static_cast<off_t>(size));
  if (e == 0) return true;
  if (e == ENOSPC || e == EFBIG) {
    std::string room;
#if defined(__linux__)
    struct statvfs vfs;
    if (statvfs(kShmDir, &vfs) == 0)
      room = ", and /dev/shm has " + std::to_string(uint64_t{vfs.f_bavail} * vfs.f_frsize) + " bytes free of " +
             std::to_string(uint64_t{vfs.f_blocks} * vfs.f_frsize);
#endif
    return err.set(code::kNoSpace, "cannot reserve the " + std::to_string(size) + " bytes region " + name + " needs" +
                                       room +
                                       ": make the shared-memory filesystem larger (docker run --shm-size), remove "
                                       "stale regions (commy ls), or lower \"capacity\"");
  }
  if (e == EOPNOTSUPP || e == EINVAL) {
    // A filesystem without fallocate: size it at least (the pages stay lazy).
    if (ftruncate(fd, static_cast<off_t>(size)) == 0) return true;
    e = errno;
  }
  return osError(err, "reserving memory for", name, e);
}

}  // namespace

bool createNew(const std::string& name, size_t size, const Access& access, Mapping& out, Error& err) {
  int fd = -1;
  bool unnamed = false;
#if defined(__linux__)
  // Unnamed until publish(): nobody can open, lock, truncate or unlink it
  // while it is being made.
  if (unnamedObjects()) {
    fd = ::open(kShmDir, O_TMPFILE | O_RDWR | O_CLOEXEC, S_IRUSR | S_IWUSR);
    if (fd < 0) return osError(err, "creating (O_TMPFILE in /dev/shm)", name, errno);
    unnamed = true;
  }
#endif
  if (fd < 0) {
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
    if (fd < 0) return osError(err, "shm_open(create)", name, errno);
  }
  out.fd = fd;
  out.name = name;
  out.unnamed = unnamed;
  auto fail = [&]() {
    ::close(fd);
    out.fd = -1;
    out.writerLock = false;
    if (!unnamed) shm_unlink(name.c_str());
    return false;
  };
  // Named objects: lock before anything else, so that no other would-be
  // writer takes over the half-made object (only a reader's probe can hold
  // the lock, for microseconds).
  if (!lockWriter(out, err)) return fail();
  if (!prepareObject(fd, name, size, access, err)) return fail();
  if (!mapFd(fd, size, true, out, name, err)) return fail();
  return true;
}

bool grant(Mapping& m, const Access& access, Error& err) { return setAccess(m.fd, m.name, access, err); }

bool publish(Mapping& m, bool replace, Error& err) {
  if (!m.unnamed) return true;
#if defined(__linux__)
  const std::string path = shmPath(m.name);
  const std::string self = "/proc/self/fd/" + std::to_string(m.fd);
  if (!replace) {
    if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0)
      return osError(err, "linking", m.name, errno);
  } else {
    // Link under a name of our own, then rename over the retired object:
    // readers opening the name see the old object or the new, never none.
    const std::string tmp = path + ".new-" + std::to_string(getpid());
    ::unlink(tmp.c_str());
    if (linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) != 0)
      return osError(err, "linking", m.name, errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return osError(err, "renaming into", m.name, e);
    }
  }
  m.unnamed = false;
  return true;
#else
  (void)replace;
  return err.set(code::kOs, "unnamed regions exist only on Linux");
#endif
}

bool openExisting(const std::string& name, bool writable, bool forWriter, const Access& access, Mapping& out,
                  Error& err) {
  uid_t expected;
  if (!resolveOwner(forWriter ? std::string() : access.owner, expected, err)) return false;
  // O_NONBLOCK: a FIFO (or device) squatting the name must not block the
  // open; it is refused below, before any call that could block on it.
  int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW;
#if defined(__linux__)
  flags |= O_NONBLOCK;
#endif
  int fd = shm_open(name.c_str(), flags, 0);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP) return err.set(code::kUntrusted, "refusing region " + name + ": the name is a symbolic link");
#if defined(__linux__)
    // glibc reports a directory opened for writing as EINVAL (EISDIR underneath).
    struct stat dst;
    if ((e == EINVAL || e == EISDIR) && lstat(shmPath(name).c_str(), &dst) == 0 && S_ISDIR(dst.st_mode))
      return err.set(code::kUntrusted, "refusing region " + name + ": it is a directory, not a shared-memory object. " +
                                           "If it is not a region of the expected account, remove it (/dev/shm" + name +
                                           ")");
#endif
    return osError(err, "shm_open", name, e);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return osError(err, "fstat", name, e);
  }
  std::string why;
  if (!S_ISREG(st.st_mode))
    why =
        S_ISFIFO(st.st_mode) ? "it is a FIFO, not a shared-memory object" : "it is not a regular shared-memory object";
  else if (st.st_uid != expected)
    why = "it is owned by " + describeUid(st.st_uid) + ", not by " + describeUid(expected) +
          (forWriter ? "; another account created it first"
                     : (access.owner.empty() ? " (this process's account; name the owner to read another account's "
                                               "region: --owner, or owner in ClusterView.open)"
                                             : ""));
  else if (forWriter && (st.st_mode & (S_IWGRP | S_IRWXO)) != 0)
    why = "its mode allows other users more than group read access";
  else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    why = "its mode lets other users write to it";
  if (!why.empty()) {
    ::close(fd);
    return err.set(code::kUntrusted, "refusing region " + name + " (mode " + modeString(st.st_mode) + "): " + why +
                                         ". If it is not a region of the expected account, remove it (/dev/shm" + name +
                                         " on Linux)");
  }
  uint64_t max = totalSizeFor(kMaxCapacity) * 2;
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max) {
    ::close(fd);
    return err.set(code::kBadLayout,
                   "region " + name + " is " + std::to_string(st.st_size) + " bytes, larger than any valid region");
  }
  if (st.st_size == 0) {
    // Either a writer (on a system without unnamed objects) is between
    // shm_open and sizing it (it holds the lock), or one died there. A
    // would-be writer removes a dead one's leftover.
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
  int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
#if defined(__linux__)
  flags |= O_NONBLOCK;  // whatever now squats the name must not block us
#endif
  int fd = shm_open(m.name.c_str(), flags, 0);
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
  if (unnamedObjects()) return true;  // kept open and locked until publish() replaces it
  Error ignored;                      // already gone is fine: the next create takes the name
  unlink(m.name, ignored);
  close(m);
  return true;
}

// Change notification: a shared (not FUTEX_PRIVATE) futex on the region's
// status word, so waiters in every process that maps it are woken; a
// read-only mapping may wait and wake.
#if defined(__linux__)
namespace {
long futex(const uint8_t* word, int op, uint32_t val, const struct timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word), op, val, timeout, nullptr, 0);
}
}  // namespace
#endif

bool openNotifier(Mapping&, bool, const Access&, Error&) { return true; }  // the word is in the mapping

bool canWait(const Mapping& m) {
#if defined(__linux__)
  return m.base != nullptr;
#else
  (void)m;
  return false;  // macOS has no futex across processes: callers poll
#endif
}

void notify(Mapping& m, const uint8_t* word) {
#if defined(__linux__)
  if (m.base) futex(word, FUTEX_WAKE, INT_MAX, nullptr);
  announce(m);
#else
  (void)m;
  (void)word;
#endif
}

WaitResult waitChange(Mapping& m, const uint8_t* word, uint32_t expected, uint32_t timeoutMs,
                      const std::atomic<bool>& cancelled) {
#if defined(__linux__)
  if (!m.base) return WaitResult::kCancelled;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    if (cancelled.load(std::memory_order_acquire)) return WaitResult::kCancelled;
    uint32_t now =
        std::atomic_ref<const uint32_t>(*reinterpret_cast<const uint32_t*>(word)).load(std::memory_order_seq_cst);
    if (now != expected) return WaitResult::kChanged;
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return WaitResult::kTimeout;
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    // The kernel sleeps only if the word still equals `expected`, atomically
    // with the writer's wake: no wake-up is lost. EAGAIN, EINTR, ETIMEDOUT
    // and spurious wakes all lead back to the checks above.
    futex(word, FUTEX_WAIT, expected, &ts);
  }
#else
  (void)m;
  (void)word;
  (void)expected;
  (void)timeoutMs;
  (void)cancelled;
  return WaitResult::kUnsupported;
#endif
}

void cancelWaits(Mapping& m, const uint8_t* word) {
#if defined(__linux__)
  if (m.base) futex(word, FUTEX_WAKE, INT_MAX, nullptr);
#else
  (void)m;
  (void)word;
#endif
}

// The change descriptor: an inotify instance with two watches, one on the
// object itself (through /proc/self/fd, so exactly the inode this mapping
// holds, whatever the name leads to now) and one on /dev/shm for new names.
// The writer's announce() is a futimens (IN_ATTRIB); its death or stop closes
// its read-write descriptor (IN_CLOSE_WRITE); shm_unlink drops the link count
// (IN_ATTRIB); a successor's object appears in /dev/shm (IN_CREATE, or
// IN_MOVED_TO). Watches cost the writer nothing: it makes one system call per
// announce whether or not anyone watches.
int openChangeFd(const Mapping& m) {
#if defined(__linux__)
  if (m.fd < 0 || !m.base) return -1;
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return -1;
  const std::string self = "/proc/self/fd/" + std::to_string(m.fd);
  if (inotify_add_watch(fd, self.c_str(), IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE) < 0 ||
      inotify_add_watch(fd, "/dev/shm", IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
#else
  (void)m;
  return -1;
#endif
}

void drainChangeFd(int fd) {
  alignas(8) char buf[4096];  // whole inotify events; their contents do not matter
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
}

void closeChangeFd(int fd) {
  if (fd >= 0) ::close(fd);
}

void announce(Mapping& m) {
#if defined(__linux__)
  if (m.writerLock && m.fd >= 0) futimens(m.fd, nullptr);
#else
  (void)m;
#endif
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
