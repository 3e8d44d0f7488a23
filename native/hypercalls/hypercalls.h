// Hypercall handlers: one file per family, each registering its handlers in
// the table the vCPU dispatches on. A handler gets the six Linux argument
// registers and returns the result or -errno. It runs on the vCPU thread,
// after the policy check, and reaches guest memory only through the
// bounds-checked accessors below. What may run is decided by the manifest
// (the policy bitmap), never here.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "../fd.h"
#include "../task.h"
#include "args.h"

namespace torov {

using Handler = int64_t (*)(Process& g, Task& t, const Args& a);

struct HypercallTable {
  Handler handlers[kMaxHypercall] = {};
};

// The table, filled once by the families below.
const HypercallTable& Hypercalls();

void RegisterChildHypercalls(HypercallTable& t);
void RegisterEventHypercalls(HypercallTable& t);
void RegisterFileHypercalls(HypercallTable& t);
void RegisterIoHypercalls(HypercallTable& t);
void RegisterMemoryHypercalls(HypercallTable& t);
void RegisterNetHypercalls(HypercallTable& t);
void RegisterPollHypercalls(HypercallTable& t);
void RegisterProcessHypercalls(HypercallTable& t);
void RegisterTimeHypercalls(HypercallTable& t);

// readlink("/proc/self/exe") is answered from the manifest without the host,
// so it is emulated (always allowed) even where readlink is not.
bool IsSelfExeReadlink(const Process& g, uint64_t nr, const Args& a);
// Whether a signal's default action is to ignore it (the others end the
// process here: there are no stops and no core dumps).
bool DefaultIsIgnore(int sig);
// Signals the guest sends, with their si_code: pending until a vCPU
// delivers or drops them (native/signals.cc). To one thread (tgkill, a
// fault, SIGPIPE), to the process (kill), or to the calling thread itself.
// `sender` (may be null) is the thread that sends.
int64_t SignalThread(Task& target, Task* sender, int sig, int32_t code);
int64_t SignalProcess(Process& g, Task* sender, int sig, int32_t code);
int64_t SignalSelf(Task& t, int sig, int32_t code);

// clone and clone3 when they make a process (children.cc).
int64_t CloneProcess(Process& g, Task& t, uint64_t flags, int exit_signal, uint64_t stack, uint64_t parent_tid,
                     uint64_t child_tid, uint64_t tls);

// ---- helpers shared by the families ----

inline int64_t HostResult(long r) { return r < 0 ? -errno : r; }

constexpr uint64_t kMaxRw = 0x7ffff000;  // Linux's MAX_RW_COUNT

// The buffer of one read or write (read, write, pread, sendto, recvfrom...),
// checked as Linux checks it: the whole length must pass access_ok (else
// EFAULT), then it is clamped to MAX_RW_COUNT and to what is mapped with
// `access` (a short transfer). False (EFAULT) when a non-empty buffer has no
// accessible byte.
inline bool GuestBuffer(const Process& g, uint64_t addr, uint64_t len, Access access, uint8_t** p, size_t* n) {
  if (!AccessOk(addr, len)) return false;
  if (len > kMaxRw) len = kMaxRw;
  *n = g.mm.UserExtent(addr, len, access);
  if (len && !*n) return false;
  *p = *n ? g.mm.User(addr, *n, access) : nullptr;
  return true;
}

// Copies a guest object in or out; false on a bad pointer (-EFAULT).
template <typename T>
bool CopyIn(const Process& g, uint64_t addr, T* out) {
  const uint8_t* p = g.mm.User(addr, sizeof(T), Access::kRead);
  if (!p) return false;
  std::memcpy(out, p, sizeof(T));
  return true;
}
// The monitor's own writes hold the address space (AddressSpace::Hold).
template <typename T>
bool CopyOut(const Process& g, uint64_t addr, const T& in) {
  const auto hold = g.mm.Hold();
  uint8_t* p = g.mm.User(addr, sizeof(T), Access::kWrite);
  if (!p) return false;
  std::memcpy(p, &in, sizeof(T));
  return true;
}
inline bool CopyInBytes(const Process& g, uint64_t addr, void* out, uint64_t len) {
  const uint8_t* p = g.mm.User(addr, len, Access::kRead);
  if (!p) return false;
  std::memcpy(out, p, len);
  return true;
}
inline bool CopyOutBytes(const Process& g, uint64_t addr, const void* in, uint64_t len) {
  const auto hold = g.mm.Hold();
  uint8_t* p = g.mm.User(addr, len, Access::kWrite);
  if (!p) return false;
  std::memcpy(p, in, len);
  return true;
}

// A guest path string (at most PATH_MAX - 1 bytes); 0 or -EFAULT/-ENAMETOOLONG.
int GuestPath(const Process& g, uint64_t addr, std::string* out);

// Runs a host call for a guest file descriptor with the guest's blocking
// semantics: EINTR is retried, and EAGAIN from a host description that is
// non-blocking while the guest's view of it is blocking waits for `events`,
// unless this one call asked not to wait (`dont_wait`: MSG_DONTWAIT).
template <typename Op>
int64_t HostIo(const Task& t, const OpenFile& f, short events, Op op, bool dont_wait = false);
// The same for a call that moves data from `in` to `out` (splice, tee,
// sendfile, copy_file_range): it waits for both, and not at all when either
// is non-blocking in the guest's view, as Linux does.
template <typename Op>
int64_t HostIoBetween(const Task& t, const OpenFile& in, const OpenFile& out, Op op, bool dont_wait = false);

// Resolves (dirfd, path) to a host O_PATH fd: a file inside the MountPoint,
// a virtual device, /proc/self/exe, or what a /dev/fd/N alias names.
// `nofollow` keeps a final symlink; `empty_path` allows "" to mean dirfd
// itself (AT_EMPTY_PATH). *borrowed (when given) tells whether the file is
// one lent from outside the MountPoint (OpenFile::borrowed). 0 or -errno.
int ResolvePath(Process& g, int64_t dirfd, uint64_t path_addr, bool nofollow, bool empty_path, Fd* out,
                bool* borrowed = nullptr);

// The mode bits a guest may set on a host file: never set-user-ID, and
// set-group-ID only on a directory (where it only passes on its group).
// A guest must not leave a set-ID program on the host's disk.
inline mode_t NoSetId(mode_t mode, bool directory) {
  return mode & (directory ? 07777 & ~S_ISUID : 0777 | S_ISVTX);
}

// The /proc and /sys files this guest gets its own answer for
// (procfs.cc): a read-only host fd holding it, -errno, or kNotProcFile when
// normalised guest path `n` is none of them.
constexpr int kNotProcFile = 1;
int OpenProcFile(Process& g, const std::string& n, int flags);

// Installs a freshly opened host fd as a guest fd (lowest free), recording
// what later calls need (O_NONBLOCK view, directory path). Takes ownership.
// `borrowed`: a file lent from outside the MountPoint (OpenFile::borrowed).
int64_t InstallHostFd(Process& g, int host_fd, int open_flags, bool borrowed = false);
// The same for a descriptor received in SCM_RIGHTS: lent (OpenFile::borrowed)
// unless it is plainly the guest's own (inside the MountPoint, a memfd, a
// socket, a pipe or another object without a name).
int64_t InstallReceivedFd(Process& g, int host_fd, int open_flags);

// A call that writes into a guest memfd writes only what the guest's budget
// has room for (native/memfds.h): the grant's room is how many of `len`
// bytes it may write into `f` at `offset`, or at the file position when
// `at_position`; -ENOSPC when none. Keep the grant until the write is done:
// it holds that room against the other threads, and measures the memfd
// when it goes. Anything but a memfd takes all `len`.
inline MemfdBudget::Grant MemfdRoom(Process& g, const OpenFile& f, bool at_position, uint64_t offset, uint64_t len) {
  if (!f.memfd) return MemfdBudget::Grant(static_cast<int64_t>(len));
  return g.memfds.Room(f.memfd, f.host.get(), at_position, offset, len);
}
// After a call that may have changed what memfd `f` holds.
inline void MemfdUsed(Process& g, const OpenFile& f) {
  if (f.memfd) g.memfds.Update(f.memfd, f.host.get());
}

}  // namespace torov

#include "hypercalls-inl.h"
