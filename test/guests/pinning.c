// A guest that tries to hold host memory outside its Memory (issue 10, hole
// 5): memfd pages, written, fallocated, copied in, or kept in flight in a
// socket, and pipe buffers made larger. Each line is "what: result"; the
// test knows what each must be. Before it ends it waits for a byte on stdin
// holding a memfd as full as it could make it, so the test can look.
//   pinning MIB   try for MIB MiB each way (more than Memory)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *errname(int e) {
  switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(EBADF) E(ENOMEM) E(EFAULT) E(EINVAL) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EOPNOTSUPP) E(ENOSYS)
#undef E
    default: return "?";
  }
}

static void report(const char *what, long r) {
  if (r < 0) printf("%s: %s\n", what, errname(errno));
  else printf("%s: ok %ld\n", what, r);
  fflush(stdout);
}
#define TRY(what, call) (errno = 0, report(what, (long)(call)))

static char chunk[1 << 20];

// Writes 1 MiB at a time until refused or `mib` MiB are in.
static void fill(const char *what, int fd, long mib) {
  long done = 0;
  ssize_t n = 0;
  errno = 0;
  while (done < (mib << 20) && (n = write(fd, chunk, sizeof chunk)) > 0) done += n;
  if (n < 0) printf("%s: %s after %ld KiB\n", what, errname(errno), done >> 10);
  else printf("%s: ok %ld KiB\n", what, done >> 10);
  fflush(stdout);
}

static int send_fd(int sock, int fd) {
  char space[CMSG_SPACE(sizeof fd)] = {0};
  char byte = 'm';
  struct iovec iov = {&byte, 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = space, .msg_controllen = sizeof space};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fd);
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int receive_fd(int sock) {
  char space[CMSG_SPACE(sizeof(int))] = {0};
  char byte;
  struct iovec iov = {&byte, 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = space, .msg_controllen = sizeof space};
  if (recvmsg(sock, &m, 0) != 1) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  int fd = -1;
  if (c && c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

int main(int argc, char **argv) {
  const long mib = argc > 1 ? atol(argv[1]) : 128;
  memset(chunk, 0x5a, sizeof chunk);

  // A size costs nothing, as on Linux; the pages written into it do.
  int a = memfd_create("pin-a", 0);
  TRY("memfd ftruncate 1 TiB", ftruncate(a, 1L << 40));
  fill("memfd write", a, mib);
  TRY("memfd pwrite over its own pages", pwrite(a, chunk, sizeof chunk, 0));
  TRY("memfd pwrite into a hole", pwrite(a, chunk, 4096, 1L << 39));

  int b = memfd_create("pin-b", 0);
  TRY("memfd fallocate", fallocate(b, 0, 0, mib << 20));
  TRY("memfd fallocate KEEP_SIZE", fallocate(b, FALLOC_FL_KEEP_SIZE, 0, mib << 20));
  loff_t from = 0;
  TRY("memfd copy_file_range", copy_file_range(a, &from, b, NULL, 8 << 20, 0));
  struct iovec two[2] = {{chunk, sizeof chunk}, {chunk, sizeof chunk}};
  TRY("memfd writev", writev(b, two, 2));
  TRY("memfd pwritev", pwritev(b, two, 2, 0));
  from = 0;
  TRY("memfd sendfile", sendfile(b, a, &from, 1 << 20));
  int q[2];
  if (pipe(q) != 0 || write(q[1], chunk, 4096) != 4096) return 2;
  TRY("memfd splice", splice(q[0], NULL, b, NULL, 4096, 0));

  // A full memfd in flight in a socket, with no fd left for it, still
  // holds its pages; received back and emptied, it holds none.
  int s[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0 || send_fd(s[0], a) != 0) return 2;
  close(a);
  int c = memfd_create("pin-c", 0);
  TRY("memfd write with a full one in flight", write(c, chunk, sizeof chunk));
  int back = receive_fd(s[1]);
  TRY("the one in flight received back, emptied", ftruncate(back, 0));
  close(back);
  fill("memfd write after that", c, mib);

  // Pipe buffers: no larger than a new pipe's.
  int p[2];
  if (pipe(p) != 0) return 2;
  TRY("F_SETPIPE_SZ 1 MiB", fcntl(p[0], F_SETPIPE_SZ, 1 << 20));
  TRY("F_SETPIPE_SZ 128 KiB", fcntl(p[1], F_SETPIPE_SZ, 128 << 10));
  TRY("F_SETPIPE_SZ 65537", fcntl(p[0], F_SETPIPE_SZ, 65537));
  TRY("F_SETPIPE_SZ 64 KiB", fcntl(p[0], F_SETPIPE_SZ, 64 << 10));
  TRY("F_SETPIPE_SZ 4 KiB", fcntl(p[0], F_SETPIPE_SZ, 4096));
  TRY("F_SETPIPE_SZ -1", fcntl(p[0], F_SETPIPE_SZ, -1));
  TRY("F_GETPIPE_SZ", fcntl(p[1], F_GETPIPE_SZ));

  printf("waiting\n");
  fflush(stdout);
  char go;
  read(0, &go, 1);
  return 0;
}
