// A hostile guest with threads: one thread makes a hypercall while another
// changes, under the monitor's feet, what the call names (its memory, its
// fd, its path). Each mode races for about a second and reports what it
// saw; the monitor must survive every one and give Linux's answers.
// NEVER run natively (test/e2e/hostile.test.ts runs it under torov only).
//
//   hostile-threads open-close     open("/proc/self/exe") in a loop while a thread closes that fd
//   hostile-threads open-fchmod    the same while a thread fchmods it (a lent file: EPERM, always)
//   hostile-threads prctl-name     prctl(PR_SET_NAME, p) while a thread unmaps and maps p again
//   hostile-threads mincore        mincore into a vector while a thread makes it read-only and back
//   hostile-threads readlink       readlink (denied by the manifest) of a path a thread flips
//                                  between "/proc/self/exe" (always answered) and "lnk"
//   hostile-threads trace-write    write(p) while a thread unmaps and maps p again (run traced)
//   hostile-threads dupfd-close    fcntl(F_DUPFD) while a thread closes the fd
//   hostile-threads received-close recvmsg(SCM_RIGHTS) while a thread closes the fd it will get
//   hostile-threads mount-swap     open(p, O_WRONLY) and a write while a thread flips p between a
//                                  file of a read-only mount (/ro/f.txt, /rw/../ro/f.txt) and one
//                                  of a writable mount (/rw/w.txt)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "threads.h"

static volatile int target_fd = -1;
static char *page;
static uint8_t *vec;
static size_t vec_len;
static char *path;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *closer(void *arg) {
  while (!atomic_load(&stop)) syscall(SYS_close, target_fd);
  return NULL;
}

static atomic_long chmodded;
static void *fchmodder(void *arg) {
  while (!atomic_load(&stop))
    if (syscall(SYS_fchmod, target_fd, 0700) == 0) atomic_fetch_add(&chmodded, 1);
  return NULL;
}

static void *remapper(void *arg) {
  while (!atomic_load(&stop)) {
    munmap(page, 4096);
    mmap(page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  }
  return NULL;
}

static void *protector(void *arg) {
  while (!atomic_load(&stop)) {
    mprotect(vec, vec_len, PROT_READ);
    mprotect(vec, vec_len, PROT_READ | PROT_WRITE);
  }
  return NULL;
}

static void *flipper(void *arg) {
  // No system calls: the bytes change between two instructions.
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    memcpy(path, "/proc/self/exe", 15);
    memcpy(path, "lnk\0", 4);
  }
  return NULL;
}

static void *mount_flipper(void *arg) {
  // The direct path, the writable one, and one the walk takes (".."): the
  // monitor must use the one path it read, whichever that was.
  // One path per pass: where a preemption lands (always at the same
  // instruction under QEMU's software CPU) leaves each of them in turn.
  static const char *const paths[] = {"/ro/f.txt", "/rw/w.txt", "/rw/../ro/f.txt", "/rw/w.txt"};
  for (unsigned i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
    const char *p = paths[i % 4];
    memcpy(path, p, strlen(p) + 1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  const double until = now() + (argc > 2 ? atof(argv[2]) : 1.0);
  long n = 0, errors = 0, other = 0;
  if (!strcmp(mode, "open-close") || !strcmp(mode, "open-fchmod") || !strcmp(mode, "dupfd-close")) {
    int fd = open("/proc/self/exe", O_RDONLY);
    if (fd < 0) return report("open /proc/self/exe", -1), 1;
    if (!strcmp(mode, "dupfd-close")) {
      target_fd = fd;  // the thread closes the original; F_DUPFD copies it
    } else {
      close(fd);
      target_fd = fd;  // the number every open below gets
    }
    pthread_t t = start(!strcmp(mode, "open-fchmod") ? fchmodder : closer, NULL);
    while (now() < until) {
      if (!strcmp(mode, "dupfd-close")) {
        int d = fcntl(target_fd, F_DUPFD, 100);
        if (d >= 0) {
          // A fd F_DUPFD says it made must be open.
          if (fcntl(d, F_GETFD) < 0) other++;
          close(d);
        } else {
          errors++;
        }
        int again = open("/proc/self/exe", O_RDONLY);  // back at target_fd, mostly
        if (again >= 0 && again != target_fd) close(again);
      } else {
        int f = open("/proc/self/exe", O_RDONLY);
        if (f >= 0) close(f);
        else errors++;
      }
      n++;
    }
    finish(t);
    printf("%s: %ld rounds\n", mode, n > 0 ? 1L : 0L);
    if (!strcmp(mode, "open-fchmod")) printf("fchmod of the lent file succeeded: %ld\n", atomic_load(&chmodded));
    if (!strcmp(mode, "dupfd-close")) printf("F_DUPFD returned a closed fd: %ld\n", other);
    return 0;
  }
  if (!strcmp(mode, "prctl-name") || !strcmp(mode, "trace-write")) {
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int null = open("/dev/null", O_WRONLY);
    pthread_t t = start(remapper, NULL);
    while (now() < until) {
      long r = !strcmp(mode, "prctl-name") ? prctl(PR_SET_NAME, page, 0, 0, 0) : write(null, page, 64);
      if (r < 0 && errno != EFAULT) other++;
      n++;
    }
    finish(t);
    printf("%s: %ld rounds, other errors %ld\n", mode, n > 0 ? 1L : 0L, other);
    return 0;
  }
  if (!strcmp(mode, "mincore")) {
    // A large read-only mapping (nothing of it is touched) gives a long
    // vector for the monitor to fill.
    const size_t span = (size_t)1 << 30;
    char *big = mmap(NULL, span, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (big == MAP_FAILED) return report("mmap 1 GiB", -1), 1;
    vec_len = span / 4096;
    vec = mmap(NULL, vec_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(vec, 0, vec_len);
    pthread_t t = start(protector, NULL);
    while (now() < until) {
      if (mincore(big, span, vec) < 0 && errno != EFAULT) other++;
      n++;
    }
    finish(t);
    printf("mincore: %ld rounds, other errors %ld\n", n > 0 ? 1L : 0L, other);
    return 0;
  }
  if (!strcmp(mode, "mount-swap")) {
    path = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(path, "/rw/w.txt");
    pthread_t t = start(mount_flipper, NULL);
    long opened = 0, erofs = 0;
    while (now() < until) {
      int fd = open(path, O_WRONLY);
      if (fd >= 0) {
        if (write(fd, "X", 1) == 1) opened++;
        close(fd);
      } else if (errno == EROFS) {
        erofs++;
      } else {
        other++;  // ENOENT: a path read half-written ("/ro/w.txt"), which is not there
      }
      n++;
    }
    finish(t);
    printf("mount-swap opened and wrote: %s\n", opened ? "yes" : "no");
    printf("mount-swap refused with EROFS: %s\n", erofs ? "yes" : "no");
    fprintf(stderr, "mount-swap: %ld opened, %ld EROFS, %ld other of %ld\n", opened, erofs, other, n);
    return 0;
  }
  if (!strcmp(mode, "readlink")) {
    path = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(path, "/proc/self/exe");
    pthread_t t = start(flipper, NULL);
    long exe = 0, denied = 0, leaked = 0;
    char out[256];
    while (now() < until) {
      long r = syscall(SYS_readlink, path, out, sizeof out - 1);
      if (r >= 0) {
        out[r] = 0;
        if (out[0] == '/' && strstr(out, "hostile-threads")) exe++;
        else leaked++;
      } else if (errno == EPERM) {
        denied++;
      } else {
        other++;
      }
      n++;
    }
    finish(t);
    printf("readlink answered /proc/self/exe: %s\n", exe ? "yes" : "no");
    printf("readlink denied: %s\n", denied ? "yes" : "no");
    printf("readlink of a denied path reached the host: %ld\n", leaked);
    if (getenv("VERBOSE")) printf("exe %ld denied %ld other %ld rounds %ld\n", exe, denied, other, n);
    return 0;
  }
  if (!strcmp(mode, "received-close")) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0) return report("socketpair", -1), 1;
    int pipefd[2];
    pipe(pipefd);
    // The fd a received file gets: the lowest free one.
    int probe = dup(pipefd[0]);
    close(probe);
    target_fd = probe;
    pthread_t t = start(closer, NULL);
    while (now() < until) {
      char byte = 'x';
      struct iovec iov = {&byte, 1};
      union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
      } u;
      struct msghdr m = {0};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = u.buf;
      m.msg_controllen = sizeof u.buf;
      struct cmsghdr *c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &pipefd[0], sizeof(int));
      if (sendmsg(sv[0], &m, 0) < 0) errors++;
      m.msg_controllen = sizeof u.buf;
      if (recvmsg(sv[1], &m, 0) < 0) errors++;
      c = CMSG_FIRSTHDR(&m);
      if (c && c->cmsg_type == SCM_RIGHTS) {
        int got;
        memcpy(&got, CMSG_DATA(c), sizeof got);
        if (got >= 0 && got != target_fd) close(got);
      }
      n++;
    }
    finish(t);
    printf("received-close: %ld rounds\n", n > 0 ? 1L : 0L);
    return 0;
  }
  printf("usage: hostile-threads MODE [seconds]\n");
  return 2;
}
