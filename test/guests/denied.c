// Does something the manifest denies: unlink "victim" and create "intruder".
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  printf("unlink: %s\n", unlink("victim") == 0 ? "removed" : strerror(errno));
  int fd = open("intruder", O_CREAT | O_WRONLY, 0644);
  printf("open(O_CREAT): %s\n", fd >= 0 ? "created" : strerror(errno));
  return 0;
}
