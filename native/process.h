// The guest "process": everything a hypercall handler may read or change.
// It lives on the vCPU thread; JavaScript reaches it only while that thread
// is parked (or before it starts).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fdtable.h"
#include "memfds.h"
#include "memory.h"
#include "paths.h"

namespace torov {

constexpr int kMaxHypercall = 512;  // Linux x86-64 numbers are below this

enum class OnDenied : uint8_t { kErrno, kKill };

struct GuestConfig {
  uint64_t memory_bytes = 256ull << 20;
  std::string root;      // host path of MountPoint; empty: no file system
  std::string exe;       // host path of the binary (for /proc/self/exe)
  std::string exe_name;  // what readlink("/proc/self/exe") says
  bool newpid = false;
  // Host fds the guest's 0, 1 and 2 share (duplicated); -1 leaves one closed.
  std::array<int, 3> stdio = {0, 1, 2};
  bool flat = false;     // ToroV's flat ABI: `out` hypercalls from the application
  OnDenied on_denied = OnDenied::kErrno;
  std::array<uint8_t, kMaxHypercall / 8> allowed{};  // policy bitmap, built by src/vmm/policy.ts
};

// The registers and operations the CPU-facing side offers to handlers that
// need them (arch_prctl). Implemented by the vCPU.
class CpuControl {
 public:
  virtual ~CpuControl() = default;
  virtual bool SetSegmentBase(bool fs, uint64_t base) = 0;
  virtual bool GetSegmentBase(bool fs, uint64_t* base) = 0;
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
  ~Process();

  const GuestConfig config;
  GuestRam ram;
  AddressSpace mm;
  FdTable fds;
  // What the guest's memfds may hold: half of Memory (native/memfds.h).
  MemfdBudget memfds;
  Paths paths;
  CpuControl* cpu = nullptr;

  // Identity, read once from the host (emulated calls never touch it again).
  int pid = 0, ppid = 0;
  int sid = 0;
  // Whether the host sees the guest's sockets as root's (torov run as root
  // on a MountPoint root owns): SO_REUSEPORT would let it share root's ports.
  bool sockets_of_root = false;
  // The files it was lent (OpenFile::borrowed) by device and inode: one that
  // comes back through a socket stays lent.
  std::set<std::pair<dev_t, ino_t>> lent;  // its session: the monitor's, or 0 (outside its pid namespace) with Newpid
  uid_t uid = 0, euid = 0, suid = 0;
  gid_t gid = 0, egid = 0, sgid = 0;

  // Bookkeeping for emulated calls.
  std::array<rlimit, RLIM_NLIMITS> rlimits{};
  std::array<kernel_sigaction_t, 65> sigactions{};
  uint64_t sigmask = 0;
  // Signals sent and not yet delivered (bit sig-1), and each one's si_code.
  // The vCPU delivers them when the hypercall that made them deliverable
  // returns (native/signals.cc).
  uint64_t sig_pending = 0;
  std::array<int32_t, 65> sig_code{};
  uint64_t altstack[3] = {0, 2 /* SS_DISABLE */, 0};
  uint64_t clear_child_tid = 0;
  uint64_t robust_list = 0;
  uint64_t rseq_area = 0;
  char comm[16] = {};

  // Set from another thread to end the run (Machine::Kill) or to stop it for
  // a debugger (its Ctrl-C). A host call blocked for the guest is interrupted
  // by a signal (EINTR) and every retry loop checks this before trying again.
  enum StopRequest : int { kNoStop = 0, kInterrupt = 1, kKill = 2 };
  std::atomic<int> stop_request{kNoStop};
  bool interrupted() const { return stop_request.load(std::memory_order_relaxed) != kNoStop; }
  // Hypercalls made so far, by number (the debugger's `monitor hypercalls`).
  std::array<uint64_t, kMaxHypercall> counts{};
  // Those the policy let through because it allows them: what `torov
  // profile` must allow (not readlink("/proc/self/exe"), always answered).
  std::array<bool, kMaxHypercall> needed{};

  // Hypercalls the policy refused so far, and the one that killed the guest
  // (OnDenied "kill"), for the report.
  uint64_t denied_count = 0;
  int denied_nr = -1;

  // How the guest ended. `signal` != 0: killed by that signal.
  bool exited = false;
  int exit_status = 0;
  int signal = 0;
  std::string reason;  // why the monitor ended it, for the report

  // Ends the guest as if killed by `sig`, whatever its handlers.
  void Kill(int sig, std::string why) {
    exited = true;
    signal = sig;
    exit_status = 128 + sig;
    reason = std::move(why);
  }
  bool Allowed(uint64_t nr) const {
    return nr < kMaxHypercall && (config.allowed[nr / 8] >> (nr % 8)) & 1;
  }
};

}  // namespace torov
