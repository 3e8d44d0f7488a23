// A guest thread: what Linux keeps per task rather than per process. Its
// registers are its vCPU's (native/kvm/vcpu.h); here is the rest: its tid,
// signal mask and pending signals, alternate stack, the addresses libc
// registers for it (clear_child_tid, the robust list, rseq) and its name.
//
// Only its own native thread changes its fields, except `sig_pending` (any
// thread may send it a signal, under the process's signal mutex) and the
// wake-ups of futex_wake and kick_pending. Fields other threads read are
// atomic: the mask, the pending set, the robust list (get_robust_list of
// another tid); the name has its own lock.
#pragma once

#include <signal.h>

#include <array>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "process.h"

namespace torov {

// What a hypercall handler may ask of the CPU that runs the calling thread
// (arch_prctl, clone). Implemented by the vCPU.
class CpuControl {
 public:
  virtual ~CpuControl() = default;
  virtual bool SetSegmentBase(bool fs, uint64_t base) = 0;
  virtual bool GetSegmentBase(bool fs, uint64_t* base) = 0;
  // The application's stack pointer (sigaltstack's SS_ONSTACK).
  virtual bool StackPointer(uint64_t* sp) = 0;
  // Makes the thread leave the guest (KVM_RUN) or a host call it waits in,
  // from any thread: it then looks at what it was asked.
  virtual void Kick() = 0;
};

struct Task {
  Task(Process& process, int tid) : process(process), tid(tid) {}
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  Process& process;
  const int tid;
  CpuControl* cpu = nullptr;

  // Signals: blocked (changed by this thread only), and pending for this
  // thread (bit sig-1) with each one's si_code, under process.signal_mutex.
  std::atomic<uint64_t> sigmask{0};
  std::atomic<uint64_t> sig_pending{0};
  std::array<int32_t, 65> sig_code{};
  uint64_t altstack[3] = {0, SS_DISABLE, 0};  // ss_sp, ss_flags, ss_size
  // rt_sigsuspend replaced the mask: the handler's frame saves this one, and
  // it comes back if no handler runs.
  bool restore_sigmask = false;
  uint64_t saved_sigmask = 0;
  uint64_t clear_child_tid = 0;
  std::atomic<uint64_t> robust_list{0};
  uint64_t rseq_area = 0;
  // Its name (prctl PR_SET_NAME, NUL-terminated within 16 bytes): set by
  // this thread, read by others (the debugger's thread list, a new
  // thread's copy), under comm_mutex.
  std::array<char, 16> name() const {
    std::lock_guard<std::mutex> lock(comm_mutex_);
    return comm_;
  }
  void set_name(const char* name, size_t len) {
    std::lock_guard<std::mutex> lock(comm_mutex_);
    comm_.fill(0);
    std::memcpy(comm_.data(), name, std::min(len, comm_.size() - 1));
  }
  // exit(2) was called: the thread ends as the call returns, with this status.
  bool exiting = false;
  int exit_status = 0;

  // The host word this thread sleeps on in a guest futex wait (native/futex.h).
  std::atomic<uint32_t> futex_wake{0};
  // A kick not yet taken: sent again until it is (the signal can arrive just
  // before a host call that waits, and be lost).
  std::atomic<bool> kick_pending{false};
  // Parked for the debugger: kicks mean nothing to it then.
  std::atomic<bool> parked{false};

  // Signals this thread could take now: its own and the process's, not blocked.
  uint64_t Deliverable() const {
    return (sig_pending.load(std::memory_order_relaxed) | process.shared_pending.load(std::memory_order_relaxed)) &
           ~sigmask;
  }
  // Whether a host call this thread waits in should give up (EINTR): the
  // process is being stopped or killed, or a signal is there to take.
  bool interrupted() const { return process.interrupted() || Deliverable() != 0; }

 private:
  mutable std::mutex comm_mutex_;
  std::array<char, 16> comm_{};
};

}  // namespace torov
