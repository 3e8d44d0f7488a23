// The guest's processes: a tree of them under one monitor (DESIGN.md,
// "Processes"). Each process is a VM of its own, with its own threads
// (native/threads.h) and memory; the tree knows each by its pid, its
// parent, group and session, and keeps what is left of one that has ended
// (its wait status: a zombie) until its parent waits for it.
//
// Where each path is:
//   fork, vfork and the process-making clones   native/processes/fork.cc
//   wait4, waitid and reaping                    native/processes/wait.cc
//   ends (one process's, every process's), kill  here (guest.cc)
//
// The first process is the machine's (native/binding.h): it is in the tree
// but not owned by it. Every other is made and owned here. When the first
// ends, the guest does: every other process is killed and waited for
// before the machine reports (as a container's processes end with its
// first), so no guest process outlives the monitor's run.
//
// Locking: mutex_ guards the tree (members_ and every Member field). It is
// taken after a process's own locks, never before (a handler holds none of
// them when it calls in here). Waiters sleep on generation_, a host futex
// word bumped at every change a waiter may want (a child's end, a vfork
// child's release): a kick ends the sleep with EINTR, as it ends every
// host call made for the guest.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "../fd.h"
#include "../kvm/vcpu.h"
#include "../process.h"
#include "../threads.h"
#include "../trace.h"

namespace torov {

// How a new process is asked for: fork, vfork, clone or clone3.
struct ForkRequest {
  bool vfork = false;        // the parent waits until the child execs or ends
  int exit_signal = SIGCHLD;  // what the parent gets when the child ends (0: none)
  uint64_t stack = 0;         // the child's stack pointer (0: the parent's)
  bool set_tls = false;
  uint64_t tls = 0;
  uint64_t parent_tid = 0;   // CLONE_PARENT_SETTID: where the parent gets the pid
  uint64_t child_tid = 0;    // CLONE_CHILD_SETTID: where the child's memory gets it
  uint64_t clear_child_tid = 0;  // CLONE_CHILD_CLEARTID
};

// A wait's selection and options, as wait4 and waitid name them.
struct WaitRequest {
  enum Which { kAny, kPid, kGroup } which = kAny;
  int id = 0;
  bool nohang = false;
  bool nowait = false;  // waitid's WNOWAIT: leave the child waitable
  bool all = false;     // __WALL: children whose exit signal is not SIGCHLD too
  bool clone_only = false;  // __WCLONE: only those
  bool exited = true;   // children that ended count (waitid without WEXITED: none does)
};

// What a wait found.
struct WaitResult {
  int pid = 0;
  int wstatus = 0;  // as wait4 stores it
  int code = 0;     // waitid's si_code: CLD_EXITED, CLD_KILLED, CLD_DUMPED
  int status = 0;   // waitid's si_status: the exit status or the signal
  uid_t uid = 0;
  uint64_t utime_us = 0, stime_us = 0;  // what it ran, for the rusage
};

class Guest {
 public:
  // At most `process_limit` processes live at once (zombies count, as
  // Linux's RLIMIT_NPROC counts every task): a fork past it is EAGAIN.
  Guest(int process_limit, Tracer* tracer);
  ~Guest();
  Guest(const Guest&) = delete;
  Guest& operator=(const Guest&) = delete;

  // The first process and its threads, before the guest runs.
  void AddFirst(Process& first, Threads& threads);
  // A new id for a thread or a process, unique in the guest.
  int NewId() { return next_id_.fetch_add(1) + 1; }
  // Whether `pid` is one the guest has given out (a process or thread that
  // may have ended since): not the host's.
  bool Allocated(int64_t pid) const { return pid >= first_pid_ && pid <= next_id_.load(); }
  int limit() const { return limit_; }

  // fork.cc: a new process, `parent`'s child, that starts as `t` returns
  // from the call with rax 0. Its pid, or -errno (EAGAIN at the limit or
  // when the host would not make the VM, ENOMEM when it would not give the
  // memory). For vfork, returns once the child has ended or exec'd.
  int64_t Fork(Process& parent, Task& t, const ForkRequest& request);

  // wait.cc: a child of `parent` that has ended, reaped unless `nowait`.
  // 0 with WNOHANG and none yet, -ECHILD when no child matches, -EINTR
  // when `t` is interrupted meanwhile.
  int64_t Wait(Process& parent, Task& t, const WaitRequest& request, WaitResult* out);

  // Signals: every process the selection names, as kill(2) does (pid > 0
  // one process, 0 the sender's group, -1 every process but the sender
  // and the first, < -1 the group -pid). 0, or -ESRCH when none.
  int64_t Kill(Process& sender, Task& t, int64_t pid, int sig);
  // Whether `pid` names a live process or thread of the guest; the
  // process whose thread it is, through `fn`, under the tree's lock.
  bool WithProcess(int pid, const std::function<void(Process&)>& fn);
  // setpgid and setsid, with Linux's rules. 0 or -errno.
  int64_t SetPgid(Process& caller, int pid, int pgid);
  int64_t SetSid(Process& caller);
  // getpgid and getsid of another process: its group or session, or -ESRCH.
  int64_t PgidOf(int pid);
  int64_t SidOf(int pid);

  // Every process but the first: killed (the first ended, or the machine
  // is killed), then, with `wait`, waited for until each has ended and
  // its memory is freed.
  void KillOthers(bool wait);
  // A stop for every process but the first (the machine's kill reaches the
  // first itself).
  void RequestStopOthers(Process::StopRequest why);

 private:
  struct Member;
  // The end of a child's run, on its own main thread: its status, its
  // parent's SIGCHLD and its waiters (or reaped at once, where the parent
  // asked for no zombies); its memory goes (the maker frees it).
  void Ended(Member* m, const RunResult& result, uint64_t cpu_us);
  // The maker's end of a child: its main thread joined, its threads, VM and
  // memory freed; its record goes too once it has been reaped.
  void Free(int pid);
  // Sleeps until generation_ is no longer `seen` (or a kick, or a while).
  void Sleep(uint32_t seen);
  // A child's main thread, started by its parent's (so contained as it is).
  void ChildMain(Member* m, ThreadStart start);
  // The maker: an uncontained thread, started with the guest (on Node's
  // thread, before any vCPU thread confines itself), that makes the VMs,
  // their memory and their threads' service, and frees them after.
  void Maker();
  void Bump();
  // Runs `fn` on the maker and waits for it.
  bool OnMaker(const std::function<bool()>& fn);
  bool Matches(const Member& m, const Process& parent, const WaitRequest& r) const;
  void Reparent(int pid);
  Member* Find(int pid);  // under mutex_; a live process or a zombie

  const int limit_;
  Tracer* const tracer_;
  std::atomic<int> next_id_{0};
  int first_pid_ = 0;
  int pagemap_ = -1;  // /proc/self/pagemap, for the maker's copies

  std::mutex mutex_;  // the tree
  std::map<int, std::unique_ptr<Member>> members_;
  bool ending_ = false;  // the first has ended: no fork from here on
  std::atomic<uint32_t> generation_{0};

  // The maker's queue, under maker_mutex_ (never held with mutex_).
  std::mutex maker_mutex_;
  std::condition_variable maker_cv_;
  std::deque<std::function<void()>> maker_work_;
  bool maker_stop_ = false;
  std::thread maker_;
};

}  // namespace torov
