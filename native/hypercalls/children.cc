// Child processes: fork, vfork, the clones that make a process, and the
// waits for them. The work is the tree's (native/processes/): these decode
// the calls as Linux does and answer its errors.
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <climits>

#include "../processes/guest.h"
#include "hypercalls.h"

namespace torov {

namespace {

int64_t Fork(Process& g, Task& t, const Args&) {
  if (!g.guest) return -ENOSYS;
  return g.guest->Fork(g, t, ForkRequest{});
}

int64_t Vfork(Process& g, Task& t, const Args&) {
  if (!g.guest) return -ENOSYS;
  ForkRequest r;
  r.vfork = true;
  return g.guest->Fork(g, t, r);
}

// What wait4 and waitid store for a child: its rusage (the times it ran).
bool CopyRusage(Process& g, uint64_t addr, const WaitResult& w) {
  if (!addr) return true;
  rusage ru{};
  ru.ru_utime.tv_sec = static_cast<time_t>(w.utime_us / 1000000);
  ru.ru_utime.tv_usec = static_cast<suseconds_t>(w.utime_us % 1000000);
  ru.ru_stime.tv_sec = static_cast<time_t>(w.stime_us / 1000000);
  ru.ru_stime.tv_usec = static_cast<suseconds_t>(w.stime_us % 1000000);
  return CopyOut(g, addr, ru);
}

constexpr uint64_t kWaitOptions = WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WCLONE | __WALL;

int64_t Wait4(Process& g, Task& t, const Args& a) {
  const int64_t pid = static_cast<int32_t>(a[0]);
  const uint64_t options = a[2] & 0xffffffff;
  if (options & ~kWaitOptions) return -EINVAL;
  if (pid == INT_MIN) return -ESRCH;
  if (!g.guest) return -ECHILD;
  WaitRequest r;
  if (pid > 0) r.which = WaitRequest::kPid, r.id = static_cast<int>(pid);
  else if (pid == 0) r.which = WaitRequest::kGroup, r.id = g.pgid.load();
  else if (pid < -1) r.which = WaitRequest::kGroup, r.id = static_cast<int>(-pid);
  r.nohang = options & WNOHANG;
  r.all = options & __WALL;
  r.clone_only = options & __WCLONE;
  WaitResult w;
  const int64_t found = g.guest->Wait(g, t, r, &w);
  if (found <= 0) return found;
  if (a[1] && !CopyOut(g, a[1], static_cast<int32_t>(w.wstatus))) return -EFAULT;
  if (!CopyRusage(g, a[3], w)) return -EFAULT;
  return found;
}

int64_t Waitid(Process& g, Task& t, const Args& a) {
  const uint64_t idtype = a[0] & 0xffffffff;
  const int64_t id = static_cast<int32_t>(a[1]);
  const uint64_t options = a[3] & 0xffffffff;
  if (options & ~(kWaitOptions | WEXITED | WSTOPPED | WNOWAIT)) return -EINVAL;
  if (!(options & (WEXITED | WSTOPPED | WCONTINUED))) return -EINVAL;
  WaitRequest r;
  switch (idtype) {
    case P_ALL: break;
    case P_PID:
      if (id <= 0) return -EINVAL;
      r.which = WaitRequest::kPid, r.id = static_cast<int>(id);
      break;
    case P_PGID:
      if (id < 0) return -EINVAL;
      r.which = WaitRequest::kGroup, r.id = id ? static_cast<int>(id) : g.pgid.load();
      break;
    default:
      return -EINVAL;  // P_PIDFD: there are no pidfds here
  }
  if (!g.guest) return -ECHILD;
  r.nohang = options & WNOHANG;
  r.nowait = options & WNOWAIT;
  r.all = options & __WALL;
  r.clone_only = options & __WCLONE;
  r.exited = options & WEXITED;  // no child ever stops here: WSTOPPED alone finds none
  WaitResult w;
  const int64_t found = g.guest->Wait(g, t, r, &w);
  if (found < 0) return found;
  if (a[2]) {
    // siginfo_t: si_signo, si_errno, si_code, then the SIGCHLD fields
    // (si_pid, si_uid, si_status, si_utime, si_stime). All zero when
    // WNOHANG found none, as Linux leaves it.
    uint8_t info[128] = {};
    if (found > 0) {
      const int32_t head[3] = {SIGCHLD, 0, w.code};
      const int32_t child[3] = {w.pid, static_cast<int32_t>(w.uid), w.status};
      const int hz = 100;  // clock_t ticks, as Linux's USER_HZ
      const int64_t times[2] = {static_cast<int64_t>(w.utime_us * hz / 1000000),
                                static_cast<int64_t>(w.stime_us * hz / 1000000)};
      std::memcpy(info, head, sizeof head);
      std::memcpy(info + 16, child, sizeof child);
      std::memcpy(info + 32, times, sizeof times);
    }
    if (!CopyOutBytes(g, a[2], info, sizeof info)) return -EFAULT;
  }
  if (found > 0 && !CopyRusage(g, a[4], w)) return -EFAULT;
  return 0;
}

}  // namespace

// clone and clone3 for a new process (no CLONE_VM, or vfork's CLONE_VM |
// CLONE_VFORK): fork's child, with the options those calls add.
int64_t CloneProcess(Process& g, Task& t, uint64_t flags, int exit_signal, uint64_t stack, uint64_t parent_tid,
                     uint64_t child_tid, uint64_t tls) {
  constexpr uint64_t kOptions = CLONE_VFORK | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
                                CLONE_CHILD_CLEARTID | CLONE_DETACHED;
  if (flags & CLONE_VM) {
    // The child runs in its parent's memory until it execs or ends: here,
    // in a copy of it, while the parent waits as vfork's does.
    if (!(flags & CLONE_VFORK)) return -ENOSYS;
    flags &= ~uint64_t{CLONE_VM};
  }
  // Sharing a file table, a cwd or the System V semaphores' undo between
  // two processes, namespaces, ptrace: not here.
  if (flags & ~kOptions) return -ENOSYS;
  if (exit_signal < 0 || exit_signal > 64) return -EINVAL;
  if (stack >= kTaskSizeMax) return -EINVAL;
  if (!g.guest) return -ENOSYS;
  // Linux checks where it will store the pid before it makes anything.
  if ((flags & CLONE_PARENT_SETTID) && !g.mm.User(parent_tid, 4, Access::kWrite)) return -EFAULT;
  ForkRequest r;
  r.vfork = flags & CLONE_VFORK;
  r.exit_signal = exit_signal;
  r.stack = stack;
  r.set_tls = flags & CLONE_SETTLS;
  r.tls = tls;
  r.parent_tid = flags & CLONE_PARENT_SETTID ? parent_tid : 0;
  r.child_tid = flags & CLONE_CHILD_SETTID ? child_tid : 0;
  r.clear_child_tid = flags & CLONE_CHILD_CLEARTID ? child_tid : 0;
  return g.guest->Fork(g, t, r);
}

void RegisterChildHypercalls(HypercallTable& table) {
  table.handlers[SYS_fork] = Fork;
  table.handlers[SYS_vfork] = Vfork;
  table.handlers[SYS_wait4] = Wait4;
  table.handlers[SYS_waitid] = Waitid;
}

}  // namespace torov
