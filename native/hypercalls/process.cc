// The process: identity, limits, exit, the thread-area calls libc makes at
// start-up, signal bookkeeping and randomness. Nearly all emulated: the
// answers come from state read once at start-up, and the host is not asked
// again. There is one thread and no children: fork, clone and execve are
// absent (-ENOSYS), waits find no child, and a signal the guest sends
// itself takes its default action.
#include <asm/prctl.h>
#include <linux/futex.h>
#include <linux/prctl.h>
#include <sched.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <vector>

#include "hypercalls.h"

namespace torov {

namespace {

int64_t ExitGroup(Process& g, const uint64_t* a) {
  g.exited = true;
  g.exit_status = static_cast<int>(a[0] & 0xff);
  return 0;
}

int64_t Getpid(Process& g, const uint64_t*) { return g.pid; }
int64_t Getppid(Process& g, const uint64_t*) { return g.ppid; }
int64_t Getuid(Process& g, const uint64_t*) { return g.uid; }
int64_t Geteuid(Process& g, const uint64_t*) { return g.euid; }
int64_t Getgid(Process& g, const uint64_t*) { return g.gid; }
int64_t Getegid(Process& g, const uint64_t*) { return g.egid; }
int64_t Getpgrp(Process& g, const uint64_t*) { return g.pid; }

int64_t Getpgid(Process& g, const uint64_t* a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return g.pid;
}

int64_t Getresuid(Process& g, const uint64_t* a) {
  const uid_t ids[3] = {g.uid, g.euid, g.suid};
  for (int i = 0; i < 3; i++)
    if (!CopyOut(g, a[i], ids[i])) return -EFAULT;
  return 0;
}

int64_t Getresgid(Process& g, const uint64_t* a) {
  const gid_t ids[3] = {g.gid, g.egid, g.sgid};
  for (int i = 0; i < 3; i++)
    if (!CopyOut(g, a[i], ids[i])) return -EFAULT;
  return 0;
}

int64_t Getgroups(Process& g, const uint64_t* a) {
  std::vector<gid_t> groups(NGROUPS_MAX);
  int n = getgroups(static_cast<int>(groups.size()), groups.data());
  if (n < 0) return -errno;
  if (a[0] == 0) return n;
  if (static_cast<int64_t>(a[0]) < n) return -EINVAL;
  if (!CopyOutBytes(g, a[1], groups.data(), static_cast<uint64_t>(n) * sizeof(gid_t))) return -EFAULT;
  return n;
}

// Identity. The guest is an ordinary user's process (the vCPU thread holds
// no capability, whoever runs torov): it may move its ids among its real,
// effective and saved ones, as Linux lets such a process, and nothing else.
// The ids are the guest's own record: no host call is made.
struct Ids {
  uint32_t* real;
  uint32_t* effective;
  uint32_t* saved;
  bool Holds(uint32_t id) const { return id == *real || id == *effective || id == *saved; }
};
constexpr uint32_t kUnchanged = static_cast<uint32_t>(-1);

int64_t SetOne(Ids ids, uint32_t id) {  // setuid, setgid
  if (id != *ids.real && id != *ids.saved) return -EPERM;
  *ids.effective = id;
  return 0;
}

int64_t SetRealEffective(Ids ids, uint32_t real, uint32_t effective) {  // setreuid, setregid
  if (real != kUnchanged && real != *ids.real && real != *ids.effective) return -EPERM;
  if (effective != kUnchanged && !ids.Holds(effective)) return -EPERM;
  const uint32_t old_real = *ids.real;
  if (real != kUnchanged) *ids.real = real;
  if (effective != kUnchanged) *ids.effective = effective;
  if (real != kUnchanged || (effective != kUnchanged && effective != old_real)) *ids.saved = *ids.effective;
  return 0;
}

int64_t SetAll(Ids ids, uint32_t real, uint32_t effective, uint32_t saved) {  // setresuid, setresgid
  for (uint32_t id : {real, effective, saved})
    if (id != kUnchanged && !ids.Holds(id)) return -EPERM;
  if (real != kUnchanged) *ids.real = real;
  if (effective != kUnchanged) *ids.effective = effective;
  if (saved != kUnchanged) *ids.saved = saved;
  return 0;
}

Ids UserIds(Process& g) { return {&g.uid, &g.euid, &g.suid}; }
Ids GroupIds(Process& g) { return {&g.gid, &g.egid, &g.sgid}; }
uint32_t Id(uint64_t v) { return static_cast<uint32_t>(v); }

int64_t Setuid(Process& g, const uint64_t* a) { return SetOne(UserIds(g), Id(a[0])); }
int64_t Setgid(Process& g, const uint64_t* a) { return SetOne(GroupIds(g), Id(a[0])); }
int64_t Setreuid(Process& g, const uint64_t* a) { return SetRealEffective(UserIds(g), Id(a[0]), Id(a[1])); }
int64_t Setregid(Process& g, const uint64_t* a) { return SetRealEffective(GroupIds(g), Id(a[0]), Id(a[1])); }
int64_t Setresuid(Process& g, const uint64_t* a) { return SetAll(UserIds(g), Id(a[0]), Id(a[1]), Id(a[2])); }
int64_t Setresgid(Process& g, const uint64_t* a) { return SetAll(GroupIds(g), Id(a[0]), Id(a[1]), Id(a[2])); }
// Supplementary groups are root's to change.
int64_t Setgroups(Process&, const uint64_t*) { return -EPERM; }

// Sessions and process groups. The guest leads its own process group (as a
// shell's job does) in a session led by someone else: with Newpid, outside
// its pid namespace, which Linux shows as session 0.
int64_t Getsid(Process& g, const uint64_t* a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return g.sid;
}
// A process group leader may not start a session.
int64_t Setsid(Process&, const uint64_t*) { return -EPERM; }
// It may "move" into the group it leads; there is no other group in its session.
int64_t Setpgid(Process& g, const uint64_t* a) {
  const int64_t pid = static_cast<int32_t>(a[0]), pgid = static_cast<int32_t>(a[1]);
  if (pgid < 0) return -EINVAL;
  if (pid != 0 && pid != g.pid) return -ESRCH;
  return pgid == 0 || pgid == g.pid ? 0 : -EPERM;
}

int64_t Gettid(Process& g, const uint64_t*) { return g.pid; }

int64_t SetTidAddress(Process& g, const uint64_t* a) {
  g.clear_child_tid = a[0];
  return g.pid;
}

int64_t SetRobustList(Process& g, const uint64_t* a) {
  if (a[1] != 24) return -EINVAL;  // sizeof(struct robust_list_head)
  g.robust_list = a[0];
  return 0;
}

int64_t GetRobustList(Process& g, const uint64_t* a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  if (!CopyOut(g, a[1], g.robust_list) || !CopyOut(g, a[2], uint64_t{24})) return -EFAULT;
  return 0;
}

// Restartable sequences: one vCPU that the guest never migrates off, so the
// cpu fields are 0 for good and no critical section is ever interrupted.
int64_t Rseq(Process& g, const uint64_t* a) {
  const uint64_t area = a[0], len = a[1], flags = a[2];
  if (flags & 1) {  // RSEQ_FLAG_UNREGISTER
    if (area != g.rseq_area) return -EINVAL;
    g.rseq_area = 0;
    return 0;
  }
  if (flags) return -EINVAL;
  if (g.rseq_area) return area == g.rseq_area ? -EBUSY : -EINVAL;
  if (len < 32 || (area & 31)) return -EINVAL;
  uint8_t* p = g.mm.User(area, len, Access::kWrite);
  if (!p) return -EFAULT;
  const uint32_t zero = 0;
  std::memcpy(p + 0, &zero, 4);  // cpu_id_start
  std::memcpy(p + 4, &zero, 4);  // cpu_id
  if (len >= 32) {
    std::memcpy(p + 24, &zero, 4);  // node_id
    std::memcpy(p + 28, &zero, 4);  // mm_cid
  }
  g.rseq_area = area;
  return 0;
}

int64_t ArchPrctl(Process& g, const uint64_t* a) {
  const uint64_t code = a[0], addr = a[1];
  auto canonical = [](uint64_t v) { return v < (1ull << 47) || v >= ~((1ull << 47) - 1); };
  switch (code) {
    case ARCH_SET_FS:
    case ARCH_SET_GS:
      if (!canonical(addr)) return -EPERM;
      return g.cpu && g.cpu->SetSegmentBase(code == ARCH_SET_FS, addr) ? 0 : -EIO;
    case ARCH_GET_FS:
    case ARCH_GET_GS: {
      uint64_t base = 0;
      if (!g.cpu || !g.cpu->GetSegmentBase(code == ARCH_GET_FS, &base)) return -EIO;
      return CopyOut(g, addr, base) ? 0 : -EFAULT;
    }
    case ARCH_GET_CPUID:
      return 1;
    case ARCH_SET_CPUID:
      return -ENODEV;
    default:
      return -EINVAL;
  }
}

int64_t Uname(Process& g, const uint64_t* a) {
  utsname u;
  if (uname(&u) < 0) return -errno;
  return CopyOut(g, a[0], u) ? 0 : -EFAULT;
}

int64_t Prlimit(Process& g, uint64_t pid, uint64_t resource, uint64_t new_addr, uint64_t old_addr) {
  if (pid != 0 && pid != static_cast<uint64_t>(g.pid)) return -ESRCH;
  if (resource >= RLIM_NLIMITS) return -EINVAL;
  rlimit next;
  if (new_addr) {
    if (!CopyIn(g, new_addr, &next)) return -EFAULT;
    if (next.rlim_cur > next.rlim_max) return -EINVAL;
    if (next.rlim_max > g.rlimits[resource].rlim_max) return -EPERM;  // no privilege to raise
  }
  if (old_addr && !CopyOut(g, old_addr, g.rlimits[resource])) return -EFAULT;
  if (new_addr) {
    g.rlimits[resource] = next;
    if (resource == RLIMIT_NOFILE)
      g.fds.set_limit(static_cast<int>(std::min<rlim_t>(next.rlim_cur, 65536)));
  }
  return 0;
}

int64_t Prlimit64(Process& g, const uint64_t* a) { return Prlimit(g, a[0], a[1], a[2], a[3]); }
int64_t Getrlimit(Process& g, const uint64_t* a) { return Prlimit(g, 0, a[0], 0, a[1]); }
int64_t Setrlimit(Process& g, const uint64_t* a) { return Prlimit(g, 0, a[0], a[1], 0); }

int64_t Getrusage(Process& g, const uint64_t* a) {
  rusage ru{};
  const int who = static_cast<int>(a[0]);
  if (who == RUSAGE_SELF || who == RUSAGE_THREAD) {
    getrusage(RUSAGE_THREAD, &ru);  // the vCPU thread: the guest's own time
  } else if (who != RUSAGE_CHILDREN) {
    return -EINVAL;
  }
  return CopyOut(g, a[1], ru) ? 0 : -EFAULT;
}

int64_t Times(Process& g, const uint64_t* a) {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  const long hz = sysconf(_SC_CLK_TCK);
  tms t{};
  t.tms_utime = static_cast<clock_t>(ts.tv_sec * hz + ts.tv_nsec / (1000000000 / hz));
  if (a[0] && !CopyOut(g, a[0], t)) return -EFAULT;
  tms host;
  return times(&host);
}

int64_t Sysinfo(Process& g, const uint64_t* a) {
  struct sysinfo si;
  if (sysinfo(&si) < 0) return -errno;
  // Memory as the guest has it.
  uint64_t used = 0;
  for (const auto& [start, v] : g.mm.vmas()) used += v.end - v.start;
  si.mem_unit = 1;
  si.totalram = g.config.memory_bytes;
  si.freeram = used < si.totalram ? si.totalram - used : 0;
  si.sharedram = si.bufferram = si.totalswap = si.freeswap = si.totalhigh = si.freehigh = 0;
  si.procs = 1;
  return CopyOut(g, a[0], si) ? 0 : -EFAULT;
}

int64_t SchedGetaffinity(Process& g, const uint64_t* a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  const uint64_t len = std::min<uint64_t>(a[1], 8192);
  if (len < sizeof(unsigned long) || (len % sizeof(unsigned long))) return -EINVAL;
  std::vector<uint8_t> mask(len);
  long r = syscall(SYS_sched_getaffinity, 0, len, mask.data());
  if (r < 0) return -errno;
  if (!CopyOutBytes(g, a[2], mask.data(), static_cast<uint64_t>(r))) return -EFAULT;
  return r;
}

int64_t SchedSetaffinity(Process& g, const uint64_t* a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return 0;  // the guest does not pin the monitor's threads
}

int64_t Zero(Process&, const uint64_t*) { return 0; }

int64_t SchedGetscheduler(Process& g, const uint64_t* a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return SCHED_OTHER;
}

int64_t SchedGetparam(Process& g, const uint64_t* a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return CopyOut(g, a[1], int{0}) ? 0 : -EFAULT;
}

int64_t Getcpu(Process& g, const uint64_t* a) {
  if (a[0] && !CopyOut(g, a[0], unsigned{0})) return -EFAULT;
  if (a[1] && !CopyOut(g, a[1], unsigned{0})) return -EFAULT;
  return 0;
}

int64_t Getpriority(Process& g, const uint64_t* a) {
  if (a[1] != 0 && a[1] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return 20;  // nice 0, in the syscall's 1..40 encoding
}

int64_t Prctl(Process& g, const uint64_t* a) {
  switch (a[0]) {
    case PR_SET_NAME: {
      char name[16] = {};
      const uint64_t n = g.mm.UserExtent(a[1], 15, Access::kRead);
      if (!n) return -EFAULT;
      std::memcpy(name, g.mm.User(a[1], n, Access::kRead), n);
      std::memcpy(g.comm, name, sizeof name);
      g.comm[15] = 0;
      return 0;
    }
    case PR_GET_NAME:
      return CopyOutBytes(g, a[1], g.comm, 16) ? 0 : -EFAULT;
    case PR_GET_DUMPABLE:
      return 1;
    case PR_SET_DUMPABLE:
    case PR_SET_PDEATHSIG:
    case PR_SET_NO_NEW_PRIVS:
    case PR_SET_VMA:
      return 0;
    case PR_GET_NO_NEW_PRIVS:
      return 1;
    default:
      return -EINVAL;
  }
}

int64_t Getrandom(Process& g, const uint64_t* a) {
  if (a[2] & ~uint64_t{GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE}) return -EINVAL;
  const uint64_t len = std::min<uint64_t>(a[1], 33554431);  // Linux caps a call at 32 MiB - 1
  const uint64_t n = g.mm.UserExtent(a[0], len, Access::kWrite);
  if (len && !n) return -EFAULT;
  long r;
  do r = getrandom(g.mm.User(a[0], n, Access::kWrite), n, static_cast<unsigned>(a[2]));
  while (r < 0 && errno == EINTR && !g.interrupted());
  return HostResult(r);
}

// ---- signals: actions, masks, the alternate stack, signals to itself.
// Delivery and rt_sigreturn are the vCPU's (native/signals.cc).

constexpr uint64_t kSigsetSize = 8;
constexpr uint64_t kSsAutodisarm = 1u << 31;  // linux/signal.h; not in glibc's headers
constexpr uint64_t kMinSigStkSz = 2048;       // the kernel's MINSIGSTKSZ on x86

int64_t RtSigaction(Process& g, const uint64_t* a) {
  const uint64_t sig = a[0];
  if (a[3] != kSigsetSize) return -EINVAL;
  if (sig < 1 || sig > 64) return -EINVAL;
  kernel_sigaction_t next;
  if (a[1]) {
    if (!CopyIn(g, a[1], &next)) return -EFAULT;
    if (sig == SIGKILL || sig == SIGSTOP) return -EINVAL;
  }
  if (a[2] && !CopyOut(g, a[2], g.sigactions[sig])) return -EFAULT;
  if (a[1]) {
    next.mask &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
    g.sigactions[sig] = next;
  }
  return 0;
}

int64_t RtSigprocmask(Process& g, const uint64_t* a) {
  if (a[3] != kSigsetSize) return -EINVAL;
  uint64_t set = 0;
  if (a[1] && !CopyIn(g, a[1], &set)) return -EFAULT;
  if (a[2] && !CopyOut(g, a[2], g.sigmask)) return -EFAULT;
  if (!a[1]) return 0;
  set &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
  switch (a[0]) {
    case SIG_BLOCK: g.sigmask |= set; break;
    case SIG_UNBLOCK: g.sigmask &= ~set; break;
    case SIG_SETMASK: g.sigmask = set; break;
    default: return -EINVAL;
  }
  return 0;
}

int64_t RtSigpending(Process& g, const uint64_t* a) {
  if (a[1] > kSigsetSize) return -EINVAL;
  return CopyOut(g, a[0], g.sig_pending & g.sigmask) ? 0 : -EFAULT;
}

int64_t Sigaltstack(Process& g, const uint64_t* a) {
  uint64_t next[3];  // ss_sp, ss_flags (int + padding), ss_size
  if (a[0]) {
    if (!CopyIn(g, a[0], &next)) return -EFAULT;
    const uint64_t flags = next[1] & 0xffffffff;
    if (flags & ~(uint64_t{SS_DISABLE} | kSsAutodisarm)) return -EINVAL;
    if (!(flags & SS_DISABLE) && next[2] < kMinSigStkSz) return -ENOMEM;
  }
  if (a[1] && !CopyOut(g, a[1], g.altstack)) return -EFAULT;
  if (a[0]) std::memcpy(g.altstack, next, sizeof next);
  return 0;
}

// The guest is a process alone: it, its process group and its session are
// itself. Nothing else on the host can be named (-1, "every process but
// me", names nobody).
bool IsSelf(Process& g, int64_t pid) { return pid == 0 || pid == g.pid || pid == -g.pid; }

int64_t Kill(Process& g, const uint64_t* a) {
  const int64_t pid = static_cast<int32_t>(a[0]);
  if (a[1] > 64) return -EINVAL;
  if (pid == -1) return -ESRCH;
  // Newpid: the guest's pid namespace holds only itself.
  if (!IsSelf(g, pid)) return g.config.newpid ? -ESRCH : -EPERM;
  return SignalSelf(g, a[1], SI_USER);
}
int64_t Tkill(Process& g, const uint64_t* a) {
  if (static_cast<int64_t>(a[0]) != g.pid) return -ESRCH;
  return SignalSelf(g, a[1], SI_TKILL);
}
int64_t Tgkill(Process& g, const uint64_t* a) {
  if (static_cast<int64_t>(a[0]) != g.pid || static_cast<int64_t>(a[1]) != g.pid) return -ESRCH;
  return SignalSelf(g, a[2], SI_TKILL);
}

int64_t Wait4(Process&, const uint64_t*) { return -ECHILD; }

// One thread: a futex wait can only be woken by its timeout.
int64_t Futex(Process& g, const uint64_t* a) {
  const int op = static_cast<int>(a[1]) & FUTEX_CMD_MASK;
  switch (op) {
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
      return 0;
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
      uint32_t value;
      if ((a[0] & 3) || !CopyIn(g, a[0], &value)) return -EFAULT;
      if (value != static_cast<uint32_t>(a[2])) return -EAGAIN;
      if (!a[3]) {
        // Nothing can ever wake it: the program has deadlocked itself, and
        // hangs as it would natively, until the VM is stopped.
        while (!g.interrupted()) pause();
        return -EINTR;
      }
      timespec ts;
      if (!CopyIn(g, a[3], &ts)) return -EFAULT;
      const clockid_t clock = (a[1] & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC;
      const int flags = op == FUTEX_WAIT ? 0 : TIMER_ABSTIME;
      while (clock_nanosleep(clock, flags, &ts, flags ? nullptr : &ts) == EINTR)
        if (g.interrupted()) return -EINTR;
      return -ETIMEDOUT;
    }
    default:
      return -ENOSYS;
  }
}

}  // namespace

// A signal the guest sends itself: pending until the vCPU delivers it as
// the hypercall returns, or when it is unblocked (signals.cc), which is
// also where an ignored one is dropped (after a tracer or a debugger has
// seen it, as ptrace shows ignored signals too).
int64_t SignalSelf(Process& g, uint64_t sig, int32_t code) {
  if (sig > 64) return -EINVAL;
  if (sig == 0) return 0;
  if (sig == SIGKILL) {
    g.Kill(SIGKILL, "sent itself the signal");
    return 0;
  }
  g.sig_pending |= uint64_t{1} << (sig - 1);
  g.sig_code[sig] = code;
  return 0;
}

bool DefaultIsIgnore(int sig) {
  return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT || sig == SIGSTOP ||
         sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

void RegisterProcessHypercalls(HypercallTable& t) {
  t.handlers[SYS_exit] = ExitGroup;  // one thread: ending it ends the process
  t.handlers[SYS_exit_group] = ExitGroup;
  t.handlers[SYS_getpid] = Getpid;
  t.handlers[SYS_getppid] = Getppid;
  t.handlers[SYS_gettid] = Gettid;
  t.handlers[SYS_getuid] = Getuid;
  t.handlers[SYS_geteuid] = Geteuid;
  t.handlers[SYS_getgid] = Getgid;
  t.handlers[SYS_getegid] = Getegid;
  t.handlers[SYS_getresuid] = Getresuid;
  t.handlers[SYS_getresgid] = Getresgid;
  t.handlers[SYS_getgroups] = Getgroups;
  t.handlers[SYS_getpgrp] = Getpgrp;
  t.handlers[SYS_getpgid] = Getpgid;
  t.handlers[SYS_getsid] = Getsid;
  t.handlers[SYS_setuid] = Setuid;
  t.handlers[SYS_setgid] = Setgid;
  t.handlers[SYS_setreuid] = Setreuid;
  t.handlers[SYS_setregid] = Setregid;
  t.handlers[SYS_setresuid] = Setresuid;
  t.handlers[SYS_setresgid] = Setresgid;
  t.handlers[SYS_setgroups] = Setgroups;
  t.handlers[SYS_setpgid] = Setpgid;
  t.handlers[SYS_setsid] = Setsid;
  t.handlers[SYS_set_tid_address] = SetTidAddress;
  t.handlers[SYS_set_robust_list] = SetRobustList;
  t.handlers[SYS_get_robust_list] = GetRobustList;
  t.handlers[SYS_rseq] = Rseq;
  t.handlers[SYS_arch_prctl] = ArchPrctl;
  t.handlers[SYS_uname] = Uname;
  t.handlers[SYS_prlimit64] = Prlimit64;
  t.handlers[SYS_getrlimit] = Getrlimit;
  t.handlers[SYS_setrlimit] = Setrlimit;
  t.handlers[SYS_getrusage] = Getrusage;
  t.handlers[SYS_times] = Times;
  t.handlers[SYS_sysinfo] = Sysinfo;
  t.handlers[SYS_sched_getaffinity] = SchedGetaffinity;
  t.handlers[SYS_sched_setaffinity] = SchedSetaffinity;
  t.handlers[SYS_sched_yield] = Zero;
  t.handlers[SYS_sched_getscheduler] = SchedGetscheduler;
  t.handlers[SYS_sched_getparam] = SchedGetparam;
  t.handlers[SYS_getcpu] = Getcpu;
  t.handlers[SYS_getpriority] = Getpriority;
  t.handlers[SYS_prctl] = Prctl;
  t.handlers[SYS_getrandom] = Getrandom;
  t.handlers[SYS_rt_sigaction] = RtSigaction;
  t.handlers[SYS_rt_sigprocmask] = RtSigprocmask;
  t.handlers[SYS_rt_sigpending] = RtSigpending;
  t.handlers[SYS_sigaltstack] = Sigaltstack;
  // rt_sigreturn needs the registers: Vcpu::Dispatch answers it before
  // this table (native/signals.cc). The entry says it is implemented.
  t.handlers[SYS_rt_sigreturn] = [](Process&, const uint64_t*) -> int64_t { return -ENOSYS; };
  t.handlers[SYS_kill] = Kill;
  t.handlers[SYS_tkill] = Tkill;
  t.handlers[SYS_tgkill] = Tgkill;
  t.handlers[SYS_wait4] = Wait4;
  t.handlers[SYS_waitid] = Wait4;
  t.handlers[SYS_futex] = Futex;
}

}  // namespace torov
