// Shared file mappings (issue 18): sharedmap MODE DIR, DIR a writable
// folder. Each check prints one line, the same natively as under torov
// (test/e2e/sharedmap.test.ts compares them).
//   semantics  a write through the mapping is the file's, and the other way
//              round; two mappings of a file; msync; mremap; a read-only fd;
//              MADV_DONTNEED; the mapping outliving close
//   past-end   touches a page past the file's end: SIGBUS
//   monitor    hands the system pointers to pages past the file's end
//   race       one thread truncates and extends the file while another
//              maps it and hands the system pointers into it
//   limits     holes punched in a mapping, a memfd shared for writing
//   debug      stops in mapped() for a debugger to write into a shared
//              read-only, a shared writable and a private read-only mapping
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "report.h"

static char path[4096];

static void show(const char *what, const char *bytes, size_t n) {
  printf("%s: %.*s\n", what, (int)n, bytes);
  fflush(stdout);
}

static int semantics(void) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  TRY("open", fd);
  TRY("ftruncate", ftruncate(fd, 8192));
  char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return report("mmap shared", -1), 1;
  // The mapping's write is the file's.
  memcpy(m, "hello", 5);
  char buf[16] = {0};
  TRY("pread", pread(fd, buf, 5, 0));
  show("file after a write through the mapping", buf, 5);
  // The file's write is the mapping's.
  TRY("pwrite", pwrite(fd, "WORLD", 5, 4096));
  show("mapping after pwrite", m + 4096, 5);
  // Two mappings of one file are one.
  char *m2 = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m2 == MAP_FAILED) return report("second mmap", -1), 1;
  m2[0] = 'J';
  show("first mapping after a write through the second", m, 5);
  TRY("munmap second", munmap(m2, 4096));
  TRY("msync MS_SYNC", msync(m, 8192, MS_SYNC));
  TRY("msync MS_ASYNC", msync(m, 4096, MS_ASYNC | MS_INVALIDATE));
  TRY("msync MS_SYNC|MS_ASYNC", msync(m, 8192, MS_SYNC | MS_ASYNC));
  TRY("msync unaligned", msync(m + 1, 4096, MS_SYNC));
  // Grown with the file, and moved: still the file.
  TRY("ftruncate 16384", ftruncate(fd, 16384));
  char *g = mremap(m, 8192, 16384, MREMAP_MAYMOVE);
  if (g == MAP_FAILED) return report("mremap", -1), 1;
  m = g;
  memcpy(m + 12288, "third", 5);
  TRY("pread third page", pread(fd, buf, 5, 12288));
  show("file after a write through the grown mapping", buf, 5);
  show("grown mapping's first page", m, 5);
  // Moved elsewhere on purpose (MREMAP_FIXED).
  char *spot = mmap(NULL, 16384, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  g = mremap(m, 16384, 16384, MREMAP_MAYMOVE | MREMAP_FIXED, spot);
  if (g != spot) return report("mremap fixed", -1), 1;
  m = g;
  m[1] = 'E';
  TRY("pread after the move", pread(fd, buf, 5, 0));
  show("file after a write through the moved mapping", buf, 5);
  // What /proc/self/maps says of it.
  FILE *maps = fopen("/proc/self/maps", "r");
  int shared_lines = 0;
  char line[512];
  while (maps && fgets(line, sizeof line, maps))
    if (strstr(line, " rw-s ") && strstr(line, "/shared.dat")) shared_lines++;
  if (maps) fclose(maps);
  printf("maps lines rw-s for the file: %d\n", shared_lines);
  // Dropped pages come back from the file.
  TRY("madvise MADV_DONTNEED", madvise(m, 16384, MADV_DONTNEED));
  show("mapping after MADV_DONTNEED", m, 5);
  // A read-only fd: mapped for reading, never for writing.
  int ro = open(path, O_RDONLY);
  TRY("open read-only", ro);
  errno = 0;
  char *r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
  report("mmap read-only fd for writing", r == MAP_FAILED ? -1 : 0);
  r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
  if (r == MAP_FAILED) return report("mmap read-only fd", -1), 1;
  TRY("mprotect it writable", mprotect(r, 4096, PROT_READ | PROT_WRITE));
  TRY("pwrite through the writable fd", pwrite(fd, "Hi", 2, 0));
  show("read-only mapping after pwrite", r, 5);
  // The mapping holds the file after close.
  TRY("close both", close(ro) | close(fd));
  memcpy(m, "after", 5);
  TRY("munmap", munmap(m, 16384));
  TRY("munmap read-only", munmap(r, 4096));
  fd = open(path, O_RDONLY);
  TRY("read after close and munmap", pread(fd, buf, 5, 0));
  show("file at the end", buf, 5);
  close(fd);
  return 0;
}

static char *truncated(int *fdp) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate(fd, 8192) < 0) return NULL;
  char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return NULL;
  memcpy(m, "/x", 3);
  if (ftruncate(fd, 100) < 0) return NULL;
  *fdp = fd;
  return m;
}

static int past_end(void) {
  int fd;
  char *m = truncated(&fd);
  if (!m) return report("set-up", -1), 1;
  show("first page, inside the file", m, 2);
  printf("touching the second page\n");
  fflush(stdout);
  volatile char c = m[4096];
  printf("it read %d\n", c);
  return 0;
}

static int monitor(void) {
  int fd;
  char *m = truncated(&fd);
  if (!m) return report("set-up", -1), 1;
  char out[4200];
  snprintf(out, sizeof out, "%s.out", path);
  int sink = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // The host reads it: the kernel's EFAULT.
  TRY("write from past the end", write(sink, m + 4096, 64));
  // The system copies a path from it.
  TRY("open a path past the end", open(m + 4096, O_RDONLY));
  // From the file's first page into the page past its end.
  memcpy(m + 4090, "/dev/n", 6);
  TRY("open a path running off the file's end", open(m + 4090, O_RDONLY));
  m[10] = 0;
  TRY("open a path inside the file", open(m, O_RDONLY));
  // The system writes a struct into it. The call itself, not a vDSO's:
  // that would be this program's own SIGBUS.
  errno = 0;
  long r = syscall(SYS_uname, m + 4096);
  printf("uname into past the end: %s\n", r < 0 ? errname(errno) : "answered");
  printf("alive\n");
  return 0;
}

static int race_fd;
static volatile int race_done;

static void *truncator(void *arg) {
  (void)arg;
  while (!race_done) {
    if (ftruncate(race_fd, 0) < 0) break;
    if (ftruncate(race_fd, 65536) < 0) break;
    pwrite(race_fd, "/nonexistent/x", 15, 0);
  }
  return NULL;
}

static int race_sink, race_failed;

static void *race_calls(void *arg) {
  int rounds = *(int *)arg;
  for (int i = 0; i < rounds; i++) {
    char *m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, race_fd, 0);
    if (m == MAP_FAILED) {
      __atomic_add_fetch(&race_failed, 1, __ATOMIC_SEQ_CST);
      continue;
    }
    // Every call hands the system a pointer into the mapping; none touches
    // it here (that would be this program's own SIGBUS).
    open(m, O_RDONLY);
    pwrite(race_sink, m + 4096, 8192, 0);
    struct iovec iov = {m + 8192, 4096};
    pwritev(race_sink, &iov, 1, 0);
    syscall(SYS_uname, m + 16384);
    pread(race_fd, m + 20480, 4096, 0);
    munmap(m, 65536);
  }
  return NULL;
}

static int race(void) {
  race_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (race_fd < 0 || ftruncate(race_fd, 65536) < 0) return report("set-up", -1), 1;
  char out[4200];
  snprintf(out, sizeof out, "%s.out", path);
  race_sink = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pthread_t t, second;
  int rounds = 200;
  pthread_create(&t, NULL, truncator, NULL);
  // Two threads at it: one's fault while the other copies.
  pthread_create(&second, NULL, race_calls, &rounds);
  race_calls(&rounds);
  pthread_join(second, NULL);
  race_done = 1;
  pthread_join(t, NULL);
  printf("race: 2 threads, %d rounds each, %d mappings refused\n", rounds, race_failed);
  return 0;
}

// What torov bounds that Linux bounds only by vm.max_map_count: the host
// mappings a guest can make by punching holes in a mapping; and what it
// refuses: a memfd mapped shared for writing.
static int limits(void) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  const int pages = 1200;
  if (fd < 0 || ftruncate(fd, pages * 4096L) < 0) return report("set-up", -1), 1;
  char *m = mmap(NULL, pages * 4096L, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return report("mmap", -1), 1;
  int holes = 0, err = 0;
  for (int p = 1; p < pages; p += 2) {
    if (munmap(m + p * 4096L, 4096) < 0) {
      err = errno;
      break;
    }
    holes++;
  }
  printf("holes punched: %d, then %s\n", holes, err ? errname(err) : "none refused");
  TRY("ftruncate 0", ftruncate(fd, 0));
  TRY("uname into the last piece, past the end", syscall(SYS_uname, m + (pages - 2) * 4096L));
  int mfd = memfd_create("shm", 0);
  if (mfd < 0 || ftruncate(mfd, 4096) < 0) return report("memfd", -1), 1;
  errno = 0;
  char *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  report("memfd shared writable", w == MAP_FAILED ? -1 : 0);
  printf("alive\n");
  return 0;
}

char *ro_map, *rw_map, *private_map;

__attribute__((noinline)) void mapped(void) { __asm__ volatile("" ::: "memory"); }

static int debug(void) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || pwrite(fd, "abcdef", 6, 0) != 6) return report("set-up", -1), 1;
  int ro = open(path, O_RDONLY);
  ro_map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
  rw_map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  private_map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ro, 0);
  if (ro_map == MAP_FAILED || rw_map == MAP_FAILED || private_map == MAP_FAILED) return report("mmap", -1), 1;
  mapped();
  char buf[7] = {0};
  pread(fd, buf, 6, 0);
  printf("shared read-only %.6s, shared writable %.6s, private %.6s, file %s\n", ro_map, rw_map, private_map, buf);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: sharedmap semantics|past-end|monitor|race|debug|limits DIR\n");
    return 2;
  }
  snprintf(path, sizeof path, "%s/shared.dat", argv[2]);
  if (!strcmp(argv[1], "semantics")) return semantics();
  if (!strcmp(argv[1], "past-end")) return past_end();
  if (!strcmp(argv[1], "monitor")) return monitor();
  if (!strcmp(argv[1], "race")) return race();
  if (!strcmp(argv[1], "debug")) return debug();
  if (!strcmp(argv[1], "limits")) return limits();
  fprintf(stderr, "sharedmap: unknown mode %s\n", argv[1]);
  return 2;
}
