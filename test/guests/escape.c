// Tries to reach files outside its MountPoint every way a path can.
// The test puts a file called "secret" next to (outside) the MountPoint.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void try_open(const char *path) {
  int fd = open(path, O_RDONLY);
  char buf[32] = {0};
  if (fd >= 0) {
    int n = read(fd, buf, sizeof buf - 1);
    printf("%-34s OPENED %d bytes: %s\n", path, n, buf);
    close(fd);
  } else {
    printf("%-34s %s\n", path, strerror(errno));
  }
}

int main(void) {
  try_open("../secret");
  try_open("/../secret");
  try_open("/../../../../../../secret");
  try_open("inside/../../secret");
  // Absolute and relative symlinks pointing out.
  symlink("/../secret", "abs-link");
  symlink("../../../secret", "rel-link");
  symlink("/proc/self/root/etc/passwd", "proc-link");
  try_open("abs-link");
  try_open("rel-link");
  try_open("proc-link");
  // chdir above the root stays at the root.
  chdir("..");
  chdir("../..");
  char cwd[256];
  printf("cwd after chdir(..): %s\n", getcwd(cwd, sizeof cwd));
  try_open("secret");
  // openat with a directory fd and "..".
  int dir = open("/", O_RDONLY | O_DIRECTORY);
  int fd = openat(dir, "../secret", O_RDONLY);
  printf("openat(/, ../secret): %s\n", fd >= 0 ? "OPENED" : strerror(errno));
  // /proc and /etc of the host are not there.
  try_open("/proc/self/environ");
  try_open("/proc/1/cmdline");
  try_open("/etc/passwd");
  // Creating names outside: mkdir and hard links through "..".
  printf("mkdir(../escaped): %s\n", mkdir("../escaped", 0755) == 0 ? "created (inside)" : strerror(errno));
  printf("link(abs-link, ../x): %s\n", link("abs-link", "../x") == 0 ? "linked (inside)" : strerror(errno));
  printf("linkat follow: %s\n", linkat(AT_FDCWD, "abs-link", AT_FDCWD, "hard", AT_SYMLINK_FOLLOW) == 0 ? "LINKED" : strerror(errno));
  printf("chmod(abs-link): %s\n", chmod("abs-link", 0777) == 0 ? "CHANGED" : strerror(errno));
  printf("rename(/.., x): %s\n", rename("/..", "x") == 0 ? "RENAMED" : strerror(errno));
  printf("rmdir(/..): %s\n", rmdir("/..") == 0 ? "REMOVED" : strerror(errno));
  // Device nodes it may use, and one it may not make.
  try_open("/dev/null");
  printf("mknod char: %s\n", mknod("tty0", S_IFCHR | 0600, makedev(4, 0)) == 0 ? "MADE" : strerror(errno));
  return 0;
}
