// For the trace tests: the calls whose torov trace lines must be exactly
// strace's, with successes, failures, long and binary buffers, iovecs.
// Raw syscall() so that each is the call named, whatever the libc does.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
static char buf[200];
static int fds[2];
int main(void) {
  int fd = syscall(SYS_open, "data.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  syscall(SYS_write, fd, "hello, world\nsecond line with \"quotes\" and \\ and \t tab and more text\n", 68);
  syscall(SYS_write, fd, "\0\1\2\377bin", 7);
  syscall(SYS_lseek, fd, 0, SEEK_SET);
  syscall(SYS_ftruncate, fd, 40);
  syscall(SYS_close, fd);
  fd = syscall(SYS_openat, AT_FDCWD, "data.txt", O_RDONLY | O_CLOEXEC);
  syscall(SYS_read, fd, buf, 10);
  syscall(SYS_read, fd, buf, sizeof buf);
  syscall(SYS_read, fd, buf, sizeof buf);
  syscall(SYS_lseek, fd, 2, SEEK_SET);
  struct iovec iov[2] = {{buf, 3}, {buf + 100, 50}};
  syscall(SYS_readv, fd, iov, 2);
  struct iovec out[2] = {{"ab", 2}, {"cd\n", 3}};
  syscall(SYS_writev, 1, out, 2);
  int d = syscall(SYS_dup, 1);
  syscall(SYS_close, d);
  syscall(SYS_pipe, fds);
  syscall(SYS_close, fds[0]); syscall(SYS_close, fds[1]);
  syscall(SYS_pipe2, fds, O_CLOEXEC | O_NONBLOCK);
  syscall(SYS_mkdir, "dir", 0750);
  syscall(SYS_mkdir, "dir", 0750);
  syscall(SYS_rmdir, "dir");
  syscall(SYS_rename, "data.txt", "moved.txt");
  syscall(SYS_unlink, "moved.txt");
  syscall(SYS_unlink, "nope");
  syscall(SYS_open, "nope", O_RDONLY);
  syscall(SYS_read, 99, buf, 5);
  syscall(SYS_lseek, 1, 0, SEEK_END);
  syscall(SYS_exit_group, 3);
}
