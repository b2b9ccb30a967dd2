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
#include <aclapi.h>
#include <sddl.h>
#include <windows.h>

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
      hint =
          ": access denied; creating Global\\ objects needs SeCreateGlobalPrivilege (run as a service or "
          "administrator, or use the default Local\\ namespace)";
    }
  } else if (e == ERROR_ALREADY_EXISTS) {
    c = code::kExists;
  }
  return err.set(c, std::string(what) + " " + name + " failed: GetLastError() " + std::to_string(e) + hint);
}

// The current token's user SID, in a TOKEN_USER buffer.
struct TokenUserSid {
  std::string buf;
  TokenUserSid() {
    HANDLE token = nullptr;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return;
    DWORD len = 0;
    GetTokenInformation(token, TokenUser, nullptr, 0, &len);
    buf.assign(len, '\0');
    if (!len || !GetTokenInformation(token, TokenUser, buf.data(), len, &len)) buf.clear();
    CloseHandle(token);
  }
  PSID sid() const { return buf.empty() ? nullptr : reinterpret_cast<const TOKEN_USER*>(buf.data())->User.Sid; }
};

std::string sidString(PSID sid) {
  LPSTR text = nullptr;
  if (!sid || !ConvertSidToStringSidA(sid, &text)) return "an unknown SID";
  std::string s = text;
  LocalFree(text);
  return s;
}

// Owner-only DACL: full access for the current user, nobody else. The owner is
// set to the user too (by default it is the token's owner, which for an
// elevated administrator is the Administrators group), so that openExisting
// can tell our objects from a squatter's.
struct OwnerOnly {
  SECURITY_ATTRIBUTES sa{};
  PSECURITY_DESCRIPTOR sd = nullptr;
  bool ok = false;
  OwnerOnly() {
    TokenUserSid user;
    LPWSTR sidText = nullptr;
    if (user.sid() && ConvertSidToStringSidW(user.sid(), &sidText)) {
      // D:P = protected DACL (no inheritance); one ACE: GENERIC_ALL for the user.
      std::wstring sddl = L"O:" + std::wstring(sidText) + L"D:P(A;;GA;;;" + std::wstring(sidText) + L")";
      ok = ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1, &sd, nullptr);
      LocalFree(sidText);
    }
    sa.nLength = sizeof(sa);
    sa.lpSecurityDescriptor = sd;
    sa.bInheritHandle = FALSE;
  }
  ~OwnerOnly() {
    if (sd) LocalFree(sd);
  }
};

// SYSTEM and the Administrators group can take any object over anyway, so
// like root on POSIX they do not make an object untrustworthy.
bool isPrivilegedSid(PSID sid) {
  return IsWellKnownSid(sid, WinLocalSystemSid) || IsWellKnownSid(sid, WinBuiltinAdministratorsSid);
}

// Rights that let a holder change what readers see (generic rights included:
// Windows maps them to specific ones when it stores an ACE, Wine does not).
constexpr ACCESS_MASK kWriteRights =
    SECTION_MAP_WRITE | SECTION_EXTEND_SIZE | WRITE_DAC | WRITE_OWNER | DELETE | GENERIC_WRITE | GENERIC_ALL;

// The DACL counterpart of the POSIX owner and mode checks. Anyone: nobody
// else may write it (a NULL DACL lets everybody). A writer taking an object
// over: we own it and nobody else has any access. Else ERR_REGION_UNTRUSTED.
bool checkSecurity(HANDLE h, bool forWriter, const std::string& name, Error& err) {
  TokenUserSid user;
  if (!user.sid()) return winError(err, "reading this process's user SID for", name, GetLastError());
  PSID owner = nullptr;
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  DWORD rc = GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, &owner,
                             nullptr, &dacl, nullptr, &sd);
  if (rc != ERROR_SUCCESS) return winError(err, "GetSecurityInfo", name, rc);
  std::string why;
  if (!dacl) {
    why = "it has a NULL DACL, so everybody may write to it";
  } else if (forWriter && (!owner || !EqualSid(owner, user.sid()))) {
    why = "it is owned by " + sidString(owner) + ", not by this process's user " + sidString(user.sid());
  } else {
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
      if (EqualSid(sid, user.sid()) || isPrivilegedSid(sid)) continue;
      if (forWriter)
        why = "its DACL gives " + sidString(sid) + " access";
      else if (allow->Mask & kWriteRights)
        why = "its DACL lets " + sidString(sid) + " write to it";
    }
  }
  LocalFree(sd);
  if (why.empty()) return true;
  return err.set(code::kUntrusted, "refusing region " + name + ": " + why +
                                       ". commy did not create it for this user; stop the process that holds it");
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

}  // namespace

std::string objectName(const std::string& cluster, const std::string& serverId, bool global) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s\\commy-%016" PRIx64, global ? "Global" : "Local", keyHash(cluster, serverId));
  return buf;
}

bool createNew(const std::string& name, size_t size, const Access& /*access*/, Mapping& out, Error& err) {
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

bool openExisting(const std::string& name, bool writable, bool forWriter, const Access& /*access*/, Mapping& out,
                  Error& err) {
  // READ_CONTROL to check who created it: anyone in this session may have.
  HANDLE h =
      OpenFileMappingW((writable ? FILE_MAP_ALL_ACCESS : FILE_MAP_READ) | READ_CONTROL, FALSE, widen(name).c_str());
  if (!h) return winError(err, "OpenFileMappingW", name, GetLastError());
  if (!checkSecurity(h, forWriter, name, err) || !mapView(h, writable, out, name, err)) {
    CloseHandle(h);
    return false;
  }
  if (uint64_t max = totalSizeFor(kMaxCapacity) * 2; out.size > max) {  // as on POSIX
    std::string size = std::to_string(out.size);
    close(out);
    return err.set(code::kBadLayout, "region " + name + " is " + size + " bytes, larger than any valid region");
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

bool grant(Mapping&, const Access&, Error&) { return true; }

bool publish(Mapping&, bool, Error&) { return true; }  // a mapping has its name from creation

bool retire(Mapping& m, const std::string& shape, Error& err) {
  close(m);
  return err.set(code::kBadLayout, "a dead writer's region is still held open by readers with another layout (" +
                                       shape + "); close those readers or use the same capacity");
}

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
