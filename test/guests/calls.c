// Makes N cheap hypercalls (getppid, answered by torov itself) and then N
// writes to /dev/null: for the trace buffer tests.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  for (int i = 0; i < n; i++) syscall(SYS_getppid);
  int fd = open("/dev/null", O_WRONLY);
  for (int i = 0; i < n; i++) syscall(SYS_write, fd, "x", 1);
  return 0;
}
