// What descriptors can the guest name? Only its own: 0, 1, 2 and what it
// opens. Nothing of the monitor's (/dev/kvm, the VM, Node's pipes).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
  int open_fds = 0;
  for (int fd = 0; fd < 4096; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) {
      printf("open: %d\n", fd);
      open_fds++;
    } else if (errno != EBADF) {
      printf("fd %d: unexpected errno %d\n", fd, errno);
    }
  }
  printf("%d open\n", open_fds);
  int a = open(".", O_RDONLY | O_DIRECTORY);
  int b = dup(a);
  printf("first new fd %d, dup %d\n", a, b);
  printf("dup2 to 1000: %d\n", dup2(a, 1000));
  printf("dup2 to 5000: %d (%s)\n", dup2(a, 5000), errno == EBADF ? "EBADF" : "other");
  fflush(stdout);
  close(1);
  // stdout is gone for the guest, not for the monitor.
  fprintf(stderr, "write to closed 1: %zd\n", write(1, "x", 1));
  return 0;
}
