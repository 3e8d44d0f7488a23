// Measured inside the guest: the latency of a hypercall as the application
// sees it, from `syscall` to the next instruction. Prints nanoseconds per
// call for write(2) of one byte to /dev/null (forwarded: the monitor makes
// the host write) and getppid(2) (emulated: no host call at all).
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 20000;
  int fd = open("/dev/null", O_WRONLY);
  if (fd < 0) {
    perror("/dev/null");
    return 1;
  }
  for (int i = 0; i < 200; i++) syscall(SYS_write, fd, "x", 1);  // warm up
  double t0 = now_ns();
  for (int i = 0; i < n; i++) syscall(SYS_write, fd, "x", 1);
  double t1 = now_ns();
  for (int i = 0; i < n; i++) syscall(SYS_getppid);
  double t2 = now_ns();
  printf("write %.1f\ngetppid %.1f\n", (t1 - t0) / n, (t2 - t1) / n);
  return 0;
}
