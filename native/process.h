// The guest "process": everything a hypercall handler may read or change.
// Every thread of the guest (each on its own vCPU thread) shares it, and
// JavaScript reaches it before they start, or while all are parked.
//
// Which lock guards what (a member not listed is set before the guest runs
// and only read after):
//   ram, config, pid           immutable while the guest runs
//   ppid, pgid, sid            the tree's (Guest) mutex for changes; atomic, so read without it
//   mm                         its own reader-writer lock (memory.h)
//   fds                        its own mutex; files are shared_ptr, so one in use stays open
//   memfds                     its own mutex, with reservations (memfds.h)
//   paths                      its cwd under its own mutex (paths.h)
//   futexes                    per-queue locks (futex.h)
//   lent_                      lent_mutex_
//   uid..sgid                  changed under mutex; atomic, so read without it
//   rlimits,                   mutex
//   exit_status, signal, reason
//   sigactions, shared_code    signal_mutex
//   shared_pending, stop_request, counts, needed, denied_*, exited: atomics
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fdtable.h"
#include "futex.h"
#include "memfds.h"
#include "memory.h"
#include "paths.h"
#include "syscall_set.h"

namespace torov {

enum class OnDenied : uint8_t { kErrno, kKill };

struct GuestConfig {
  uint64_t memory_bytes = 256ull << 20;
  std::string root;      // host path of MountPoint; empty: no file system
  std::vector<MountConfig> mounts;  // the manifest's and the lent (native/paths.h)
  std::string exe;       // host path of the binary (for /proc/self/exe)
  std::string exe_name;  // what readlink("/proc/self/exe") says
  bool newpid = false;
  // Host fds the guest's 0, 1 and 2 share (duplicated); -1 leaves one closed.
  std::array<int, 3> stdio = {0, 1, 2};
  bool flat = false;     // ToroV's flat ABI: `out` hypercalls from the application
  // The hypercall slots are mapped user-writable: where the syscall stub
  // runs in user mode (KvmCaps::user_mode_syscall), or for the tests
  // (TOROV_TEST_USER_SLOTS); else supervisor-only.
  bool user_slots = true;
  OnDenied on_denied = OnDenied::kErrno;
  SyscallSet allowed;  // the policy, built by src/vmm/policy.ts
};

struct Task;
class Guest;

// How the process makes and ends threads: implemented by the machine
// (native/threads.h), which owns the vCPUs and their native threads.
class ThreadHost {
 public:
  virtual ~ThreadHost() = default;
  // A new thread that starts as `parent` returns from clone (rax 0) with
  // `stack` (0: the parent's) and, when `set_tls`, fs base `tls`. Its tid,
  // or -EAGAIN when no vCPU is left.
  virtual int64_t Spawn(Task& parent, uint64_t stack, bool set_tls, uint64_t tls, uint64_t clear_child_tid,
                        uint64_t child_tid_addr, uint64_t parent_tid_addr) = 0;
  // The thread with `tid`, or nullptr; `fn` runs under the lock that keeps
  // it alive.
  virtual bool WithTask(int tid, const std::function<void(Task&)>& fn) = 0;
  // Every live thread, under the same lock.
  virtual void ForEachTask(const std::function<void(Task&)>& fn) = 0;
  // Ends every thread but `self` (exit_group, a fatal signal).
  virtual void KillOthers(const Task* self) = 0;
  // Stops every thread but `self` for the debugger (all-stop): each parks
  // at its next chance (native/debug.h).
  virtual void StopOthers(const Task* self) = 0;
};

struct kernel_sigaction_t {
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

class Process {
 public:
  explicit Process(const GuestConfig& config);
  // fork: the child of `parent`, with pid `pid`. What Linux's copy_process
  // gives a new process: the parent's ids, limits, signal dispositions,
  // cwd and view of the files, and its open files shared (the same
  // descriptions); the memory is the fork path's (native/processes/fork.cc).
  enum ForkTag { kFork };
  Process(Process& parent, int pid, ForkTag);
  ~Process();

  const GuestConfig config;
  GuestRam ram;
  AddressSpace mm;
  FdTable fds;
  // What the guest's memfds may hold: half of Memory (native/memfds.h).
  MemfdBudget memfds;
  Paths paths;
  // Futex waits and wakes on guest memory (native/futex.h).
  Futexes futexes;
  // Its threads: set by the machine before the guest runs.
  ThreadHost* threads = nullptr;
  // The tree of the guest's processes it is in (native/processes/guest.h):
  // set before the guest runs.
  Guest* guest = nullptr;

  // Identity, read once from the host (emulated calls never touch it again);
  // the set*id calls change the ids, under `mutex`.
  int pid = 0;
  // Its parent (the first process's is the host's, or 0 with Newpid), its
  // process group and session: changed by the tree (an orphan's parent
  // becomes the first process; setpgid, setsid).
  std::atomic<int> ppid{0}, pgid{0}, sid{0};
  // The host's /proc/cpuinfo and its online CPUs ("0-15"), read before the
  // guest runs, for the guest's own copies (hypercalls/procfs.cc).
  std::string host_cpuinfo, host_cpus_online;
  // TOROV_COPY_FILE_MAPPINGS=1 (npm run bench:dynamic's comparison): file
  // mappings are copied into guest memory instead of mapping a shared copy.
  bool copy_file_mappings = false;
  // Whether the host sees the guest's sockets as root's (torov run as root
  // on a MountPoint root owns): SO_REUSEPORT would let it share root's ports.
  bool sockets_of_root = false;
  // The files it was lent (OpenFile::borrowed) by device and inode: one that
  // comes back through a socket stays lent. Its threads add to it (open of
  // a shared device) and read it (a received fd): under its own lock.
  void Lend(dev_t dev, ino_t ino) {
    std::lock_guard<std::mutex> lock(lent_mutex_);
    lent_.insert({dev, ino});
  }
  bool Lent(dev_t dev, ino_t ino) const {
    std::lock_guard<std::mutex> lock(lent_mutex_);
    return lent_.count({dev, ino}) != 0;
  }
  // Changed under `mutex` (set*id reads and writes them together); atomic
  // so that a get*id, a signal's si_uid or the trace read one without it.
  std::atomic<uid_t> uid{0}, euid{0}, suid{0};
  std::atomic<gid_t> gid{0}, egid{0}, sgid{0};

  // For state threads share that has no lock of its own: ids, limits, the
  // exit state.
  mutable std::mutex mutex;
  std::array<rlimit, RLIM_NLIMITS> rlimits{};

  // Signal dispositions, and signals sent to the process as a whole (kill):
  // pending until a thread that does not block one takes it (each thread's
  // own are in its Task), under signal_mutex. The vCPU delivers them when a
  // hypercall returns (native/signals.cc).
  std::mutex signal_mutex;
  std::array<kernel_sigaction_t, 65> sigactions{};
  std::atomic<uint64_t> shared_pending{0};
  std::array<int32_t, 65> shared_code{};

  // Set from another thread to end the run (NativeMachine::Kill, exit_group) or to
  // stop it for a debugger (its Ctrl-C). A host call blocked for the guest is
  // interrupted by a signal (EINTR) and every retry loop checks this before
  // trying again.
  enum StopRequest : int { kNoStop = 0, kInterrupt = 1, kKill = 2 };
  std::atomic<int> stop_request{kNoStop};
  bool interrupted() const { return stop_request.load(std::memory_order_relaxed) != kNoStop; }
  // Hypercalls made so far, by number (the debugger's `monitor hypercalls`).
  std::array<std::atomic<uint64_t>, kMaxHypercall> counts{};
  // Those the policy let through because it allows them: what `torov
  // profile` must allow (not readlink("/proc/self/exe"), always answered).
  std::array<std::atomic<bool>, kMaxHypercall> needed{};

  // Hypercalls the policy refused so far, and the one that killed the guest
  // (OnDenied "kill"), for the report.
  std::atomic<uint64_t> denied_count{0};
  std::atomic<int> denied_nr{-1};

  // How the guest ended, under `mutex`; `exited` is set last. `signal` != 0:
  // killed by that signal.
  std::atomic<bool> exited{false};
  int exit_status = 0;
  int signal = 0;
  std::string reason;  // why the monitor ended it, for the report

  // Ends the process with `status` (exit_group), unless it has ended already.
  void Exit(int status) {
    std::lock_guard<std::mutex> lock(mutex);
    if (exited) return;
    exit_status = status;
    exited = true;
  }
  // Ends the process as if killed by `sig`, whatever its handlers.
  void Kill(int sig, std::string why) {
    std::lock_guard<std::mutex> lock(mutex);
    if (exited) return;
    signal = sig;
    exit_status = 128 + sig;
    reason = std::move(why);
    exited = true;
  }
  bool Allowed(uint64_t nr) const { return config.allowed.Has(nr); }

 private:
  mutable std::mutex lent_mutex_;
  std::set<std::pair<dev_t, ino_t>> lent_;
};

}  // namespace torov
