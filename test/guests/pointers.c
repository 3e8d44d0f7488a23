// Hands the monitor bad pointers. Each must come back as EFAULT (or a
// short transfer), never reach the host, never crash the monitor.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void report(const char *what, long r) {
  printf("%-28s %s\n", what, r < 0 ? strerror(errno) : "ok");
}

int main(void) {
  report("write(NULL)", syscall(SYS_write, 1, (void *)0, 5));
  report("write(runtime page)", syscall(SYS_write, 1, (void *)0x1000, 16));
  report("write(hypercall page)", syscall(SYS_write, 1, (void *)0x3000, 16));
  report("write(page tables)", syscall(SYS_write, 1, (void *)0x1000000000, 16));
  report("write(kernel address)", syscall(SYS_write, 1, (void *)0xffffffff81000000UL, 16));
  report("write(non-canonical)", syscall(SYS_write, 1, (void *)0x8000000000000000UL, 16));
  report("read into .text", syscall(SYS_read, 0, (void *)main, 16));
  report("open(NULL)", syscall(SYS_open, (void *)0, O_RDONLY));
  report("open(unterminated)", syscall(SYS_openat, AT_FDCWD, (void *)0x10, O_RDONLY));
  report("stat(buf = NULL)", syscall(SYS_newfstatat, AT_FDCWD, ".", (void *)0, 0));
  report("fstat(buf in .text)", syscall(SYS_fstat, 1, (void *)main));
  report("clock_gettime(NULL)", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)0));
  report("pipe(read-only)", syscall(SYS_pipe, (void *)main));
  report("writev(iov array bad)", syscall(SYS_writev, 1, (void *)16, 2));
  report("poll(NULL, 1)", syscall(SYS_poll, (void *)0, 1, 0));
  report("uname(NULL)", syscall(SYS_uname, (void *)0));
  report("getcwd(NULL)", syscall(SYS_getcwd, (void *)0, 100));
  report("getrandom(bad)", syscall(SYS_getrandom, (void *)0x2000, 16, 0));
  // Still alive and well:
  printf("after: %ld\n", syscall(SYS_write, 1, "fine\n", 5));
  return 0;
}
