// Emulated hypercalls whose answers still come from the host: umask (the
// vCPU thread's own) and the copy that backs a private file mapping. The
// manifest that runs it allows only printing and opening: these must work
// without pread64 or anything else in it.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
  mode_t old = umask(027);
  mode_t now = umask(old);
  printf("umask: %03o then %03o\n", (unsigned)old, (unsigned)now);
  int fd = open("data", O_RDONLY);
  if (fd < 0) {
    printf("open: %s\n", strerror(errno));
    return 1;
  }
  char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  if (m == MAP_FAILED) {
    printf("mmap: %s\n", strerror(errno));
    return 1;
  }
  printf("mapped: %.16s\n", m);
  return 0;
}
