// A hostile guest that races the monitor on the hypercall slots themselves
// (issue 17): one thread makes a call while another rewrites, in every
// vCPU's slot (native/kvm/runtime.h), what that call says: an argument, the
// number, the flags it returns with. The slots are user-writable under PVM;
// elsewhere test/e2e/races.test.ts maps them so (TOROV_TEST_USER_SLOTS=1).
// Each mode reports both outcomes a rewrite can give, so that a run shows
// the rewrites landed, and what must never happen.
// NEVER run natively: it writes to addresses below 0x10000.
//
//   races slot-write      one store into a slot; prints "slot-write: stored" if it was not a fault
//   races setsockopt-len  setsockopt(SO_RCVBUF, optlen 8) while optlen flips to 1 MiB
//   races sigaction-ptr   rt_sigaction(SIGUSR1, NULL, &old) while act flips to a known action
//   races nr-flip         chdir("made") while the number flips to mkdir, which the manifest denies
//   races rflags          getppid() while the returned flags flip to IOPL 3, IF off and ID on
//   races memfd-threads   8 threads write and punch one memfd as fast as they can (Memory 64: 32 MiB for memfds)
//   races linger          exits with a TCP socket lingering an hour, in flight in SCM_RIGHTS
//   races cwd             getcwd while another thread chdirs between a short and a 200-byte name
//   races canary          two threads call getppid 100 times each: scripts/sanitize.mjs's canary
//   races fuzz [S] [SEED] the slot fuzzer: calls of many kinds with arguments from a table of
//                         edge values, while a second thread writes values from the same table
//                         into vCPU 0's slot (number, arguments, flags) at random; reports on fd 200
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "threads.h"

// native/kvm/runtime.h
#define RT_BASE 0x1000
#define RT_HC 0x4000
#define RT_HC_SIZE 128
#define RT_MAX_VCPUS 64
#define HC_NR 0x00
#define HC_A0 0x08
#define HC_A1 0x10
#define HC_A4 0x28
#define HC_A5 0x30
#define HC_RFLAGS 0x40

static volatile uint64_t *slot(int n, int off) { return (volatile uint64_t *)(uintptr_t)(RT_HC + n * RT_HC_SIZE + off); }

static int field;
static uint64_t value_a, value_b;

// No system calls: the slot words change between two instructions of the
// monitor's, in every vCPU's slot (which one serves the caller is not
// ours to know).
static void *flipper(void *arg) {
  while (!atomic_load_explicit(&stop, memory_order_relaxed))
    for (int n = 0; n < RT_MAX_VCPUS; n++) {
      *slot(n, field) = value_a;
      *slot(n, field) = value_b;
    }
  return NULL;
}

// The flippers rewrite this call's slot too: a rewritten one fails, or
// writes elsewhere, and ts stays 0 for one round.
static double now(void) {
  struct timespec ts = {0, 0};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// The monitor's working directory changes under getcwd: each answer must
// be one of the two, whole.
static char long_name[201];
static void *chdirs(void *arg) {
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    chdir("/a");
    chdir(long_name);
  }
  return arg;
}

static void *getppids(void *arg) {
  for (int i = 0; i < 100; i++) syscall(SYS_getppid);
  return arg;
}

static const char *yes(long n) { return n ? "yes" : "no"; }

// rt_sigaction's struct as the kernel has it.
struct ksigaction {
  uint64_t handler, flags, restorer, mask;
};

// Each writer keeps its 8 MiB of the memfd churning for the whole run: it
// writes 1 MiB chunks in turn and punches out the one it wrote 4 chunks
// before, so that the file stays near the budget, where a count that goes
// wrong lets it pass.
static int memfd;
static double memfd_until;
static atomic_long written;
static atomic_int writers_done, budget_reached;
// Each writer goes on past memfd_until until some write has met the budget
// (ENOSPC), for a minute at most: a slow machine (a sanitizer, an emulated
// CPU) still tests the budget rather than a half-full memfd.
static void *memfd_writer(void *arg) {
  const long i = (long)arg;
  static char buf[1 << 20];
  memset(buf, 'm', sizeof buf);
  for (long k = 0; now() < memfd_until || (!atomic_load(&budget_reached) && now() < memfd_until + 60); k++) {
    const off_t at = (i * 8 + k % 8) * (off_t)sizeof buf;
    ssize_t w = pwrite(memfd, buf, sizeof buf, at);
    if (w > 0) atomic_fetch_add(&written, w);
    else if (w < 0 && errno == ENOSPC) atomic_store(&budget_reached, 1);
    fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (i * 8 + (k + 4) % 8) * (off_t)sizeof buf, sizeof buf);
  }
  atomic_fetch_add(&writers_done, 1);
  return NULL;
}


// The slot fuzzer. Its calls never block (no pipes or sockets, no futex
// waits, no polls) and never unmap or protect memory, so that whatever the
// table makes of them the guest goes on: the monitor, not the guest, is on
// trial. Paths are relative and the MountPoint is the root: nothing may
// appear outside it.
static const long fuzz_calls[] = {
    SYS_read,        SYS_write,        SYS_close,     SYS_fstat,       SYS_lseek,         SYS_rt_sigaction,
    SYS_rt_sigprocmask, SYS_ioctl,     SYS_pread64,   SYS_pwrite64,    SYS_readv,         SYS_writev,
    SYS_access,      SYS_sched_yield,  SYS_mincore,   SYS_dup,         SYS_getpid,        SYS_setsockopt,
    SYS_getsockopt,  SYS_uname,        SYS_getcwd,    SYS_chdir,       SYS_mkdir,         SYS_rmdir,
    SYS_unlink,      SYS_rename,       SYS_readlink,  SYS_getrlimit,   SYS_sysinfo,       SYS_getppid,
    SYS_sigaltstack, SYS_prctl,        SYS_gettid,    SYS_clock_gettime, SYS_openat,      SYS_newfstatat,
    SYS_readlinkat,  SYS_set_robust_list, SYS_get_robust_list, SYS_getrandom, SYS_memfd_create,
    SYS_copy_file_range, SYS_statx,   SYS_preadv,    SYS_pwritev,     SYS_getdents64,    SYS_fchdir,
    SYS_fchmod,      SYS_ftruncate,    SYS_fsync,     SYS_utimensat,   SYS_faccessat,     SYS_sendfile,
};
#define NCALLS (sizeof fuzz_calls / sizeof *fuzz_calls)
static uint64_t fuzz_values[48];
static int nvalues;
// Flags a call may return with: IOPL 3, IF off, VM, VIF and VIP must never
// come back; ID is the guest's to set.
static const uint64_t fuzz_flags[] = {0x246, 0x200246, 0x3246, 0x046, 0x1a0246, 0xffffffffffc2aa2aull};
static const int fuzz_fields[] = {HC_NR, HC_A0, HC_A1, 0x18, 0x20, HC_A4, HC_A5, HC_RFLAGS};

static uint64_t rng_state;
static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return *s;
}

static void *fuzz_flipper(void *arg) {
  uint64_t s = rng_state ^ 0x9e3779b97f4a7c15ull;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    const uint64_t r = rng(&s);
    const int f = fuzz_fields[r % 8];
    uint64_t v;
    if (f == HC_NR) v = fuzz_calls[(r >> 8) % NCALLS];
    else if (f == HC_RFLAGS) v = fuzz_flags[(r >> 8) % 6];
    else v = fuzz_values[(r >> 8) % nvalues];
    *slot(0, f) = v;
  }
  return NULL;
}

static int fuzz(double seconds, uint64_t seed) {
  // Its report goes to fd 200; 0, 1 and 2 become files the calls may use.
  dup2(1, 200);
  FILE *out = fdopen(200, "w");
  setvbuf(out, NULL, _IOLBF, 0);
  unlink("f");
  const int f = open("f", O_RDWR | O_CREAT, 0600);
  if (mkdir("d", 0700) && errno != EEXIST) return fprintf(out, "fuzz: mkdir d: %s\n", strerror(errno)), 1;
  const int d = open("d", O_RDONLY | O_DIRECTORY);
  const int m = syscall(SYS_memfd_create, "fuzz", 0);
  if (f < 0 || d < 0 || m < 0) return fprintf(out, "fuzz: set-up failed: %s\n", strerror(errno)), 1;
  write(f, "fuzz", 4);
  dup2(f, 0), dup2(m, 1), dup2(f, 2);
  // Buffers: 2 MiB of zeros then a page that is not there, a page that was
  // mapped and is not any more, paths, an iovec array over the buffer.
  const size_t big = 2 << 20;
  char *buf = mmap(NULL, big + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED || gone == MAP_FAILED) return fprintf(out, "fuzz: mmap failed\n"), 1;
  munmap(buf + big, 4096), munmap(gone, 4096);
  // Paths and the iovecs get a mapping of their own, a hole after it:
  // a call told to write 1 MiB there stops at the hole, not in this
  // program's data.
  char *own = mmap(NULL, 6 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (own == MAP_FAILED) return fprintf(out, "fuzz: mmap failed\n"), 1;
  munmap(own + 5 * 4096, 4096);
  char(*paths)[4096] = (char(*)[4096])own;
  strcpy(paths[0], "f"), strcpy(paths[1], "d"), strcpy(paths[2], "../../d/../..");
  memset(paths[3], 'a', 4096);  // no NUL
  struct iovec *iov = (struct iovec *)(own + 4 * 4096);
  for (int i = 0; i < 4; i++) iov[i] = (struct iovec){buf + i * 4096, 4096};
  const uint64_t values[] = {
      0, 1, 2, 3, 4, 5, 6, 8, 16, 24, 64, 100, 4096, 1 << 20, 1ull << 31, 0x7fffffff, ~0ull, (uint64_t)-4096,
      RT_BASE, RT_HC, RT_HC + HC_A4, 0x6000, 0xfff8, 0xffff800000000000ull, 0x0000800000000000ull,
      0x00007ffffffff000ull, (uintptr_t)buf, (uintptr_t)buf + 4095, (uintptr_t)buf + big - 1,
      (uintptr_t)buf + big, (uintptr_t)gone, (uintptr_t)paths[0], (uintptr_t)paths[1], (uintptr_t)paths[2],
      (uintptr_t)paths[3], (uintptr_t)iov, f, d, m, AT_FDCWD, 0x40000000};
  nvalues = sizeof values / sizeof *values;
  memcpy(fuzz_values, values, sizeof values);
  rng_state = seed ? seed : 1;
  fprintf(out, "fuzz seed: %llu\n", (unsigned long long)rng_state);

  // The runtime's pages are the monitor's, never a buffer.
  long rt_read = syscall(SYS_pread64, f, (void *)RT_HC, 8, 0);
  int rt_read_errno = errno;
  long rt_write = syscall(SYS_pwrite64, m, (void *)RT_HC, 8, 0);
  int rt_write_errno = errno;
  fprintf(out, "runtime page as a read buffer: %s\n", rt_read < 0 ? errname(rt_read_errno) : "ok");
  fprintf(out, "runtime page as a write buffer: %s\n", rt_write < 0 ? errname(rt_write_errno) : "ok");

  pthread_t t;
  if (pthread_create(&t, NULL, fuzz_flipper, NULL)) return fprintf(out, "pthread_create failed\n"), 1;
  uint64_t s = rng_state;
  const double until = now() + seconds;
  long calls = 0, bad_flags = 0;
  while (now() < until) {
    for (int k = 0; k < 64; k++) {
      const uint64_t r = rng(&s);
      const long nr = fuzz_calls[r % NCALLS];
      uint64_t a[6];
      for (int i = 0; i < 6; i++) a[i] = fuzz_values[rng(&s) % nvalues];
      syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
      uint64_t fl;
      __asm__ volatile("pushfq; popq %0" : "=r"(fl));
      if ((fl & 0x1a3000) || !(fl & 0x200)) bad_flags++;
      calls++;
    }
  }
  finish(t);
  // Still a working process: the files it made are where they should be.
  struct stat st;
  fprintf(out, "fuzz calls made: %ld\nfuzz calls: %s\nfuzz bad flags: %ld\nfuzz still works: %s\n", calls, calls > 0 ? "some" : "none", bad_flags,
          yes(fstat(200, &st) == 0 && getpid() > 0));
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  const double until = now() + (argc > 2 ? atof(argv[2]) : 1.0);
  setvbuf(stdout, NULL, _IOLBF, 0);

  if (!strcmp(mode, "slot-write")) {
    *slot(RT_MAX_VCPUS - 1, HC_A4) = 1;
    printf("slot-write: stored\n");
    return 0;
  }

  if (!strcmp(mode, "setsockopt-len")) {
    // Before issue 17 the length was checked, sized the buffer, then read
    // again for the copy: 1 MiB of guest bytes into an 8-byte heap block.
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) return report("socket", -1), 1;
    const size_t big = 2 << 20;
    int *val = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < big / sizeof *val; i++) val[i] = 4096;
    field = HC_A4, value_a = 8, value_b = 1 << 20;
    pthread_t t = start(flipper, NULL);
    long n = 0, ok = 0, einval = 0, other = 0;
    while (now() < until) {
      long r = syscall(SYS_setsockopt, s, SOL_SOCKET, SO_RCVBUF, val, 8);
      n++;
      if (r == 0) ok++;
      else if (errno == EINVAL) einval++;
      else other++;
    }
    finish(t);
    printf("setsockopt-len: %ld rounds\nsetsockopt ok seen: %s\nsetsockopt EINVAL seen: %s\nsetsockopt other errors: %ld\n", n > 0 ? 1L : 0L,
           yes(ok), yes(einval), other);
    return 0;
  }

  if (!strcmp(mode, "sigaction-ptr")) {
    // Before: act tested twice, 0 then not, installed an uninitialised
    // struct from the monitor's stack, which the next call read back.
    // Read-only: the flipper rewrites the slots of the other calls too
    // (clock_gettime's buffer), and none may write the action.
    struct ksigaction *k = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *k = (struct ksigaction){0x5a5a5a00, 0x04000000 /* SA_RESTORER */, 0x5a5a5b00, 0x5a};
    mprotect(k, 4096, PROT_READ);
    const struct ksigaction known = *k;
    field = HC_A1, value_a = 0, value_b = (uintptr_t)k;
    pthread_t t = start(flipper, NULL);
    long n = 0, known_seen = 0, default_seen = 0, other = 0, errors = 0;
    struct ksigaction first_other;
    while (now() < until) {
      struct ksigaction old;
      memset(&old, 0xee, sizeof old);
      long r = syscall(SYS_rt_sigaction, SIGUSR1, NULL, &old, 8);
      n++;
      if (r != 0) errors++;
      else if (!memcmp(&old, &known, sizeof old)) known_seen++;
      else if (old.handler == 0 && old.flags == 0 && old.restorer == 0 && old.mask == 0) default_seen++;
      else if (!other++)
        first_other = old;
    }
    finish(t);
    if (other)
      printf("sigaction other: handler %#llx flags %#llx restorer %#llx mask %#llx\n", (unsigned long long)first_other.handler,
             (unsigned long long)first_other.flags, (unsigned long long)first_other.restorer, (unsigned long long)first_other.mask);
    printf("sigaction-ptr: %ld rounds\nsigaction known seen: %s\nsigaction default seen: %s\nsigaction other contents: %ld\nsigaction errors: %ld\n",
           n > 0 ? 1L : 0L, yes(known_seen), yes(default_seen), other, errors);
    return 0;
  }

  if (!strcmp(mode, "nr-flip")) {
    // The policy checks the number it copied; the call run is that one.
    field = HC_NR, value_a = SYS_chdir, value_b = SYS_mkdir;
    pthread_t t = start(flipper, NULL);
    long enoent = 0, eperm = 0, other = 0;
    while (now() < until) {
      long r = syscall(SYS_chdir, "made", 0700);
      if (r < 0 && errno == ENOENT) enoent++;
      else if (r < 0 && errno == EPERM) eperm++;
      else other++;
    }
    finish(t);
    struct stat st;
    printf("nr-flip chdir ENOENT seen: %s\nnr-flip denied mkdir EPERM seen: %s\nnr-flip other results: %ld\nnr-flip made exists: %s\n", yes(enoent),
           yes(eperm), other, yes(stat("made", &st) == 0));
    return 0;
  }

  if (!strcmp(mode, "rflags")) {
    // The stub's return loads the flags from the slot: IOPL 3 would give
    // this thread the I/O ports (the hypercall port among them), IF off
    // would keep interrupts from it. ID is a flag a program may set: its
    // coming back shows the rewrite landed.
    field = HC_RFLAGS, value_a = 0x246, value_b = 0x200000 | 0x3000 | 0x46;
    pthread_t t = start(flipper, NULL);
    long id = 0, iopl = 0, if_off = 0;
    while (now() < until) {
      uint64_t fl;
      syscall(SYS_getppid);
      __asm__ volatile("pushfq; popq %0" : "=r"(fl));
      if (fl & 0x200000) id++;
      if (fl & 0x3000) iopl++;
      if (!(fl & 0x200)) if_off++;
    }
    finish(t);
    printf("rflags ID seen: %s\nrflags IOPL seen: %ld\nrflags IF off seen: %ld\n", yes(id), iopl, if_off);
    return 0;
  }

  if (!strcmp(mode, "memfd-threads")) {
    memfd = syscall(SYS_memfd_create, "races", 0);
    if (memfd < 0) return report("memfd_create", -1), 1;
    memfd_until = until;
    pthread_t t[8];
    for (long i = 0; i < 8; i++) t[i] = start(memfd_writer, (void *)i);
    long most = 0;
    struct stat st;
    while (atomic_load(&writers_done) < 8)
      if (fstat(memfd, &st) == 0 && st.st_blocks / 2 > most) most = st.st_blocks / 2;
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    printf("memfd-threads most held KiB: %ld\nmemfd-threads written KiB: %ld\nmemfd-threads budget reached: %s\n", most, atomic_load(&written) / 1024,
           yes(atomic_load(&budget_reached)));
    return 0;
  }

  if (!strcmp(mode, "linger")) {
    // A connection whose peer never reads, both send buffers full, then
    // SO_LINGER an hour: its close waits for the data, i.e. an hour. The
    // socket goes in flight (SCM_RIGHTS to a unix socket nobody reads), so
    // only the release of that queue closes it, at the guest's end. The
    // listener takes the highest fd, released after the rest.
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &alen))
      return report("listen", -1), 1;
    dup2(l, 200);
    close(l);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a)) return report("connect", -1), 1;
    fcntl(c, F_SETFL, O_NONBLOCK);
    static char chunk[65536];
    long sent = 0;
    for (;;) {
      ssize_t w = send(c, chunk, sizeof chunk, 0);
      if (w <= 0) break;
      sent += w;
    }
    struct linger lg = {1, 3600};
    if (setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg)) return report("SO_LINGER", -1), 1;
    int u[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, u)) return report("socketpair", -1), 1;
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET, cm->cmsg_type = SCM_RIGHTS, cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &c, sizeof c);
    if (sendmsg(u[0], &m, 0) != 1) return report("sendmsg", -1), 1;
    close(c);
    printf("linger: %s, in flight, done\n", sent > 0 ? "data unsent" : "nothing sent");
    return 0;
  }

  if (!strcmp(mode, "cwd")) {
    memset(long_name, 'b', 200);
    long_name[0] = '/';
    if ((mkdir("/a", 0700) && errno != EEXIST) || (mkdir(long_name, 0700) && errno != EEXIST)) return report("mkdir", -1), 1;
    chdir("/a");  // never "/" from here on
    pthread_t t = start(chdirs, NULL);
    long short_seen = 0, long_seen = 0, other = 0, errors = 0;
    char buf[512];
    while (now() < until) {
      if (!getcwd(buf, sizeof buf)) errors++;
      else if (!strcmp(buf, "/a")) short_seen++;
      else if (!strcmp(buf, long_name)) long_seen++;
      else other++;
    }
    finish(t);
    printf("cwd short seen: %s\ncwd long seen: %s\ncwd other answers: %ld\ncwd errors: %ld\n", yes(short_seen), yes(long_seen), other, errors);
    return 0;
  }

  if (!strcmp(mode, "fcntl-cmd")) {
    // Before issue 17, fcntl switched on the command, then read it again
    // for the host call: a lock command's case ran F_GETFD on the host's
    // fd, which the vCPU thread's filter refused (EPERM; F_SETFL, which it
    // admits, would have set the host's flags from a monitor address).
    // A whole F_GETLK writes the struct, a whole F_GETFD leaves it.
    int fd = open("lockfile", O_RDWR | O_CREAT, 0600);
    if (fd < 0) return report("open lockfile", -1), 1;
    field = HC_A1, value_a = F_GETLK, value_b = F_GETFD;
    pthread_t t = start(flipper, NULL);
    long getlk = 0, getfd = 0, other = 0;
    char first_other[96] = "";
    while (now() < until) {
      struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
      long r = syscall(SYS_fcntl, fd, F_GETLK, &lk);
      if (r == 0 && lk.l_type == F_UNLCK) getlk++;
      else if (r == 0 && lk.l_type == F_WRLCK) getfd++;
      else if (!other++)
        snprintf(first_other, sizeof first_other, "%ld (%s), l_type %d", r, r < 0 ? errname(errno) : "ok", lk.l_type);
    }
    finish(t);
    printf("fcntl GETLK seen: %s\nfcntl GETFD seen: %s\nfcntl other results: %ld\n", yes(getlk), yes(getfd), other);
    if (other) printf("fcntl first other result: %s\n", first_other);
    return 0;
  }

  if (!strcmp(mode, "canary")) {
    pthread_t t = start(getppids, NULL);
    getppids(NULL);
    pthread_join(t, NULL);
    printf("canary: done\n");
    return 0;
  }

  if (!strcmp(mode, "fuzz")) return fuzz(argc > 2 ? atof(argv[2]) : 1.0, argc > 3 ? strtoull(argv[3], NULL, 0) : (uint64_t)time(NULL));

  printf("usage: races slot-write|setsockopt-len|sigaction-ptr|nr-flip|rflags|memfd-threads|linger|cwd|fcntl-cmd|canary|fuzz [SECONDS [SEED]]\n");
  return 2;
}
