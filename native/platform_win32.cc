// Windows regions: named file mappings backed by the paging file, an explicit
// DACL (owner-only, or with a read-only ACE for `readers`), a named mutex held
// by the writer (abandonment tells readers the writer died), and a named
// semaphore the writer releases when the status word moves (change
// notification). Errors carry GetLastError().
#if defined(_WIN32)

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <aclapi.h>
#include <sddl.h>
#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "platform.h"

namespace commy::os {

namespace {

std::wstring widen(const std::string& s) { return std::wstring(s.begin(), s.end()); }  // object names are ASCII

// Account names are not: UTF-8 (from JS) to UTF-16 and back.
std::wstring fromUtf8(const std::string& s) {
  int n = s.empty() ? 0 : MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring w(n > 0 ? n : 0, L'\0');
  if (n > 0) MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), w.data(), n);
  return w;
}

std::string toUtf8(const wchar_t* w) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, nullptr, 0, nullptr, nullptr);
  if (n <= 1) return {};
  std::string s(n - 1, '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, -1, s.data(), n, nullptr, nullptr);
  return s;
}

std::string mutexName(const std::string& name) { return name + "-writer"; }
std::string semaphoreName(const std::string& name) { return name + "-changed"; }

// A mutex is recursive for its owning thread, so a probe from the writer's own
// process would wrongly succeed: remember the names this process writes. And
// the account each open reader mapping expects to own its writer mutex.
std::mutex gLock;
std::set<std::string> gOwned;
std::map<void*, std::string> gExpectedOwner;  // mapping handle -> SID bytes

bool winError(Error& err, const char* what, const std::string& name, DWORD e, bool creating = false) {
  const char* c = code::kOs;
  std::string hint;
  if (e == ERROR_FILE_NOT_FOUND) {
    c = code::kNotFound;
    hint = ": no such region (is the writer running? a mapping vanishes when its last handle closes)";
  } else if (e == ERROR_ACCESS_DENIED) {
    c = code::kAccessDenied;
    hint = ": access denied (regions are owner-only unless the writer grants `readers`; run as the writer's user)";
    if (creating && name.rfind("Global\\", 0) == 0) {
      c = code::kPrivilege;
      hint =
          ": access denied; creating Global\\ objects needs SeCreateGlobalPrivilege (run as a service or "
          "administrator, or use the default Local\\ namespace)";
    }
  } else if (e == ERROR_ALREADY_EXISTS) {
    c = code::kExists;
  }
  return err.set(c, std::string(what) + " " + name + " failed: GetLastError() " + std::to_string(e) + hint);
}

// SIDs are kept as their bytes in a std::string (empty: none).
std::string sidBytes(PSID sid) {
  return sid && IsValidSid(sid) ? std::string(static_cast<const char*>(sid), GetLengthSid(sid)) : std::string();
}
PSID sidOf(const std::string& bytes) { return bytes.empty() ? nullptr : const_cast<char*>(bytes.data()); }

// This process's user SID (read once: a process token's user never changes).
const std::string& selfSid() {
  static const std::string sid = [] {
    HANDLE token = nullptr;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return std::string();
    DWORD len = 0;
    GetTokenInformation(token, TokenUser, nullptr, 0, &len);
    std::string buf(len, '\0');
    bool ok = len && GetTokenInformation(token, TokenUser, buf.data(), len, &len);
    CloseHandle(token);
    return ok ? sidBytes(reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid) : std::string();
  }();
  return sid;
}

std::string sidString(PSID sid) {
  LPSTR text = nullptr;
  if (!sid || !ConvertSidToStringSidA(sid, &text)) return "an unknown SID";
  std::string s = text;
  LocalFree(text);
  return s;
}

// "BUILTIN\Users (S-1-5-32-545)": the account for people, the SID for the record.
std::string describeSid(PSID sid) {
  if (!sid) return "nobody (no owner)";
  wchar_t name[256], domain[256];
  DWORD nameLen = 256, domainLen = 256;
  SID_NAME_USE use;
  if (!LookupAccountSidW(nullptr, sid, name, &nameLen, domain, &domainLen, &use)) return sidString(sid);
  std::string who = domain[0] ? toUtf8(domain) + "\\" + toUtf8(name) : toUtf8(name);
  return who + " (" + sidString(sid) + ")";
}

// The SID an account or group name (or a string SID "S-1-...") stands for;
// `field` names the option in errors.
bool resolveAccount(const std::string& name, const char* field, const char* kind, std::string& out, Error& err) {
  PSID parsed = nullptr;
  if (name.rfind("S-1-", 0) == 0 && ConvertStringSidToSidW(fromUtf8(name).c_str(), &parsed)) {
    out = sidBytes(parsed);
    LocalFree(parsed);
    return true;
  }
  BYTE sid[SECURITY_MAX_SID_SIZE];
  wchar_t domain[256];
  DWORD sidLen = sizeof(sid), domainLen = 256;
  SID_NAME_USE use;
  if (!name.empty() && LookupAccountNameW(nullptr, fromUtf8(name).c_str(), sid, &sidLen, domain, &domainLen, &use)) {
    if (use == SidTypeDomain)  // a computer or domain name: no account owns or reads as that
      return err.set(code::kInvalidArg, std::string(field) + " \"" + name + "\" names a domain, not an " + kind);
    out = sidBytes(sid);
    return true;
  }
  DWORD e = GetLastError();
  if (name.empty() || e == ERROR_NONE_MAPPED)
    return err.set(code::kInvalidArg, std::string(field) + " \"" + name + "\": no such " + kind +
                                          " on this host (give an account name, DOMAIN\\name, or a SID S-1-...)");
  return err.set(code::kOs, std::string(field) + " \"" + name + "\": LookupAccountNameW failed: GetLastError() " +
                                std::to_string(e));
}

enum class Kind { kMapping, kMutex, kSemaphore };

// Rights of the `readers` ACE. A mapping: what GENERIC_READ maps to for a
// section (query, map for reading, read its security descriptor). The mutex:
// wait on it and release it (the liveness probe) and read its descriptor. The
// change semaphore: wait on it (a satisfied wait takes one count, which needs
// SYNCHRONIZE only) and read its descriptor; not SEMAPHORE_MODIFY_STATE, so a
// reader account cannot release it (only the writer signals changes).
constexpr ACCESS_MASK kReadersMapping = SECTION_QUERY | SECTION_MAP_READ | READ_CONTROL;
constexpr ACCESS_MASK kReadersMutex = SYNCHRONIZE | MUTEX_MODIFY_STATE | READ_CONTROL;
constexpr ACCESS_MASK kReadersSemaphore = SYNCHRONIZE | READ_CONTROL;
ACCESS_MASK readersRights(Kind k) {
  return k == Kind::kMapping ? kReadersMapping : k == Kind::kMutex ? kReadersMutex : kReadersSemaphore;
}
// What GENERIC_READ means for a semaphore besides READ_CONTROL (winnt.h has no
// name for it in mingw): reading the count tells nothing the word does not.
constexpr ACCESS_MASK kSemaphoreQueryState = 0x0001;

// Rights that let a holder change what readers see (generic rights included:
// Windows maps them to specific ones when it stores an ACE, Wine does not).
// For the semaphore: releasing it, which only causes spurious wakes, but a
// stranger's hand on it is a stranger's object.
constexpr ACCESS_MASK kChangeRights = WRITE_DAC | WRITE_OWNER | DELETE | GENERIC_WRITE | GENERIC_ALL;
ACCESS_MASK writeRights(Kind k) {
  if (k == Kind::kMapping) return kChangeRights | SECTION_MAP_WRITE | SECTION_EXTEND_SIZE;
  return k == Kind::kSemaphore ? kChangeRights | SEMAPHORE_MODIFY_STATE : kChangeRights;
}

// The security descriptor commy gives its objects: owned by this user, a
// protected DACL (nothing inherited) with full access for the user and, with
// `readers` (SID bytes), read-only access for that account or group. The
// owner is set explicitly (by default it is the token's owner, which for an
// elevated administrator is the Administrators group) so that openers can
// tell our objects from a squatter's.
struct Security {
  SECURITY_ATTRIBUTES sa{};
  PSECURITY_DESCRIPTOR sd = nullptr;
  Security(Kind kind, const std::string& readers) {
    if (!selfSid().empty()) {
      std::string self = sidString(sidOf(selfSid()));
      std::string sddl = "O:" + self + "D:P(A;;GA;;;" + self + ")";
      if (!readers.empty()) {
        char mask[16];
        std::snprintf(mask, sizeof(mask), "0x%lx", static_cast<unsigned long>(readersRights(kind)));
        sddl += "(A;;" + std::string(mask) + ";;;" + sidString(sidOf(readers)) + ")";
      }
      if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(sddl.c_str(), SDDL_REVISION_1, &sd, nullptr))
        sd = nullptr;
    }
    sa.nLength = sizeof(sa);
    sa.lpSecurityDescriptor = sd;
    sa.bInheritHandle = FALSE;
  }
  Security(const Security&) = delete;
  Security& operator=(const Security&) = delete;
  ~Security() {
    if (sd) LocalFree(sd);
  }
};

// SYSTEM and the Administrators group can take any object over anyway, so
// like root on POSIX they do not make an object untrustworthy.
bool isPrivilegedSid(PSID sid) {
  return IsWellKnownSid(sid, WinLocalSystemSid) || IsWellKnownSid(sid, WinBuiltinAdministratorsSid);
}

// The DACL counterpart of the POSIX owner and mode checks: why h cannot be
// trusted, or "" when it can. It must have a DACL and be owned by `expected`
// (SID bytes; ownerNote follows that owner in the reason). Other accounts
// (SYSTEM and Administrators aside) may at most read it when forWriter, and
// may not change it otherwise. `rc`: GetSecurityInfo's error (reason "").
std::string untrusted(HANDLE h, Kind kind, const std::string& expected, bool forWriter, const std::string& ownerNote,
                      DWORD& rc) {
  PSID owner = nullptr;
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  rc = GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, &owner, nullptr,
                       &dacl, nullptr, &sd);
  if (rc != ERROR_SUCCESS) return {};
  PSID want = sidOf(expected);
  std::string why;
  if (!dacl) {
    why = "it has a NULL DACL, so everybody may use and change it";
  } else if (!owner || !want || !EqualSid(owner, want)) {
    why = "it is owned by " + describeSid(owner) + ", not by " + describeSid(want) + ownerNote;
  } else {
    const ACCESS_MASK allowed =
        readersRights(kind) | GENERIC_READ | (kind == Kind::kSemaphore ? kSemaphoreQueryState : 0);
    for (DWORD i = 0; i < dacl->AceCount && why.empty(); i++) {
      ACE_HEADER* ace = nullptr;
      if (!GetAce(dacl, i, reinterpret_cast<void**>(&ace))) continue;
      if (ace->AceType == ACCESS_DENIED_ACE_TYPE) continue;  // only takes access away
      if (ace->AceType != ACCESS_ALLOWED_ACE_TYPE) {
        why = "its DACL has an ACE of type " + std::to_string(ace->AceType) + " that commy does not create";
        break;
      }
      auto* allow = reinterpret_cast<ACCESS_ALLOWED_ACE*>(ace);
      PSID sid = &allow->SidStart;
      if (EqualSid(sid, want) || isPrivilegedSid(sid)) continue;
      char mask[16];
      std::snprintf(mask, sizeof(mask), "0x%lx", static_cast<unsigned long>(allow->Mask));
      if (forWriter && (allow->Mask & ~allowed))
        why = "its DACL gives " + describeSid(sid) + " more than read access (" + mask + ")";
      else if (!forWriter && (allow->Mask & writeRights(kind)))
        why = "its DACL lets " + describeSid(sid) + " change it (" + mask + ")";
    }
  }
  LocalFree(sd);
  return why;
}

// ERR_REGION_UNTRUSTED for a writer mutex that is not the region owner's.
bool mutexRefused(Error& err, const std::string& name, const std::string& why, bool forWriter) {
  const std::string m = mutexName(name);
  return err.set(code::kUntrusted,
                 "refusing region " + name + ": its writer mutex " + m + " is not the writer's: " + why +
                     ". Another process took that name, so " +
                     (forWriter ? "no writer can take the lock" : "this reader cannot tell whether the writer lives") +
                     "; stop the process that holds " + m + " (Sysinternals handle.exe -a " + m +
                     " finds it), then start the writer again");
}

// ERR_REGION_UNTRUSTED for a change semaphore that is not the region owner's.
bool semaphoreRefused(Error& err, const std::string& name, const std::string& why, bool forWriter) {
  const std::string s = semaphoreName(name);
  return err.set(code::kUntrusted, "refusing region " + name + ": its change semaphore " + s +
                                       " is not the writer's: " + why + ". Another process took that name, so " +
                                       (forWriter ? "this writer could not wake its readers (and the squatter could)"
                                                  : "this reader's wake-ups would be a stranger's to give or take") +
                                       "; stop the process that holds " + s + " (Sysinternals handle.exe -a " + s +
                                       " finds it), then start the writer again");
}

bool mapView(HANDLE h, bool writable, Mapping& out, const std::string& name, Error& err) {
  void* p = MapViewOfFile(h, writable ? FILE_MAP_ALL_ACCESS : FILE_MAP_READ, 0, 0, 0);
  if (!p) return winError(err, "MapViewOfFile", name, GetLastError());
  MEMORY_BASIC_INFORMATION info;
  if (VirtualQuery(p, &info, sizeof(info)) == 0) {
    DWORD e = GetLastError();
    UnmapViewOfFile(p);
    return winError(err, "VirtualQuery", name, e);
  }
  out.base = static_cast<uint8_t*>(p);
  out.size = info.RegionSize;
  out.writable = writable;
  out.mapHandle = h;
  out.name = name;
  return true;
}

bool resolveReaders(const Access& access, std::string& sid, Error& err) {
  return access.readers.empty() || resolveAccount(access.readers, "readers", "account or group", sid, err);
}

// A reader at open: a writer mutex that exists must be the expected owner's,
// or the region's liveness would be a stranger's word. One this account may
// not even inspect is left to writerAlive, which counts it as no writer.
bool readerMutexTrusted(const std::string& name, const std::string& expected, Error& err) {
  const std::string m = mutexName(name);
  HANDLE h = OpenMutexW(READ_CONTROL, FALSE, widen(m).c_str());
  if (!h) return true;
  DWORD rc = 0;
  std::string why = untrusted(h, Kind::kMutex, expected, false, "", rc);
  CloseHandle(h);
  if (rc != ERROR_SUCCESS) return winError(err, "GetSecurityInfo", m, rc);
  return why.empty() || mutexRefused(err, name, why, false);
}

// lockWriter, creating the mutex (when it does not exist yet) with `readers`.
// An existing mutex (CreateMutexW opens it) must be ours with others at most
// reading, as for a writer's mapping: a squatter holding it would keep every
// writer out and pass for a live writer.
bool takeLock(Mapping& m, const std::string& readers, Error& err) {
  const std::string mname = mutexName(m.name);
  if (selfSid().empty()) return winError(err, "reading this process's user SID for", mname, GetLastError());
  Security sec(Kind::kMutex, readers);
  if (!sec.sd) return winError(err, "building the DACL for", mname, GetLastError());
  HANDLE h = CreateMutexW(&sec.sa, FALSE, widen(mname).c_str());
  DWORD e = GetLastError();
  if (!h && e != ERROR_ACCESS_DENIED) return winError(err, "CreateMutexW", mname, e, true);
  if (!h || e == ERROR_ALREADY_EXISTS) {
    // It existed (denied: it may exist): whose is it?
    HANDLE probe = h ? h : OpenMutexW(READ_CONTROL, FALSE, widen(mname).c_str());
    if (!probe) {
      if (GetLastError() == ERROR_ACCESS_DENIED)
        return mutexRefused(err, m.name, "it exists, and this account may not even read its owner", true);
      return winError(err, "CreateMutexW", mname, e, true);  // e.g. Global\ without the privilege
    }
    DWORD rc = 0;
    std::string why = untrusted(probe, Kind::kMutex, selfSid(), true, " (this process's account)", rc);
    if (!h || !why.empty() || rc != ERROR_SUCCESS) CloseHandle(probe);
    if (!why.empty()) return mutexRefused(err, m.name, why, true);
    if (rc != ERROR_SUCCESS) return winError(err, "GetSecurityInfo", mname, rc);
    if (!h) return winError(err, "CreateMutexW", mname, e, true);  // ours, yet it denies us
  }
  for (int i = 0; i < 50; i++) {
    DWORD r = WaitForSingleObject(h, 0);
    if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) {  // abandoned: the old writer died
      std::lock_guard<std::mutex> g(gLock);
      if (gOwned.count(m.name)) {  // we already own it through another object
        ReleaseMutex(h);
        break;
      }
      gOwned.insert(m.name);
      m.mutexHandle = h;
      m.writerLock = true;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a reader's probe holds it briefly
  }
  CloseHandle(h);
  return err.set(code::kWriterAlive, "region " + m.name + " already has a live writer");
}

}  // namespace

std::string objectName(const std::string& cluster, const std::string& serverId, bool global) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s\\commy-%016" PRIx64, global ? "Global" : "Local", keyHash(cluster, serverId));
  return buf;
}

bool createNew(const std::string& name, size_t size, const Access& access, Mapping& out, Error& err) {
  std::string readers;
  if (!resolveReaders(access, readers, err)) return false;
  if (selfSid().empty()) return winError(err, "reading this process's user SID for", name, GetLastError());
  Security sec(Kind::kMapping, readers);
  if (!sec.sd) return winError(err, "building the DACL for", name, GetLastError());
  uint64_t sz = size;
  HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, &sec.sa, PAGE_READWRITE, static_cast<DWORD>(sz >> 32),
                                static_cast<DWORD>(sz & 0xFFFFFFFFu), widen(name).c_str());
  DWORD e = GetLastError();
  if (!h) return winError(err, "CreateFileMappingW", name, e, true);
  if (e == ERROR_ALREADY_EXISTS) {
    CloseHandle(h);
    return winError(err, "CreateFileMappingW", name, e);
  }
  if (!mapView(h, true, out, name, err)) {
    CloseHandle(h);
    return false;
  }
  if (!takeLock(out, readers, err)) {
    close(out);
    return false;
  }
  return true;
}

bool openExisting(const std::string& name, bool writable, bool forWriter, const Access& access, Mapping& out,
                  Error& err) {
  // The account that must own it: a writer always expects itself.
  const bool self = forWriter || access.owner.empty();
  std::string expected = selfSid();
  if (expected.empty()) return winError(err, "reading this process's user SID for", name, GetLastError());
  if (!self && !resolveAccount(access.owner, "owner", "account", expected, err)) return false;
  const std::string note = forWriter ? " (this process's account); another account created it first"
                           : self    ? " (this process's account; name the owner to read another account's region: "
                                       "--owner, or owner in ClusterView.open)"
                                     : "";
  // READ_CONTROL to check who created it: anyone in this session may have.
  HANDLE h =
      OpenFileMappingW((writable ? FILE_MAP_ALL_ACCESS : FILE_MAP_READ) | READ_CONTROL, FALSE, widen(name).c_str());
  if (!h) return winError(err, "OpenFileMappingW", name, GetLastError());
  DWORD rc = 0;
  std::string why = untrusted(h, Kind::kMapping, expected, forWriter, note, rc);
  if (rc != ERROR_SUCCESS || !why.empty()) {
    CloseHandle(h);
    if (rc != ERROR_SUCCESS) return winError(err, "GetSecurityInfo", name, rc);
    return err.set(code::kUntrusted, "refusing region " + name + ": " + why +
                                         ". If it is not a region of the expected account, stop the process that "
                                         "holds it (the name goes with its last handle)");
  }
  // A writer checks the mutex when it takes the lock; a reader now.
  if ((!forWriter && !readerMutexTrusted(name, expected, err)) || !mapView(h, writable, out, name, err)) {
    CloseHandle(h);
    return false;
  }
  if (uint64_t max = totalSizeFor(kMaxCapacity) * 2; out.size > max) {  // as on POSIX
    std::string size = std::to_string(out.size);
    close(out);
    return err.set(code::kBadLayout, "region " + name + " is " + size + " bytes, larger than any valid region");
  }
  std::lock_guard<std::mutex> g(gLock);
  gExpectedOwner[h] = expected;
  return true;
}

bool lockWriter(Mapping& m, Error& err) { return takeLock(m, std::string(), err); }

// A live writer is a held mutex of the region's owner. One owned by anyone
// else, or that others may change, is a squatter's: it says nothing about the
// writer, so it counts as none (openExisting refused it if it was there then).
bool writerAlive(Mapping& m) {
  if (m.writerLock) return true;
  std::string expected;
  {
    std::lock_guard<std::mutex> g(gLock);
    if (gOwned.count(m.name)) return true;
    auto it = gExpectedOwner.find(m.mapHandle);
    expected = it != gExpectedOwner.end() ? it->second : selfSid();
  }
  HANDLE h = OpenMutexW(kReadersMutex, FALSE, widen(mutexName(m.name)).c_str());
  if (!h) return false;  // no writer has it: it vanished with the last handle
  DWORD rc = 0;
  if (!untrusted(h, Kind::kMutex, expected, false, "", rc).empty() || rc != ERROR_SUCCESS) {
    CloseHandle(h);
    return false;
  }
  DWORD r = WaitForSingleObject(h, 0);
  bool alive = r == WAIT_TIMEOUT;
  if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) ReleaseMutex(h);
  CloseHandle(h);
  return alive;
}

bool replaced(const Mapping&) { return false; }  // a name maps to one object while any handle is open

void close(Mapping& m) {
  if (m.base) UnmapViewOfFile(m.base);
  if (m.mapHandle) {
    {
      std::lock_guard<std::mutex> g(gLock);
      gExpectedOwner.erase(m.mapHandle);
    }
    CloseHandle(m.mapHandle);
  }
  if (m.mutexHandle) {
    ReleaseMutex(m.mutexHandle);
    CloseHandle(m.mutexHandle);
    std::lock_guard<std::mutex> g(gLock);
    gOwned.erase(m.name);
  }
  if (m.changeHandle) CloseHandle(m.changeHandle);
  if (m.cancelHandle) CloseHandle(m.cancelHandle);
  m.base = nullptr;
  m.mapHandle = nullptr;
  m.mutexHandle = nullptr;
  m.changeHandle = nullptr;
  m.cancelHandle = nullptr;
  m.writerLock = false;
}

bool unlink(const std::string&, Error&) { return true; }  // the mapping goes with its last handle

// A writer that took an object over gives it (mapping, mutex, and the change
// semaphore once openNotifier has it) its own DACL: the old writer's readers
// lose access unless this one grants them too.
bool grant(Mapping& m, const Access& access, Error& err) {
  std::string readers;
  if (!resolveReaders(access, readers, err)) return false;
  if (selfSid().empty()) return winError(err, "reading this process's user SID for", m.name, GetLastError());
  const struct {
    HANDLE h;
    Kind kind;
    std::string name;
  } objects[] = {{m.mapHandle, Kind::kMapping, m.name},
                 {m.mutexHandle, Kind::kMutex, mutexName(m.name)},
                 {m.changeHandle, Kind::kSemaphore, semaphoreName(m.name)}};
  for (const auto& o : objects) {
    if (!o.h) continue;
    Security sec(o.kind, readers);
    if (!sec.sd) return winError(err, "building the DACL for", o.name, GetLastError());
    // The whole descriptor, so that its protected-DACL flag comes along (Wine's
    // SetSecurityInfo loses PROTECTED_DACL_SECURITY_INFORMATION).
    if (!SetKernelObjectSecurity(o.h, DACL_SECURITY_INFORMATION, sec.sd))
      return winError(err, "SetKernelObjectSecurity (its DACL) on", o.name, GetLastError());
  }
  return true;
}

bool publish(Mapping&, bool, Error&) { return true; }  // a mapping has its name from creation

bool retire(Mapping& m, const std::string& shape, Error& err) {
  close(m);
  return err.set(code::kBadLayout, "a dead writer's region is still held open by readers with another layout (" +
                                       shape + "); close those readers or use the same capacity");
}

// ---- change notification ----------------------------------------------------
// The named semaphore <name>-changed. The writer bumps header::kStatusSeq
// (seq_cst), then notify() releases kWakeCount. A waiter loads the word, and
// only if it still equals what it last saw, waits on the semaphore; whatever
// wakes it, it loads the word again.
//
// Why no wake-up is lost between a waiter's load and its wait: a semaphore
// keeps its count (unlike PulseEvent, or a SetEvent/ResetEvent pair). If the
// waiter loaded the old value, the writer's store, and so its release, came
// after that load. Either the waiter was already blocked when the release ran,
// and the kernel satisfies its wait inside ReleaseSemaphore (it takes its count
// there and then, so no later waiter can take it first), or it was not yet
// blocked, and the count is still there when it waits, which returns at once.
// Both the release and the satisfied wait are kernel calls (full barriers), so
// the woken waiter's second load sees the new value.
//
// The limit of that argument: counts are shared by every waiter in every
// process. After a notify there are at least kWakeCount of them (see notify),
// so a waiter between its load and its wait misses the change only if more
// than kWakeCount other waits take counts first (e.g. more than 64 waiters
// already blocked, or fresh waiters draining leftover counts as spurious
// wakes). It then sleeps until its timeout, or the next change. Spare counts
// only cause spurious wakes, each of which costs one wait and one load, and
// there are never more than kMaxCount of them, so a waiter never spins.
namespace {
constexpr LONG kWakeCount = 64;
constexpr LONG kMaxCount = 2 * kWakeCount;

HANDLE newCancelEvent() { return CreateEventW(nullptr, TRUE, FALSE, nullptr); }  // manual reset: wakes all

// The writer's side: create the semaphore with the region's DACL, or check and
// re-grant the one that exists (a takeover while readers hold it).
bool openWriterSemaphore(Mapping& m, const Access& access, HANDLE& out, Error& err) {
  const std::string sname = semaphoreName(m.name);
  std::string readers;
  if (!resolveReaders(access, readers, err)) return false;
  if (selfSid().empty()) return winError(err, "reading this process's user SID for", sname, GetLastError());
  Security sec(Kind::kSemaphore, readers);
  if (!sec.sd) return winError(err, "building the DACL for", sname, GetLastError());
  HANDLE h = CreateSemaphoreW(&sec.sa, 0, kMaxCount, widen(sname).c_str());
  DWORD e = GetLastError();
  if (e == ERROR_INVALID_HANDLE)  // the name is taken by an event, mutex, mapping...
    return semaphoreRefused(err, m.name, "the name is taken by an object that is not a semaphore", true);
  if (!h && e != ERROR_ACCESS_DENIED) return true;  // no notification: readers poll
  if (h && e != ERROR_ALREADY_EXISTS) {
    out = h;
    return true;
  }
  // It existed (denied: it may exist): whose is it?
  HANDLE probe = h ? h : OpenSemaphoreW(READ_CONTROL, FALSE, widen(sname).c_str());
  if (!probe) {
    if (GetLastError() == ERROR_ACCESS_DENIED)
      return semaphoreRefused(err, m.name, "it exists, and this account may not even read its owner", true);
    return true;  // gone meanwhile: no notification this time
  }
  DWORD rc = 0;
  std::string why = untrusted(probe, Kind::kSemaphore, selfSid(), true, " (this process's account)", rc);
  if (rc != ERROR_SUCCESS) why = "its security descriptor cannot be read (GetSecurityInfo " + std::to_string(rc) + ")";
  if (!why.empty() || !h) {
    CloseHandle(probe);
    if (!why.empty()) return semaphoreRefused(err, m.name, why, true);
    return true;  // ours, yet it denies us: no notification
  }
  // Ours (a dead writer's, kept by its readers): with this writer's readers.
  if (!SetKernelObjectSecurity(h, DACL_SECURITY_INFORMATION, sec.sd)) {
    DWORD se = GetLastError();
    CloseHandle(h);
    return winError(err, "SetKernelObjectSecurity (its DACL) on", sname, se);
  }
  out = h;
  return true;
}

// A reader's side: the semaphore must be the expected owner's, and no other
// account may change it, as for the mapping. None, or none this account may
// wait on: no notification (the caller polls).
bool openReaderSemaphore(Mapping& m, const Access& access, HANDLE& out, Error& err) {
  const std::string sname = semaphoreName(m.name);
  std::string expected;
  {
    std::lock_guard<std::mutex> g(gLock);
    auto it = gExpectedOwner.find(m.mapHandle);
    if (it != gExpectedOwner.end()) expected = it->second;
  }
  if (expected.empty()) {  // not opened by openExisting: resolve it the same way
    expected = selfSid();
    if (!access.owner.empty() && !resolveAccount(access.owner, "owner", "account", expected, err)) return false;
  }
  HANDLE h = OpenSemaphoreW(SYNCHRONIZE | READ_CONTROL, FALSE, widen(sname).c_str());
  HANDLE probe = h;
  if (!h) {
    DWORD e = GetLastError();
    if (e == ERROR_INVALID_HANDLE)
      return semaphoreRefused(err, m.name, "the name is taken by an object that is not a semaphore", false);
    if (e != ERROR_ACCESS_DENIED) return true;  // none (e.g. an older writer): poll
    // Not ours to wait on; if it is a stranger's, say so.
    probe = OpenSemaphoreW(READ_CONTROL, FALSE, widen(sname).c_str());
    if (!probe) return true;
  }
  DWORD rc = 0;
  std::string why = untrusted(probe, Kind::kSemaphore, expected, false, "", rc);
  if (!why.empty() || rc != ERROR_SUCCESS || !h) CloseHandle(probe);
  if (!why.empty()) return semaphoreRefused(err, m.name, why, false);
  if (rc == ERROR_SUCCESS && h) out = h;
  return true;
}
}  // namespace

bool openNotifier(Mapping& m, bool writer, const Access& access, Error& err) {
  if (m.changeHandle) CloseHandle(m.changeHandle);
  if (m.cancelHandle) CloseHandle(m.cancelHandle);
  m.changeHandle = nullptr;
  m.cancelHandle = nullptr;
  HANDLE sem = nullptr;
  if (!(writer ? openWriterSemaphore(m, access, sem, err) : openReaderSemaphore(m, access, sem, err))) return false;
  if (!sem) return true;
  HANDLE cancel = newCancelEvent();
  if (!cancel) {  // without it a wait could not be cancelled: poll instead
    CloseHandle(sem);
    return true;
  }
  m.changeHandle = sem;
  m.cancelHandle = cancel;
  return true;
}

bool canWait(const Mapping& m) { return m.changeHandle != nullptr; }

// One call. With waiters blocked the count is 0 (a positive count satisfies
// any wait at once), so the release of kWakeCount succeeds and wakes up to
// that many. It fails (ERROR_TOO_MANY_POSTS, releasing nothing) only when more
// than kMaxCount - kWakeCount = kWakeCount counts are left over, which is no
// fewer than a release would give: either way at least kWakeCount counts
// follow the change.
void notify(Mapping& m, const uint8_t*) {
  if (m.changeHandle) ReleaseSemaphore(m.changeHandle, kWakeCount, nullptr);
}

WaitResult waitChange(Mapping& m, const uint8_t* word, uint32_t expected, uint32_t timeoutMs,
                      const std::atomic<bool>& cancelled) {
  if (!m.changeHandle || !m.cancelHandle) return WaitResult::kUnsupported;
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  // The cancel event stays set once cancelWaits ran. A wait whose own flag is
  // not set (a cancel for another wait on m) then waits on the semaphore alone,
  // in slices, checking its flag between them, instead of spinning on the event.
  constexpr DWORD kCancelSliceMs = 20;
  bool eventSpent = false;
  HANDLE handles[2] = {m.changeHandle, m.cancelHandle};
  for (;;) {
    if (cancelled.load(std::memory_order_acquire)) return WaitResult::kCancelled;
    if (loadU32(word, std::memory_order_acquire) != expected) return WaitResult::kChanged;
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return WaitResult::kTimeout;
    // Rounded up, so a wait never ends before the deadline and loops on 0 ms.
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    DWORD wait = static_cast<DWORD>(std::min<long long>(ms, INFINITE - 1));
    DWORD r;
    if (eventSpent) {
      r = WaitForSingleObject(m.changeHandle, std::min(wait, kCancelSliceMs));
    } else {
      r = WaitForMultipleObjects(2, handles, FALSE, wait);
      if (r == WAIT_OBJECT_0 + 1 && !cancelled.load(std::memory_order_acquire)) eventSpent = true;
    }
    if (r == WAIT_FAILED) return WaitResult::kUnsupported;  // e.g. a closed handle: the caller polls
    // WAIT_OBJECT_0 (a count: a change, or a spare one), the cancel event, or
    // WAIT_TIMEOUT: the checks above say which.
  }
}

void cancelWaits(Mapping& m, const uint8_t*) {
  if (m.cancelHandle) SetEvent(m.cancelHandle);
}

bool listNames(std::vector<std::string>&) { return false; }  // named mappings cannot be enumerated

uint32_t currentPid() { return GetCurrentProcessId(); }

uint64_t wallClockMs() {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  uint64_t t = (uint64_t{ft.dwHighDateTime} << 32) | ft.dwLowDateTime;  // 100 ns since 1601
  return (t - 116444736000000000ULL) / 10000ULL;
}

// No change descriptor: waits block a thread on the semaphore (waitChange).
int openChangeFd(const Mapping&) { return -1; }
void drainChangeFd(int) {}
void closeChangeFd(int) {}
void announce(Mapping&) {}

}  // namespace commy::os

#endif  // _WIN32
