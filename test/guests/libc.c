// A tour of libc, with deterministic output: memory, strings, formatting,
// maths, stdio on files, directories, pipes, polling, time and identity.
// Run natively and under torov in an empty working directory, it must print
// the same bytes and exit 0.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      printf("FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
      failures++;                                                       \
    }                                                                   \
  } while (0)

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static jmp_buf jump;
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static void jumper(int depth) {
  if (depth == 0) longjmp(jump, 42);
  jumper(depth - 1);
}
static int exit_order;
static void at_exit_hook(void) { printf("atexit ran (order %d)\n", ++exit_order); }

static void memory(void) {
  // Small (brk) and large (mmap) allocations, realloc growth (mremap).
  char *small[100];
  for (int i = 0; i < 100; i++) {
    small[i] = malloc(16 + i * 8);
    memset(small[i], i, 16 + i * 8);
  }
  for (int i = 0; i < 100; i++) CHECK(small[i][15 + i * 8] == (char)i);
  for (int i = 0; i < 100; i += 2) free(small[i]);
  size_t big = 8 << 20;
  unsigned char *p = malloc(big);
  CHECK(p != NULL);
  for (size_t i = 0; i < big; i += 4096) p[i] = (unsigned char)(i >> 12);
  p = realloc(p, 3 * big);
  CHECK(p != NULL);
  int ok = 1;
  for (size_t i = 0; i < big; i += 4096) ok &= p[i] == (unsigned char)(i >> 12);
  CHECK(ok);
  free(p);
  void *z = calloc(1000, 1000);
  CHECK(z && ((char *)z)[999999] == 0);
  free(z);
  // Anonymous mmap is zeroed; munmap then mmap again is zeroed again.
  char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m != MAP_FAILED);
  m[12345] = 7;
  CHECK(munmap(m, 1 << 20) == 0);
  m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m[12345] == 0);
  CHECK(mprotect(m, 4096, PROT_READ) == 0);
  CHECK(syscall(SYS_mprotect, m + 1, 4096, PROT_READ) == -1 && errno == EINVAL);
  munmap(m, 1 << 20);
  printf("memory ok\n");
}

static void strings(void) {
  char buf[256];
  const char *words[] = {"pear", "apple", "fig", "banana", "cherry"};
  qsort(words, 5, sizeof *words, cmp_str);
  for (int i = 0; i < 5; i++) printf("%s%s", words[i], i < 4 ? "," : "\n");
  int nums[] = {5, -3, 99, 0, 12, 7};
  qsort(nums, 6, sizeof *nums, cmp_int);
  for (int i = 0; i < 6; i++) printf("%d ", nums[i]);
  printf("\n");
  snprintf(buf, sizeof buf, "%08.3f|%-6s|%x|%lld|%e|%g", 3.14159, "ab", 0xbeef, -1234567890123LL, 6.02e23, 0.0001);
  printf("%s\n", buf);
  // Long strings exercise the vectorised string functions.
  char *a = malloc(100000), *b = malloc(100000);
  memset(a, 'x', 99999);
  a[99999] = 0;
  strcpy(b, a);
  CHECK(strlen(b) == 99999);
  CHECK(strcmp(a, b) == 0);
  b[50000] = 'y';
  CHECK(strcmp(a, b) < 0);
  CHECK(memchr(b, 'y', 99999) == b + 50000);
  CHECK(strstr(b, "xy") == b + 49999);
  free(a);
  free(b);
  printf("strtod=%.6f strtol=%ld\n", strtod("2.718281828", NULL), strtol("-0x1f", NULL, 16));
}

static void maths(void) {
  printf("sqrt=%.10f sin=%.10f exp=%.10f pow=%.10f\n", sqrt(2.0), sin(1.0), exp(1.5), pow(2.0, 0.5));
  volatile double zero = 0.0;
  printf("inf=%f nan=%d\n", 1.0 / zero, isnan(zero / zero));
}

static void files(void) {
  FILE *f = fopen("data.txt", "w+");
  CHECK(f != NULL);
  for (int i = 0; i < 1000; i++) fprintf(f, "line %04d\n", i);
  CHECK(fflush(f) == 0);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  long size = ftell(f);
  rewind(f);
  char line[64];
  int count = 0;
  while (fgets(line, sizeof line, f)) count++;
  fclose(f);
  printf("data.txt: %ld bytes, %d lines\n", size, count);
  struct stat st;
  CHECK(stat("data.txt", &st) == 0 && st.st_size == size && S_ISREG(st.st_mode));
  CHECK(mkdir("dir", 0755) == 0);
  CHECK(mkdir("dir", 0755) == -1 && errno == EEXIST);
  CHECK(rename("data.txt", "dir/moved.txt") == 0);
  CHECK(access("data.txt", F_OK) == -1 && errno == ENOENT);
  CHECK(symlink("moved.txt", "dir/link") == 0);
  char target[64] = {0};
  CHECK(readlink("dir/link", target, sizeof target) == 9 && strcmp(target, "moved.txt") == 0);
  CHECK(lstat("dir/link", &st) == 0 && S_ISLNK(st.st_mode));
  CHECK(stat("dir/link", &st) == 0 && S_ISREG(st.st_mode));
  int fd = open("dir/raw", O_CREAT | O_RDWR | O_TRUNC, 0640);
  CHECK(fd >= 0);
  struct iovec iov[2] = {{"hello ", 6}, {"world\n", 6}};
  CHECK(writev(fd, iov, 2) == 12);
  char got[16] = {0};
  CHECK(pread(fd, got, 5, 6) == 5 && memcmp(got, "world", 5) == 0);
  CHECK(lseek(fd, 0, SEEK_CUR) == 12);
  CHECK(ftruncate(fd, 3) == 0 && fstat(fd, &st) == 0 && st.st_size == 3);
  CHECK((st.st_mode & 0777) == 0640);
  int fd2 = dup(fd);
  CHECK(fd2 == fd + 1);
  CHECK(dup2(fd, 50) == 50);
  CHECK(fcntl(50, F_GETFD) == 0);
  CHECK(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
  close(fd);
  close(fd2);
  close(50);
  CHECK(close(50) == -1 && errno == EBADF);
  // Directory listing, sorted.
  DIR *d = opendir("dir");
  CHECK(d != NULL);
  char *names[16];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 16) names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  printf("dir:");
  for (int i = 0; i < n; i++) printf(" %s", names[i]);
  printf("\n");
  char cwd[256];
  CHECK(chdir("dir") == 0 && getcwd(cwd, sizeof cwd) != NULL);
  printf("cwd ends with /dir: %d\n", strlen(cwd) >= 4 && strcmp(cwd + strlen(cwd) - 4, "/dir") == 0);
  CHECK(chdir("..") == 0);
  CHECK(unlink("dir/link") == 0 && unlink("dir/moved.txt") == 0 && unlink("dir/raw") == 0);
  CHECK(rmdir("dir") == 0);
  CHECK(open("nonexistent/file", O_RDONLY) == -1 && errno == ENOENT);
  printf("files ok\n");
}

static void pipes(void) {
  int p[2];
  CHECK(pipe(p) == 0);
  struct pollfd pf = {p[0], POLLIN, 0};
  CHECK(poll(&pf, 1, 0) == 0);
  CHECK(write(p[1], "ping", 4) == 4);
  CHECK(poll(&pf, 1, 1000) == 1 && (pf.revents & POLLIN));
  fd_set rs;
  FD_ZERO(&rs);
  FD_SET(p[0], &rs);
  struct timeval tv = {1, 0};
  CHECK(select(p[0] + 1, &rs, NULL, NULL, &tv) == 1 && FD_ISSET(p[0], &rs));
  char buf[8] = {0};
  CHECK(read(p[0], buf, 8) == 4 && strcmp(buf, "ping") == 0);
  close(p[1]);
  CHECK(read(p[0], buf, 8) == 0);
  close(p[0]);
  CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  CHECK(read(p[0], buf, 8) == -1 && errno == EAGAIN);
  CHECK((fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0);
  close(p[0]);
  close(p[1]);
  printf("pipes ok\n");
}

static void timing(void) {
  struct timespec a, b;
  CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
  struct timespec nap = {0, 2000000};
  CHECK(nanosleep(&nap, NULL) == 0);
  CHECK(clock_gettime(CLOCK_MONOTONIC, &b) == 0);
  long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
  CHECK(ns >= 2000000);
  struct timeval tv;
  CHECK(gettimeofday(&tv, NULL) == 0 && tv.tv_sec > 1600000000);
  CHECK(time(NULL) >= tv.tv_sec);
  struct tm tm;
  time_t t = 86400 * 365;
  gmtime_r(&t, &tm);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %A", &tm);
  printf("gmtime: %s\n", when);
  CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a) == 0);
  printf("timing ok\n");
}

static void identity(void) {
  struct utsname u;
  CHECK(uname(&u) == 0);
  printf("sysname=%s machine=%s\n", u.sysname, u.machine);
  CHECK(getpid() == getpid() && getpid() > 0);
  CHECK(getuid() == geteuid());
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur >= 1 << 20);
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 64);
  printf("pagesize=%ld\n", sysconf(_SC_PAGESIZE));
  printf("getenv(TOROV_TEST)=%s\n", getenv("TOROV_TEST") ? getenv("TOROV_TEST") : "(unset)");
  struct sigaction sa = {0}, old;
  sa.sa_handler = SIG_IGN;
  CHECK(sigaction(SIGUSR1, &sa, &old) == 0 && old.sa_handler == SIG_DFL);
  CHECK(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_IGN);
  CHECK(raise(SIGUSR1) == 0);  // ignored: nothing happens
  sigset_t set, prev;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  CHECK(sigprocmask(SIG_BLOCK, &set, &prev) == 0);
  CHECK(sigprocmask(SIG_SETMASK, NULL, &prev) == 0 && sigismember(&prev, SIGUSR2));
  printf("identity ok\n");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  atexit(at_exit_hook);
  int v = setjmp(jump);
  if (v == 0) jumper(50);
  printf("longjmp returned %d\n", v);
  memory();
  strings();
  maths();
  files();
  pipes();
  timing();
  identity();
  fprintf(stderr, "stderr works\n");
  printf("failures=%d\n", failures);
  return failures ? 1 : 0;
}
