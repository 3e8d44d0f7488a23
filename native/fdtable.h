// Guest file descriptors are virtual: a per-VM table maps each guest fd to an
// open file the monitor holds. The guest can only name what it opened itself
// (and the stdio it was given), never /dev/kvm, the VM and vCPU fds, or
// Node's own pipes and sockets.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fd.h"

namespace torov {

struct MemfdUse;  // native/memfds.h

// One open file description, shared by every guest fd that dup()s it, as on
// Linux. The host fd is always O_CLOEXEC; the guest's FD_CLOEXEC is per slot.
struct OpenFile {
  Fd host;
  // The guest's view of O_NONBLOCK. The host's may differ for descriptions
  // shared with the monitor (its stdio: Node may make a pipe non-blocking);
  // a blocking guest call that gets EAGAIN from the host waits and retries.
  // Atomic: one thread's fcntl(F_SETFL) or FIONBIO changes it while others
  // use the file.
  std::atomic<bool> nonblock{false};
  bool directory = false;
  // Lent to the guest from outside its MountPoint: the stdio torov was
  // given, the shared devices, /proc/self/exe. The guest reads and writes
  // it as it was opened, and nothing more: its mode, owner, times, size and
  // links are the host's (EPERM; EXDEV for a link).
  bool borrowed = false;
  std::string guest_path;  // for directories: where it was opened, for *at() calls
  // For a memfd: what it holds, counted against the guest's budget.
  std::shared_ptr<MemfdUse> memfd;
};

// Shared by the guest's threads (CLONE_FILES), under its own lock. A file
// taken with Get() stays open for the caller even if another thread closes
// its fd meanwhile, as a Linux call holds its file.
class FdTable {
 public:
  static constexpr int kDefaultLimit = 1024;  // RLIMIT_NOFILE, as a shell gives it
  int limit() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }
  void set_limit(int limit) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = limit;
  }

  // Lowest free guest fd >= min; -EMFILE (or -EINVAL past the limit).
  int Install(std::shared_ptr<OpenFile> file, bool cloexec, int min = 0);
  // Puts `file` at exactly `fd`, closing what was there (dup2).
  int InstallAt(int fd, std::shared_ptr<OpenFile> file, bool cloexec);
  // nullptr when `fd` is not open (the caller returns -EBADF).
  std::shared_ptr<OpenFile> Get(int64_t fd) const;
  int Close(int64_t fd);
  // FD_CLOEXEC of an open fd (false when it is not open).
  bool cloexec(int fd) const;
  // Sets it; false when `fd` is not open.
  bool set_cloexec(int fd, bool on);
  // fork: the same open files at the same fds, FD_CLOEXEC and the limit
  // too (the table must be empty). The descriptions are shared, as on
  // Linux: offsets, status flags and locks are the parent's as well.
  void CopyFrom(const FdTable& parent) {
    std::scoped_lock lock(mutex_, parent.mutex_);
    slots_ = parent.slots_;
    limit_ = parent.limit_;
  }
  // Every open file, each once, leaving the table empty (the process's end).
  std::vector<std::shared_ptr<OpenFile>> TakeAll();
  // Highest open fd + 1.
  int used() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(slots_.size());
  }

 private:
  struct Slot {
    std::shared_ptr<OpenFile> file;
    bool cloexec = false;
  };
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  int limit_ = kDefaultLimit;
};

}  // namespace torov
