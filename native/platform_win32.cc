// Windows regions: named file mappings backed by the paging file, an explicit
// owner-only DACL, and a named mutex held by the writer (abandonment tells
// readers the writer died). Errors carry GetLastError().
#if defined(_WIN32)

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <sddl.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "platform.h"

namespace commy::os {

namespace {

std::wstring widen(const std::string& s) { return std::wstring(s.begin(), s.end()); }  // names are ASCII

std::string mutexName(const std::string& name) { return name + "-writer"; }

// A mutex is recursive for its owning thread, so a probe from the writer's own
// process would wrongly succeed: remember the names this process writes.
std::mutex gOwnedMutex;
std::set<std::string> gOwned;

bool winError(Error& err, const char* what, const std::string& name, DWORD e, bool creating = false) {
  const char* c = code::kOs;
  std::string hint;
  if (e == ERROR_FILE_NOT_FOUND) {
    c = code::kNotFound;
    hint = ": no such region (is the writer running? a mapping vanishes when its last handle closes)";
  } else if (e == ERROR_ACCESS_DENIED) {
    c = code::kAccessDenied;
    hint = ": access denied (regions are owner-only; run as the writer's user)";
    if (creating && name.rfind("Global\\", 0) == 0) {
      c = code::kPrivilege;
      hint = ": access denied; creating Global\\ objects needs SeCreateGlobalPrivilege (run as a service or "
             "administrator, or use the default Local\\ namespace)";
    }
  } else if (e == ERROR_ALREADY_EXISTS) {
    c = code::kExists;
  }
  return err.set(c, std::string(what) + " " + name + " failed: GetLastError() " + std::to_string(e) + hint);
}

// Owner-only DACL: full access for the current user, nobody else.
struct OwnerOnly {
  SECURITY_ATTRIBUTES sa{};
  PSECURITY_DESCRIPTOR sd = nullptr;
  bool ok = false;
  OwnerOnly() {
    HANDLE token = nullptr;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return;
    DWORD len = 0;
    GetTokenInformation(token, TokenUser, nullptr, 0, &len);
    std::string buf(len, '\0');
    LPWSTR sidText = nullptr;
    if (len && GetTokenInformation(token, TokenUser, buf.data(), len, &len) &&
        ConvertSidToStringSidW(reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid, &sidText)) {
      // D:P = protected DACL (no inheritance); one ACE: GENERIC_ALL for the user.
      std::wstring sddl = L"D:P(A;;GA;;;" + std::wstring(sidText) + L")";
      ok = ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd, nullptr);
      LocalFree(sidText);
    }
    CloseHandle(token);
    sa.nLength = sizeof(sa);
    sa.lpSecurityDescriptor = sd;
    sa.bInheritHandle = FALSE;
  }
  ~OwnerOnly() {
    if (sd) LocalFree(sd);
  }
};

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

}  // namespace

std::string objectName(const std::string& cluster, const std::string& serverId, bool global) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s\\commy-%016" PRIx64, global ? "Global" : "Local", keyHash(cluster, serverId));
  return buf;
}

bool createNew(const std::string& name, size_t size, Mapping& out, Error& err) {
  OwnerOnly sec;
  if (!sec.ok) return winError(err, "building the owner-only DACL for", name, GetLastError());
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
  if (!lockWriter(out, err)) {
    close(out);
    return false;
  }
  return true;
}

bool openExisting(const std::string& name, bool writable, bool /*forWriter*/, Mapping& out, Error& err) {
  // The DACL admits only the creating user, so no owner check is needed here.
  HANDLE h = OpenFileMappingW(writable ? FILE_MAP_ALL_ACCESS : FILE_MAP_READ, FALSE, widen(name).c_str());
  if (!h) return winError(err, "OpenFileMappingW", name, GetLastError());
  if (!mapView(h, writable, out, name, err)) {
    CloseHandle(h);
    return false;
  }
  return true;
}

bool lockWriter(Mapping& m, Error& err) {
  OwnerOnly sec;
  std::string mname = mutexName(m.name);
  if (!sec.ok) return winError(err, "building the owner-only DACL for", mname, GetLastError());
  HANDLE h = CreateMutexW(&sec.sa, FALSE, widen(mname).c_str());
  if (!h) return winError(err, "CreateMutexW", mname, GetLastError(), true);
  for (int i = 0; i < 50; i++) {
    DWORD r = WaitForSingleObject(h, 0);
    if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) {  // abandoned: the old writer died
      std::lock_guard<std::mutex> g(gOwnedMutex);
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

bool writerAlive(Mapping& m) {
  if (m.writerLock) return true;
  {
    std::lock_guard<std::mutex> g(gOwnedMutex);
    if (gOwned.count(m.name)) return true;
  }
  HANDLE h = OpenMutexW(SYNCHRONIZE, FALSE, widen(mutexName(m.name)).c_str());
  if (!h) return false;  // no writer has it: it vanished with the last handle
  DWORD r = WaitForSingleObject(h, 0);
  bool alive = r == WAIT_TIMEOUT;
  if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) ReleaseMutex(h);
  CloseHandle(h);
  return alive;
}

bool replaced(const Mapping&) { return false; }  // a name maps to one object while any handle is open

void close(Mapping& m) {
  if (m.base) UnmapViewOfFile(m.base);
  if (m.mapHandle) CloseHandle(m.mapHandle);
  if (m.mutexHandle) {
    ReleaseMutex(m.mutexHandle);
    CloseHandle(m.mutexHandle);
    std::lock_guard<std::mutex> g(gOwnedMutex);
    gOwned.erase(m.name);
  }
  m.base = nullptr;
  m.mapHandle = nullptr;
  m.mutexHandle = nullptr;
  m.writerLock = false;
}

bool unlink(const std::string&, Error&) { return true; }  // the mapping goes with its last handle

bool listNames(std::vector<std::string>&) { return false; }  // named mappings cannot be enumerated

uint32_t currentPid() { return GetCurrentProcessId(); }

uint64_t wallClockMs() {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  uint64_t t = (uint64_t{ft.dwHighDateTime} << 32) | ft.dwLowDateTime;  // 100 ns since 1601
  return (t - 116444736000000000ULL) / 10000ULL;
}

}  // namespace commy::os

#endif  // _WIN32
