// The process and its threads: identity, limits, exit, threads (clone) and
// the thread-area calls libc makes for each, signals between them, futexes,
// randomness. Nearly all emulated: the answers come from state read once at
// start-up, and the host is not asked again. Child processes and waits
// are children.cc's; execve is absent (-ENOSYS).
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

#include "../processes/guest.h"
#include "hypercalls.h"

namespace torov {

namespace {

int64_t ExitGroup(Process& g, Task& t, const Args& a) {
  g.Exit(static_cast<int>(a[0] & 0xff));
  if (g.threads) g.threads->KillOthers(&t);
  return 0;
}

// One thread ends; the last one to end ends the process with its status.
int64_t Exit(Process& g, Task& t, const Args& a) {
  t.exit_status = static_cast<int>(a[0] & 0xff);
  t.exiting = true;
  return 0;
}

// Threads: clone with the flags every libc and runtime passes for one, and
// clone3 with the same meaning. Fork-like clones (no CLONE_VM, a new
// process, or vfork's CLONE_VM|CLONE_VFORK) are children.cc's; namespaces
// are not there (-ENOSYS).
constexpr uint64_t kThreadFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
constexpr uint64_t kThreadOptions = CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID |
                                    CLONE_CHILD_SETTID | CLONE_DETACHED;

int64_t CloneThread(Process& g, Task& t, uint64_t flags, uint64_t stack, uint64_t parent_tid, uint64_t child_tid,
                    uint64_t tls, int exit_signal) {
  if ((flags & kThreadFlags) != kThreadFlags) {
    // Linux's own rules first: a thread shares its signal handlers, which
    // share memory.
    if ((flags & CLONE_THREAD) && !(flags & CLONE_SIGHAND)) return -EINVAL;
    if ((flags & CLONE_SIGHAND) && !(flags & CLONE_VM)) return -EINVAL;
    if (flags & (CLONE_THREAD | CLONE_SIGHAND)) return -ENOSYS;  // threads that share less
    return CloneProcess(g, t, flags & ~uint64_t{CSIGNAL}, exit_signal, stack, parent_tid, child_tid, tls);
  }
  if (flags & ~(kThreadFlags | kThreadOptions)) return -EINVAL;  // vfork, namespaces, pidfd...
  if (exit_signal) return -EINVAL;  // a thread sends no exit signal
  if (stack >= kTaskSizeMax) return -EINVAL;
  if (!g.threads) return -EAGAIN;
  // Linux writes the child's tid for both before either runs.
  if ((flags & CLONE_PARENT_SETTID) && !g.mm.User(parent_tid, 4, Access::kWrite)) return -EFAULT;
  if ((flags & CLONE_CHILD_SETTID) && !g.mm.User(child_tid, 4, Access::kWrite)) return -EFAULT;
  return g.threads->Spawn(t, stack, flags & CLONE_SETTLS, tls, flags & CLONE_CHILD_CLEARTID ? child_tid : 0,
                          flags & CLONE_CHILD_SETTID ? child_tid : 0, flags & CLONE_PARENT_SETTID ? parent_tid : 0);
}

int64_t Clone(Process& g, Task& t, const Args& a) {
  // x86-64 argument order: flags, stack, parent_tid, child_tid, tls.
  return CloneThread(g, t, a[0] & ~uint64_t{CSIGNAL}, a[1], a[2], a[3], a[4], static_cast<int>(a[0] & CSIGNAL));
}

int64_t Clone3(Process& g, Task& t, const Args& a) {
  struct {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
        cgroup;
  } args{};
  const uint64_t size = a[1];
  if (size < 64 || size > 4096) return -EINVAL;  // CLONE_ARGS_SIZE_VER0; Linux's PAGE_SIZE limit
  if (!CopyInBytes(g, a[0], &args, std::min<uint64_t>(size, sizeof args))) return -EFAULT;
  // Fields past what this kernel knows must be zero (E2BIG otherwise).
  for (uint64_t at = sizeof args; at < size; at += 8) {
    uint64_t word = 0;
    if (!CopyInBytes(g, a[0] + at, &word, std::min<uint64_t>(8, size - at))) return -EFAULT;
    if (word) return -E2BIG;
  }
  if (args.set_tid || args.set_tid_size || args.cgroup) return -EINVAL;
  if (args.exit_signal > 64 || (args.flags & CSIGNAL)) return -EINVAL;
  if ((args.stack == 0) != (args.stack_size == 0)) return -EINVAL;
  const uint64_t top = args.stack + args.stack_size;
  if (args.stack && top < args.stack) return -EINVAL;
  return CloneThread(g, t, args.flags, args.stack ? top : 0, args.parent_tid, args.child_tid, args.tls,
                     static_cast<int>(args.exit_signal));
}

int64_t Getpid(Process& g, Task& t, const Args&) { return g.pid; }
int64_t Getppid(Process& g, Task& t, const Args&) { return g.ppid.load(); }
int64_t Getuid(Process& g, Task& t, const Args&) { return g.uid; }
int64_t Geteuid(Process& g, Task& t, const Args&) { return g.euid; }
int64_t Getgid(Process& g, Task& t, const Args&) { return g.gid; }
int64_t Getegid(Process& g, Task& t, const Args&) { return g.egid; }
int64_t Getpgrp(Process& g, Task& t, const Args&) { return g.pgid.load(); }

// Of another process: only the guest's own are there to ask about.
int64_t Getpgid(Process& g, Task& t, const Args& a) {
  const int64_t pid = static_cast<int32_t>(a[0]);
  if (pid == 0 || pid == g.pid) return g.pgid.load();
  if (pid < 0 || !g.guest) return -ESRCH;
  return g.guest->PgidOf(static_cast<int>(pid));
}

// The three together, as one set*id left them.
int64_t Getresuid(Process& g, Task& t, const Args& a) {
  uid_t ids[3];
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    ids[0] = g.uid, ids[1] = g.euid, ids[2] = g.suid;
  }
  for (int i = 0; i < 3; i++)
    if (!CopyOut(g, a[i], ids[i])) return -EFAULT;
  return 0;
}

int64_t Getresgid(Process& g, Task& t, const Args& a) {
  gid_t ids[3];
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    ids[0] = g.gid, ids[1] = g.egid, ids[2] = g.sgid;
  }
  for (int i = 0; i < 3; i++)
    if (!CopyOut(g, a[i], ids[i])) return -EFAULT;
  return 0;
}

int64_t Getgroups(Process& g, Task& t, const Args& a) {
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
struct Ids {  // the caller holds g.mutex
  std::atomic<uint32_t>* real;
  std::atomic<uint32_t>* effective;
  std::atomic<uint32_t>* saved;
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
  if (real != kUnchanged || (effective != kUnchanged && effective != old_real)) *ids.saved = ids.effective->load();
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

int64_t Setuid(Process& g, Task& t, const Args& a) {
  std::lock_guard<std::mutex> lock(g.mutex);  // ids are the process's, shared by its threads
  return SetOne(UserIds(g), Id(a[0]));
}
int64_t Setgid(Process& g, Task& t, const Args& a) {
  std::lock_guard<std::mutex> lock(g.mutex);  // ids are the process's, shared by its threads
  return SetOne(GroupIds(g), Id(a[0]));
}
int64_t Setreuid(Process& g, Task& t, const Args& a) {
  std::lock_guard<std::mutex> lock(g.mutex);  // ids are the process's, shared by its threads
  return SetRealEffective(UserIds(g), Id(a[0]), Id(a[1]));
}
int64_t Setregid(Process& g, Task& t, const Args& a) {
  std::lock_guard<std::mutex> lock(g.mutex);  // ids are the process's, shared by its threads
  return SetRealEffective(GroupIds(g), Id(a[0]), Id(a[1]));
}
int64_t Setresuid(Process& g, Task& t, const Args& a) {
  std::lock_guard<std::mutex> lock(g.mutex);  // ids are the process's, shared by its threads
  return SetAll(UserIds(g), Id(a[0]), Id(a[1]), Id(a[2]));
}
int64_t Setresgid(Process& g, Task& t, const Args& a) {
  std::lock_guard<std::mutex> lock(g.mutex);  // ids are the process's, shared by its threads
  return SetAll(GroupIds(g), Id(a[0]), Id(a[1]), Id(a[2]));
}
// Supplementary groups are root's to change.
int64_t Setgroups(Process&, Task&, const Args&) { return -EPERM; }

// Sessions and process groups. The guest leads its own process group (as a
// shell's job does) in a session led by someone else: with Newpid, outside
// its pid namespace, which Linux shows as session 0.
int64_t Getsid(Process& g, Task& t, const Args& a) {
  const int64_t pid = static_cast<int32_t>(a[0]);
  if (pid == 0 || pid == g.pid) return g.sid.load();
  if (pid < 0 || !g.guest) return -ESRCH;
  return g.guest->SidOf(static_cast<int>(pid));
}
// Sessions and groups, with Linux's rules, among the guest's processes
// (native/processes/guest.cc): a group leader may not start a session.
int64_t Setsid(Process& g, Task&, const Args&) { return g.guest ? g.guest->SetSid(g) : -EPERM; }
int64_t Setpgid(Process& g, Task& t, const Args& a) {
  const int64_t pid = static_cast<int32_t>(a[0]), pgid = static_cast<int32_t>(a[1]);
  if (pgid < 0 || pid < 0) return -EINVAL;
  if (!g.guest) return pid == 0 || pid == g.pid ? (pgid == 0 || pgid == g.pid ? 0 : -EPERM) : -ESRCH;
  return g.guest->SetPgid(g, static_cast<int>(pid), static_cast<int>(pgid));
}

int64_t Gettid(Process& g, Task& t, const Args&) { return t.tid; }

int64_t SetTidAddress(Process& g, Task& t, const Args& a) {
  t.clear_child_tid = a[0];
  return t.tid;
}

int64_t SetRobustList(Process& g, Task& t, const Args& a) {
  if (a[1] != 24) return -EINVAL;  // sizeof(struct robust_list_head)
  t.robust_list = a[0];
  return 0;
}

int64_t GetRobustList(Process& g, Task& t, const Args& a) {
  uint64_t head = t.robust_list;
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(t.tid) &&
      !(g.threads && g.threads->WithTask(static_cast<int>(a[0]), [&head](Task& other) { head = other.robust_list; })))
    return -ESRCH;
  if (!CopyOut(g, a[1], head) || !CopyOut(g, a[2], uint64_t{24})) return -EFAULT;
  return 0;
}

// Restartable sequences: each thread has its vCPU for good and is never
// preempted inside the guest by the monitor, so the cpu fields are 0 for good
// and no critical section is ever interrupted.
int64_t Rseq(Process& g, Task& t, const Args& a) {
  const uint64_t area = a[0], len = a[1], flags = a[2];
  if (flags & 1) {  // RSEQ_FLAG_UNREGISTER
    if (area != t.rseq_area) return -EINVAL;
    t.rseq_area = 0;
    return 0;
  }
  if (flags) return -EINVAL;
  if (t.rseq_area) return area == t.rseq_area ? -EBUSY : -EINVAL;
  if (len < 32 || (area & 31)) return -EINVAL;
  const auto hold = g.mm.Hold();
  uint8_t* p = g.mm.User(area, len, Access::kWrite);
  if (!p) return -EFAULT;
  const uint32_t zero = 0;
  std::memcpy(p + 0, &zero, 4);  // cpu_id_start
  std::memcpy(p + 4, &zero, 4);  // cpu_id
  if (len >= 32) {
    std::memcpy(p + 24, &zero, 4);  // node_id
    std::memcpy(p + 28, &zero, 4);  // mm_cid
  }
  t.rseq_area = area;
  return 0;
}

int64_t ArchPrctl(Process& g, Task& t, const Args& a) {
  const uint64_t code = a[0], addr = a[1];
  auto canonical = [](uint64_t v) { return v < (1ull << 47) || v >= ~((1ull << 47) - 1); };
  switch (code) {
    case ARCH_SET_FS:
    case ARCH_SET_GS:
      if (!canonical(addr)) return -EPERM;
      return t.cpu && t.cpu->SetSegmentBase(code == ARCH_SET_FS, addr) ? 0 : -EIO;
    case ARCH_GET_FS:
    case ARCH_GET_GS: {
      uint64_t base = 0;
      if (!t.cpu || !t.cpu->GetSegmentBase(code == ARCH_GET_FS, &base)) return -EIO;
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

int64_t Uname(Process& g, Task& t, const Args& a) {
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
    // Raising rlim_max needs a privilege (EPERM, checked below under the lock).
  }
  rlimit old;
  {
    // Shared by the threads: read and replaced under the process's mutex.
    std::lock_guard<std::mutex> lock(g.mutex);
    old = g.rlimits[resource];
    if (new_addr && next.rlim_max > old.rlim_max) return -EPERM;
    if (new_addr) g.rlimits[resource] = next;
    // Under the same lock: two threads' setrlimit leave the table's limit
    // as the last one's record says (fds' own mutex nests inside).
    if (new_addr && resource == RLIMIT_NOFILE)
      g.fds.set_limit(static_cast<int>(std::min<rlim_t>(next.rlim_cur, 65536)));
  }
  if (old_addr && !CopyOut(g, old_addr, old)) return -EFAULT;
  return 0;
}

int64_t Prlimit64(Process& g, Task& t, const Args& a) { return Prlimit(g, a[0], a[1], a[2], a[3]); }
int64_t Getrlimit(Process& g, Task& t, const Args& a) { return Prlimit(g, 0, a[0], 0, a[1]); }
int64_t Setrlimit(Process& g, Task& t, const Args& a) { return Prlimit(g, 0, a[0], a[1], 0); }

int64_t Getrusage(Process& g, Task& t, const Args& a) {
  rusage ru{};
  const int who = static_cast<int>(a[0]);
  if (who == RUSAGE_SELF || who == RUSAGE_THREAD) {
    getrusage(RUSAGE_THREAD, &ru);  // the vCPU thread: the guest's own time
  } else if (who != RUSAGE_CHILDREN) {
    return -EINVAL;
  }
  return CopyOut(g, a[1], ru) ? 0 : -EFAULT;
}

int64_t Times(Process& g, Task& t, const Args& a) {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  const long hz = sysconf(_SC_CLK_TCK);
  tms used{};
  used.tms_utime = static_cast<clock_t>(ts.tv_sec * hz + ts.tv_nsec / (1000000000 / hz));
  if (a[0] && !CopyOut(g, a[0], used)) return -EFAULT;
  tms host;
  return times(&host);
}

int64_t Sysinfo(Process& g, Task& t, const Args& a) {
  struct sysinfo si;
  if (sysinfo(&si) < 0) return -errno;
  // Memory as the guest has it.
  const uint64_t used = g.mm.MappedBytes();
  si.mem_unit = 1;
  si.totalram = g.config.memory_bytes;
  si.freeram = used < si.totalram ? si.totalram - used : 0;
  si.sharedram = si.bufferram = si.totalswap = si.freeswap = si.totalhigh = si.freehigh = 0;
  si.procs = 1;
  return CopyOut(g, a[0], si) ? 0 : -EFAULT;
}

int64_t SchedGetaffinity(Process& g, Task& t, const Args& a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  const uint64_t len = std::min<uint64_t>(a[1], 8192);
  if (len < sizeof(unsigned long) || (len % sizeof(unsigned long))) return -EINVAL;
  std::vector<uint8_t> mask(len);
  long r = syscall(SYS_sched_getaffinity, 0, len, mask.data());
  if (r < 0) return -errno;
  if (!CopyOutBytes(g, a[2], mask.data(), static_cast<uint64_t>(r))) return -EFAULT;
  return r;
}

int64_t SchedSetaffinity(Process& g, Task& t, const Args& a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return 0;  // the guest does not pin the monitor's threads
}

int64_t Zero(Process&, Task&, const Args&) { return 0; }

int64_t SchedGetscheduler(Process& g, Task& t, const Args& a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return SCHED_OTHER;
}

int64_t SchedGetparam(Process& g, Task& t, const Args& a) {
  if (a[0] != 0 && a[0] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return CopyOut(g, a[1], int{0}) ? 0 : -EFAULT;
}

int64_t Getcpu(Process& g, Task& t, const Args& a) {
  if (a[0] && !CopyOut(g, a[0], unsigned{0})) return -EFAULT;
  if (a[1] && !CopyOut(g, a[1], unsigned{0})) return -EFAULT;
  return 0;
}

int64_t Getpriority(Process& g, Task& t, const Args& a) {
  if (a[1] != 0 && a[1] != static_cast<uint64_t>(g.pid)) return -ESRCH;
  return 20;  // nice 0, in the syscall's 1..40 encoding
}

int64_t Prctl(Process& g, Task& t, const Args& a) {
  switch (a[0]) {
    case PR_SET_NAME: {
      char name[16] = {};
      // Checked and read under one hold: another thread's munmap in between
      // would leave a null pointer to read from.
      {
        const auto hold = g.mm.Hold();
        const uint64_t n = g.mm.UserExtent(a[1], 15, Access::kRead);
        const uint8_t* p = n ? g.mm.User(a[1], n, Access::kRead) : nullptr;
        if (!p) return -EFAULT;
        std::memcpy(name, p, n);
      }
      t.set_name(name, strnlen(name, 15));
      return 0;
    }
    case PR_GET_NAME: {
      const std::array<char, 16> name = t.name();
      return CopyOutBytes(g, a[1], name.data(), 16) ? 0 : -EFAULT;
    }
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

int64_t Getrandom(Process& g, Task& t, const Args& a) {
  if (a[2] & ~uint64_t{GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE}) return -EINVAL;
  const uint64_t len = std::min<uint64_t>(a[1], 33554431);  // Linux caps a call at 32 MiB - 1
  const uint64_t n = g.mm.UserExtent(a[0], len, Access::kWrite);
  if (len && !n) return -EFAULT;
  long r;
  do r = getrandom(g.mm.User(a[0], n, Access::kWrite), n, static_cast<unsigned>(a[2]));
  while (r < 0 && errno == EINTR && !t.interrupted());
  return HostResult(r);
}

// ---- signals: actions, masks, the alternate stack, signals to itself.
// Delivery and rt_sigreturn are the vCPU's (native/signals.cc).

constexpr uint64_t kSigsetSize = 8;
constexpr uint64_t kSsAutodisarm = 1u << 31;  // linux/signal.h; not in glibc's headers
constexpr uint64_t kMinSigStkSz = 2048;       // the kernel's MINSIGSTKSZ on x86

int64_t RtSigaction(Process& g, Task& t, const Args& a) {
  const uint64_t sig = a[0];
  if (a[3] != kSigsetSize) return -EINVAL;
  if (sig < 1 || sig > 64) return -EINVAL;
  kernel_sigaction_t next;
  if (a[1]) {
    if (!CopyIn(g, a[1], &next)) return -EFAULT;
    if (sig == SIGKILL || sig == SIGSTOP) return -EINVAL;
    next.mask &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
  }
  kernel_sigaction_t old;
  {
    std::lock_guard<std::mutex> lock(g.signal_mutex);
    old = g.sigactions[sig];
    if (a[1]) g.sigactions[sig] = next;
  }
  if (a[2] && !CopyOut(g, a[2], old)) return -EFAULT;
  return 0;
}

int64_t RtSigprocmask(Process& g, Task& t, const Args& a) {
  if (a[3] != kSigsetSize) return -EINVAL;
  uint64_t set = 0;
  if (a[1] && !CopyIn(g, a[1], &set)) return -EFAULT;
  if (a[2] && !CopyOut(g, a[2], t.sigmask)) return -EFAULT;
  if (!a[1]) return 0;
  set &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
  switch (a[0]) {
    case SIG_BLOCK: t.sigmask |= set; break;
    case SIG_UNBLOCK: t.sigmask &= ~set; break;
    case SIG_SETMASK: t.sigmask = set; break;
    default: return -EINVAL;
  }
  return 0;
}

int64_t RtSigpending(Process& g, Task& t, const Args& a) {
  if (a[1] > kSigsetSize) return -EINVAL;
  const uint64_t pending = t.sig_pending.load() | g.shared_pending.load();
  return CopyOut(g, a[0], pending & t.sigmask) ? 0 : -EFAULT;
}

// Waits until a signal is there to take (EINTR), or the process is stopped.
// The kick that brings a signal interrupts pause(); one that came just
// before it is sent again (native/threads.h).
int64_t WaitForSignal(Task& t) {
  while (!t.interrupted()) pause();
  return -EINTR;
}

int64_t Pause(Process& g, Task& t, const Args&) { return WaitForSignal(t); }

int64_t RtSigsuspend(Process& g, Task& t, const Args& a) {
  if (a[1] != kSigsetSize) return -EINVAL;
  uint64_t mask;
  if (!CopyIn(g, a[0], &mask)) return -EFAULT;
  // The handler's frame keeps the old mask (signals.cc), and the thread
  // gets it back when the handler returns.
  t.saved_sigmask = t.sigmask.load();
  t.restore_sigmask = true;
  t.sigmask = mask & ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
  return WaitForSignal(t);
}

// sigwait: takes one of `set` (blocked or not) when it is pending, without
// running its handler.
int64_t RtSigtimedwait(Process& g, Task& t, const Args& a) {
  if (a[3] != kSigsetSize) return -EINVAL;
  uint64_t set;
  if (!CopyIn(g, a[0], &set)) return -EFAULT;
  set &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
  timespec deadline{}, now;
  if (a[2]) {
    timespec rel;
    if (!CopyIn(g, a[2], &rel)) return -EFAULT;
    if (rel.tv_sec < 0 || rel.tv_nsec < 0 || rel.tv_nsec >= 1000000000) return -EINVAL;
    clock_gettime(CLOCK_MONOTONIC, &now);
    deadline = {now.tv_sec + rel.tv_sec, now.tv_nsec + rel.tv_nsec};
    if (deadline.tv_nsec >= 1000000000) deadline = {deadline.tv_sec + 1, deadline.tv_nsec - 1000000000};
  }
  // While it waits, the signals of `set` count as unblocked for it: a kick
  // brings them (Task::Deliverable).
  const uint64_t mask = t.sigmask.load();
  t.sigmask = mask & ~set;
  int64_t result = -EAGAIN;
  for (;;) {
    int sig = 0;
    int32_t code = 0;
    {
      std::lock_guard<std::mutex> lock(g.signal_mutex);
      const uint64_t own = t.sig_pending.load() & set, shared = g.shared_pending.load() & set;
      if (own | shared) {
        sig = __builtin_ctzll(own ? own : shared) + 1;
        const uint64_t bit = uint64_t{1} << (sig - 1);
        if (own) {
          t.sig_pending &= ~bit;
          code = t.sig_code[sig];
        } else {
          g.shared_pending &= ~bit;
          code = g.shared_code[sig];
        }
      }
    }
    if (sig) {
      t.sigmask = mask;
      if (a[1]) {
        int32_t info[32] = {sig, 0, code, 0, g.pid, static_cast<int32_t>(g.uid)};
        if (!CopyOutBytes(g, a[1], info, sizeof info)) return -EFAULT;
      }
      return sig;
    }
    if (g.interrupted() || (t.Deliverable() & ~set)) {
      result = -EINTR;
      break;
    }
    if (a[2]) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec)) break;
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr);
    } else {
      pause();
    }
  }
  t.sigmask = mask;
  return result;
}

int64_t Sigaltstack(Process& g, Task& t, const Args& a) {
  // Linux's rules: while the thread runs on its alternate stack, the old
  // value says SS_ONSTACK and the stack may not change (EPERM).
  uint64_t sp = 0;
  const bool enabled = !(t.altstack[1] & SS_DISABLE) && t.altstack[2] != 0;
  const bool on_stack = enabled && t.cpu && t.cpu->StackPointer(&sp) && sp - t.altstack[0] <= t.altstack[2];
  uint64_t next[3];  // ss_sp, ss_flags (int + padding), ss_size
  if (a[0]) {
    if (!CopyIn(g, a[0], &next)) return -EFAULT;
    const uint64_t flags = next[1] & 0xffffffff;
    if (flags & ~(uint64_t{SS_DISABLE} | uint64_t{SS_ONSTACK} | kSsAutodisarm)) return -EINVAL;
    if (on_stack) return -EPERM;
    if (!(flags & SS_DISABLE) && next[2] < kMinSigStkSz) return -ENOMEM;
    if (flags & SS_DISABLE) next[0] = next[2] = 0;
    next[1] = flags & ~uint64_t{SS_ONSTACK};
  }
  if (a[1]) {
    uint64_t old[3] = {t.altstack[0], on_stack ? uint64_t{SS_ONSTACK} : (enabled ? 0 : uint64_t{SS_DISABLE}),
                       t.altstack[2]};
    old[1] |= t.altstack[1] & kSsAutodisarm;
    if (!CopyOut(g, a[1], old)) return -EFAULT;
  }
  if (a[0]) std::memcpy(t.altstack, next, sizeof next);
  return 0;
}

// kill names only the guest's processes (native/processes/guest.cc): a
// pid, a group, or -1 for all of them. A pid that is none of them is the
// host's, which the guest may not signal: EPERM, as Linux answers for
// another user's process (ESRCH with Newpid: the guest's pid namespace
// holds only its own).
int64_t Kill(Process& g, Task& t, const Args& a) {
  const int64_t pid = static_cast<int32_t>(a[0]);
  if (a[1] > 64) return -EINVAL;
  if (pid == g.pid || (pid > 0 && g.threads && g.threads->WithTask(static_cast<int>(pid), [](Task&) {})))
    return SignalProcess(g, &t, static_cast<int>(a[1]), SI_USER);
  if (!g.guest) return pid == 0 || pid == -g.pid ? SignalProcess(g, &t, static_cast<int>(a[1]), SI_USER) : -ESRCH;
  if (pid == INT32_MIN) return -ESRCH;
  const int64_t r = g.guest->Kill(g, t, pid, static_cast<int>(a[1]));
  if (r == -ESRCH && pid != -1 && !g.config.newpid && !g.guest->Allocated(pid < 0 ? -pid : pid)) return -EPERM;
  return r;
}

// A signal to one thread, named by its tid.
int64_t SignalTid(Process& g, Task& t, int64_t tid, uint64_t sig) {
  if (sig > 64) return -EINVAL;
  if (tid <= 0) return -EINVAL;
  if (tid == t.tid) return SignalThread(t, &t, static_cast<int>(sig), SI_TKILL);
  int64_t r = -ESRCH;
  if (g.threads)
    g.threads->WithTask(static_cast<int>(tid),
                        [&](Task& other) { r = SignalThread(other, &t, static_cast<int>(sig), SI_TKILL); });
  return r;
}
int64_t Tkill(Process& g, Task& t, const Args& a) { return SignalTid(g, t, static_cast<int32_t>(a[0]), a[1]); }
int64_t Tgkill(Process& g, Task& t, const Args& a) {
  const int64_t tgid = static_cast<int32_t>(a[0]);
  if (tgid <= 0) return -EINVAL;
  if (tgid == g.pid) return SignalTid(g, t, static_cast<int32_t>(a[1]), a[2]);
  // A thread of another of the guest's processes.
  const int64_t tid = static_cast<int32_t>(a[1]);
  if (tid <= 0 || a[2] > 64) return -EINVAL;
  int64_t r = -ESRCH;
  if (g.guest)
    g.guest->WithProcess(static_cast<int>(tgid), [&](Process& other) {
      if (other.threads)
        other.threads->WithTask(static_cast<int>(tid),
                                [&](Task& target) { r = SignalThread(target, nullptr, static_cast<int>(a[2]), SI_TKILL); });
    });
  return r;
}


// ---- futexes (native/futex.h)

// A futex timeout: absolute for the BITSET forms and LOCK_PI, relative for
// FUTEX_WAIT, turned into an absolute time on `clock`. 0 or -errno.
int FutexDeadline(Process& g, uint64_t addr, bool absolute, clockid_t clock, timespec* out) {
  timespec ts;
  if (!CopyIn(g, addr, &ts)) return -EFAULT;
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) return -EINVAL;
  if (absolute) {
    *out = ts;
    return 0;
  }
  timespec now;
  clock_gettime(clock, &now);
  out->tv_sec = now.tv_sec + ts.tv_sec;
  out->tv_nsec = now.tv_nsec + ts.tv_nsec;
  if (out->tv_nsec >= 1000000000) {
    out->tv_sec++;
    out->tv_nsec -= 1000000000;
  }
  if (out->tv_sec < now.tv_sec) out->tv_sec = INT64_MAX;  // overflow: for ever
  return 0;
}

// FUTEX_WAKE_OP's operation on the word at addr2, as Linux's
// futex_atomic_op_inuser: the old value, compared as `encoded` says.
bool WakeOpApply(uint32_t* word, uint32_t encoded, int* error) {
  const uint32_t op = (encoded >> 28) & 7, cmp = (encoded >> 24) & 15;
  uint32_t oparg = (encoded >> 12) & 0xfff;
  const uint32_t cmparg = encoded & 0xfff;
  oparg = static_cast<uint32_t>(static_cast<int32_t>(oparg << 20) >> 20);  // sign-extended 12 bits
  // A shift out of range is taken modulo 32, as Linux does (with a warning
  // in its log), not refused.
  if (encoded & (8u << 28)) oparg = 1u << (oparg & 31);  // FUTEX_OP_OPARG_SHIFT
  uint32_t old = __atomic_load_n(word, __ATOMIC_RELAXED), next;
  do {
    switch (op) {
      case FUTEX_OP_SET: next = oparg; break;
      case FUTEX_OP_ADD: next = old + oparg; break;
      case FUTEX_OP_OR: next = old | oparg; break;
      case FUTEX_OP_ANDN: next = old & ~oparg; break;
      case FUTEX_OP_XOR: next = old ^ oparg; break;
      default: *error = -ENOSYS; return false;
    }
  } while (!__atomic_compare_exchange_n(word, &old, next, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  const int32_t o = static_cast<int32_t>(old), c = static_cast<int32_t>(cmparg);
  switch (cmp) {
    case FUTEX_OP_CMP_EQ: return o == c;
    case FUTEX_OP_CMP_NE: return o != c;
    case FUTEX_OP_CMP_LT: return o < c;
    case FUTEX_OP_CMP_LE: return o <= c;
    case FUTEX_OP_CMP_GT: return o > c;
    case FUTEX_OP_CMP_GE: return o >= c;
    default: *error = -ENOSYS; return false;
  }
}

int64_t Futex(Process& g, Task& t, const Args& a) {
  const uint64_t addr = a[0];
  const int op = static_cast<int>(a[1]) & FUTEX_CMD_MASK;
  const bool realtime = a[1] & FUTEX_CLOCK_REALTIME;
  const uint32_t val = static_cast<uint32_t>(a[2]);
  if (realtime && op != FUTEX_WAIT && op != FUTEX_WAIT_BITSET && op != FUTEX_WAIT_REQUEUE_PI && op != FUTEX_LOCK_PI2)
    return -ENOSYS;
  if (addr & 3) return -EINVAL;
  // The count of a wake or requeue is an int; a negative one wakes none... Linux
  // takes it as it is (INT_MAX is "all").
  const int count = static_cast<int>(static_cast<int32_t>(val));
  switch (op) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET: {
      const uint32_t bitset = op == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : static_cast<uint32_t>(a[5]);
      if (!bitset) return -EINVAL;
      const auto* word = reinterpret_cast<const uint32_t*>(g.mm.User(addr, 4, Access::kRead));
      if (!word) return -EFAULT;
      const clockid_t clock = realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC;
      timespec deadline;
      if (a[3]) {
        if (int r = FutexDeadline(g, a[3], op == FUTEX_WAIT_BITSET, clock, &deadline); r < 0) return r;
      }
      return g.futexes.Wait(t, word, addr, val, bitset, a[3] ? &deadline : nullptr, clock);
    }
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
      const uint32_t bitset = op == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY : static_cast<uint32_t>(a[5]);
      if (!bitset) return -EINVAL;
      return g.futexes.Wake(addr, count, bitset);  // a count <= 0 wakes one, as on Linux
    }
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE: {
      // The requeue count travels in the timeout argument.
      const int requeue = static_cast<int>(static_cast<int32_t>(a[3]));
      if (count < 0 || requeue < 0) return -EINVAL;
      if (a[4] & 3) return -EINVAL;
      const bool compare = op == FUTEX_CMP_REQUEUE;
      const auto* word = reinterpret_cast<const uint32_t*>(g.mm.User(addr, 4, Access::kRead));
      if (compare && !word) return -EFAULT;
      // Onto itself is allowed (Linux refuses it only for the PI requeue):
      // the waiters stay, and count as requeued.
      return g.futexes.Requeue(addr, count, requeue, a[4], word, compare, static_cast<uint32_t>(a[5]));
    }
    case FUTEX_WAKE_OP: {
      const int count2 = static_cast<int>(static_cast<int32_t>(a[3]));
      if (a[4] & 3) return -EINVAL;
      // The word is changed by the monitor: held so the page stays writable.
      const auto hold = g.mm.Hold();
      auto* word2 = reinterpret_cast<uint32_t*>(g.mm.User(a[4], 4, Access::kWrite));
      if (!word2) return -EFAULT;
      return g.futexes.WakeOp(addr, count, a[4], count2, [&] {
        int error = 0;
        const bool second = WakeOpApply(word2, static_cast<uint32_t>(a[5]), &error);
        return error ? error : second ? 1 : 0;
      });
    }
    case FUTEX_LOCK_PI:
    case FUTEX_LOCK_PI2:
    case FUTEX_TRYLOCK_PI:
    case FUTEX_UNLOCK_PI: {
      // PTHREAD_PRIO_INHERIT mutexes (native/futex.h). LOCK_PI's timeout is
      // absolute on CLOCK_REALTIME; LOCK_PI2's on CLOCK_MONOTONIC unless
      // FUTEX_CLOCK_REALTIME.
      auto* word = reinterpret_cast<uint32_t*>(g.mm.User(addr, 4, Access::kWrite));
      if (!word) return -EFAULT;
      if (op == FUTEX_TRYLOCK_PI) return g.futexes.TrylockPi(t, g.mm, word);
      if (op == FUTEX_UNLOCK_PI) return g.futexes.UnlockPi(t, g.mm, word, addr);
      const clockid_t clock = op == FUTEX_LOCK_PI || realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC;
      timespec deadline;
      if (a[3]) {
        if (int r = FutexDeadline(g, a[3], true, clock, &deadline); r < 0) return r;
      }
      auto is_live = [&g, &t](int tid) { return tid == t.tid || (g.threads && g.threads->WithTask(tid, [](Task&) {})); };
      return g.futexes.LockPi(t, g.mm, word, addr, a[3] ? &deadline : nullptr, clock, is_live);
    }
    default:
      // FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI: glibc's condition
      // variables have not used them since 2.25.
      return -ENOSYS;
  }
}

}  // namespace

namespace {

// Whether `sig` would do nothing if delivered now (the caller holds the
// signal mutex).
bool Ignored(const Process& g, int sig) {
  const uint64_t handler = g.sigactions[sig].handler;
  return handler == reinterpret_cast<uint64_t>(SIG_IGN) ||
         (handler == reinterpret_cast<uint64_t>(SIG_DFL) && DefaultIsIgnore(sig));
}

void KillProcess(Process& g, const Task* self, int sig, const char* why) {
  g.Kill(sig, why);
  if (g.threads) g.threads->KillOthers(self);
}

// What every signal sent goes through first: a bad number is EINVAL, 0
// sends nothing (a check that the target exists), SIGKILL ends the process
// at once. kQueue: the signal is to be queued.
constexpr int64_t kQueue = 1;
int64_t Screen(Process& g, Task* sender, int sig) {
  if (sig < 0 || sig > 64) return -EINVAL;
  if (sig == 0) return 0;
  if (sig == SIGKILL) {
    KillProcess(g, sender, SIGKILL, "sent itself the signal");
    return 0;
  }
  return kQueue;
}

}  // namespace

// A signal for one thread: pending until its vCPU delivers it as a
// hypercall returns, or when it is unblocked (signals.cc), which is also
// where an ignored one is dropped (after a tracer or a debugger has seen
// it, as ptrace shows ignored signals too). A thread waiting in a host call
// or running in the guest is kicked to take it, unless it would do nothing.
int64_t SignalThread(Task& target, Task* sender, int sig, int32_t code) {
  Process& g = target.process;
  if (const int64_t r = Screen(g, sender, sig); r != kQueue) return r;
  const uint64_t bit = uint64_t{1} << (sig - 1);
  bool wake;
  {
    std::lock_guard<std::mutex> lock(g.signal_mutex);
    target.sig_pending |= bit;
    target.sig_code[sig] = code;
    wake = !Ignored(g, sig) && !(target.sigmask & bit);
  }
  if (wake && &target != sender && target.cpu) target.cpu->Kick();
  return 0;
}

// A signal for the process: any thread that does not block it takes it
// (the first, the main thread, when it can), as Linux's complete_signal.
int64_t SignalProcess(Process& g, Task* sender, int sig, int32_t code) {
  if (const int64_t r = Screen(g, sender, sig); r != kQueue) return r;
  const uint64_t bit = uint64_t{1} << (sig - 1);
  bool ignored;
  {
    std::lock_guard<std::mutex> lock(g.signal_mutex);
    g.shared_pending |= bit;
    g.shared_code[sig] = code;
    ignored = Ignored(g, sig);
  }
  if (ignored || !g.threads) return 0;
  // The sender itself takes it as its call returns, if it does not block it.
  if (sender && !(sender->sigmask & bit)) return 0;
  bool kicked = false;
  g.threads->ForEachTask([&](Task& task) {
    if (kicked || (task.sigmask & bit) || !task.cpu) return;
    task.cpu->Kick();
    kicked = true;
  });
  return 0;
}

int64_t SignalSelf(Task& t, int sig, int32_t code) { return SignalThread(t, &t, sig, code); }

bool DefaultIsIgnore(int sig) {
  return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT || sig == SIGSTOP ||
         sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

void RegisterProcessHypercalls(HypercallTable& table) {
  table.handlers[SYS_exit] = Exit;
  table.handlers[SYS_exit_group] = ExitGroup;
  table.handlers[SYS_clone] = Clone;
  table.handlers[SYS_clone3] = Clone3;
  table.handlers[SYS_getpid] = Getpid;
  table.handlers[SYS_getppid] = Getppid;
  table.handlers[SYS_gettid] = Gettid;
  table.handlers[SYS_getuid] = Getuid;
  table.handlers[SYS_geteuid] = Geteuid;
  table.handlers[SYS_getgid] = Getgid;
  table.handlers[SYS_getegid] = Getegid;
  table.handlers[SYS_getresuid] = Getresuid;
  table.handlers[SYS_getresgid] = Getresgid;
  table.handlers[SYS_getgroups] = Getgroups;
  table.handlers[SYS_getpgrp] = Getpgrp;
  table.handlers[SYS_getpgid] = Getpgid;
  table.handlers[SYS_getsid] = Getsid;
  table.handlers[SYS_setuid] = Setuid;
  table.handlers[SYS_setgid] = Setgid;
  table.handlers[SYS_setreuid] = Setreuid;
  table.handlers[SYS_setregid] = Setregid;
  table.handlers[SYS_setresuid] = Setresuid;
  table.handlers[SYS_setresgid] = Setresgid;
  table.handlers[SYS_setgroups] = Setgroups;
  table.handlers[SYS_setpgid] = Setpgid;
  table.handlers[SYS_setsid] = Setsid;
  table.handlers[SYS_set_tid_address] = SetTidAddress;
  table.handlers[SYS_set_robust_list] = SetRobustList;
  table.handlers[SYS_get_robust_list] = GetRobustList;
  table.handlers[SYS_rseq] = Rseq;
  table.handlers[SYS_arch_prctl] = ArchPrctl;
  table.handlers[SYS_uname] = Uname;
  table.handlers[SYS_prlimit64] = Prlimit64;
  table.handlers[SYS_getrlimit] = Getrlimit;
  table.handlers[SYS_setrlimit] = Setrlimit;
  table.handlers[SYS_getrusage] = Getrusage;
  table.handlers[SYS_times] = Times;
  table.handlers[SYS_sysinfo] = Sysinfo;
  table.handlers[SYS_sched_getaffinity] = SchedGetaffinity;
  table.handlers[SYS_sched_setaffinity] = SchedSetaffinity;
  table.handlers[SYS_sched_yield] = Zero;
  table.handlers[SYS_sched_getscheduler] = SchedGetscheduler;
  table.handlers[SYS_sched_getparam] = SchedGetparam;
  table.handlers[SYS_getcpu] = Getcpu;
  table.handlers[SYS_getpriority] = Getpriority;
  table.handlers[SYS_prctl] = Prctl;
  table.handlers[SYS_getrandom] = Getrandom;
  table.handlers[SYS_rt_sigaction] = RtSigaction;
  table.handlers[SYS_rt_sigprocmask] = RtSigprocmask;
  table.handlers[SYS_rt_sigpending] = RtSigpending;
  table.handlers[SYS_sigaltstack] = Sigaltstack;
  table.handlers[SYS_rt_sigsuspend] = RtSigsuspend;
  table.handlers[SYS_rt_sigtimedwait] = RtSigtimedwait;
  table.handlers[SYS_pause] = Pause;
  // rt_sigreturn needs the registers: Vcpu::Dispatch answers it before
  // this table (native/signals.cc). The entry says it is implemented.
  table.handlers[SYS_rt_sigreturn] = [](Process&, Task&, const Args&) -> int64_t { return -ENOSYS; };
  table.handlers[SYS_kill] = Kill;
  table.handlers[SYS_tkill] = Tkill;
  table.handlers[SYS_tgkill] = Tgkill;
  table.handlers[SYS_futex] = Futex;
}

}  // namespace torov
