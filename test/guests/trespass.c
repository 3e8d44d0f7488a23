// A guest that tries to change host files it was only lent (its own program
// as /proc/self/exe, the shared devices, the stdio it was given), to leave
// set-ID programs and other users' files behind in its MountPoint, and to use
// the network as only root may. Each line is "what: result"; the test knows
// what each must be, and checks the host files afterwards.
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

static void mode_of(const char *what, const char *path) {
  struct stat st;
  if (stat(path, &st) < 0)
    printf("%s: %s\n", what, errname(errno));
  else
    printf("%s: %04o\n", what, (unsigned)(st.st_mode & 07777));
  fflush(stdout);
}

int main(void) {
  struct stat st;
  char name[64];

  // ---- its own program, which the monitor reads from the host
  TRY("chmod /proc/self/exe", chmod("/proc/self/exe", 0777));
  TRY("chown /proc/self/exe", chown("/proc/self/exe", getuid(), getgid()));
  TRY("utimensat /proc/self/exe", utimensat(AT_FDCWD, "/proc/self/exe", NULL, 0));
  TRY("link /proc/self/exe into the root", linkat(AT_FDCWD, "/proc/self/exe", AT_FDCWD, "/exe", AT_SYMLINK_FOLLOW));
  int path = open("/proc/self/exe", O_PATH);
  TRY("link an O_PATH fd of /proc/self/exe into the root", linkat(path, "", AT_FDCWD, "/exe2", AT_EMPTY_PATH));
  TRY("open /proc/self/exe for writing", open("/proc/self/exe", O_RDWR));
  int exe = open("/proc/self/exe", O_RDONLY);
  TRY("fchmod /proc/self/exe", fchmod(exe, 0777));
  TRY("fchown /proc/self/exe", fchown(exe, getuid(), getgid()));
  TRY("futimens /proc/self/exe", futimens(exe, NULL));
  TRY("ftruncate /proc/self/exe", ftruncate(exe, 0));
  snprintf(name, sizeof name, "/dev/fd/%d", exe);
  TRY("chmod /dev/fd/N of /proc/self/exe", chmod(name, 0777));
  TRY("utimensat AT_EMPTY_PATH of /proc/self/exe", utimensat(exe, "", NULL, AT_EMPTY_PATH));

  // ---- a shared device (its own mode: harmless if it ever got through)
  stat("/dev/null", &st);
  TRY("chmod /dev/null", chmod("/dev/null", st.st_mode & 07777));
  TRY("chown /dev/null", chown("/dev/null", st.st_uid, st.st_gid));
  TRY("utimensat /dev/null", utimensat(AT_FDCWD, "/dev/null", NULL, 0));
  TRY("link /dev/null into the root", linkat(AT_FDCWD, "/dev/null", AT_FDCWD, "/null", AT_SYMLINK_FOLLOW));

  // ---- the stdio it was given (stdout: the test's file)
  fstat(1, &st);
  TRY("fchmod stdout", fchmod(1, st.st_mode & 07777));
  TRY("fchown stdout", fchown(1, st.st_uid, st.st_gid));
  TRY("futimens stdout", futimens(1, NULL));
  TRY("chmod /dev/stdout", chmod("/dev/stdout", st.st_mode & 07777));
  TRY("chmod /proc/self/fd/1", chmod("/proc/self/fd/1", st.st_mode & 07777));
  TRY("link stdout into the root", linkat(1, "", AT_FDCWD, "/stdout", AT_EMPTY_PATH));
  TRY("ftruncate stdout", ftruncate(1, 0));
  TRY("fallocate stdout", fallocate(1, 0, 0, 1 << 20));

  // ---- the same files sent to itself through a socket: still lent
  int pair[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
  int lent[3] = {1, exe, open("/dev/null", O_WRONLY)};
  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof lent)];
  } control;
  memset(&control, 0, sizeof control);
  char byte = 'x';
  struct iovec iov = {&byte, 1};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_len = CMSG_LEN(sizeof lent);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  memcpy(CMSG_DATA(c), lent, sizeof lent);
  sendmsg(pair[0], &m, 0);
  memset(&control, 0, sizeof control);
  m.msg_controllen = sizeof control;
  int got[3] = {-1, -1, -1};
  if (recvmsg(pair[1], &m, 0) == 1 && CMSG_FIRSTHDR(&m)) memcpy(got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof got);
  fstat(1, &st);
  TRY("fchmod stdout received back", fchmod(got[0], st.st_mode & 07777));
  TRY("ftruncate stdout received back", ftruncate(got[0], 0));
  TRY("fchmod /proc/self/exe received back", fchmod(got[1], 0777));
  TRY("futimens /proc/self/exe received back", futimens(got[1], NULL));
  snprintf(name, sizeof name, "/proc/self/fd/%d", got[1]);
  TRY("chmod /proc/self/fd/N of it", chmod(name, 0777));
  stat("/dev/null", &st);
  TRY("fchmod /dev/null received back", fchmod(got[2], st.st_mode & 07777));

  // ---- files of its own: ordinary changes work, set-ID bits never stick
  int own = open("/own", O_CREAT | O_WRONLY, 04755);
  lent[0] = own;
  m.msg_controllen = sizeof control;
  c = CMSG_FIRSTHDR(&m);
  c->cmsg_len = CMSG_LEN(sizeof(int));
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  memcpy(CMSG_DATA(c), &own, sizeof own);
  m.msg_controllen = CMSG_SPACE(sizeof(int));
  sendmsg(pair[0], &m, 0);
  m.msg_controllen = sizeof control;
  got[0] = -1;
  if (recvmsg(pair[1], &m, 0) == 1 && CMSG_FIRSTHDR(&m)) memcpy(got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
  TRY("fchmod its own file received back", fchmod(got[0], 0755));
  TRY("create a file with mode 04755", own);
  mode_of("its mode", "/own");
  TRY("fchmod it 06755", fchmod(own, 06755));
  mode_of("its mode after fchmod 06755", "/own");
  TRY("chmod it 04711", chmod("/own", 04711));
  mode_of("its mode after chmod 04711", "/own");
  TRY("chmod it 0640", chmod("/own", 0640));
  mode_of("its mode after chmod 0640", "/own");
  TRY("utimensat it", utimensat(AT_FDCWD, "/own", NULL, 0));
  TRY("link it", linkat(own, "", AT_FDCWD, "/own2", AT_EMPTY_PATH));
  TRY("mknod a regular file with mode 02755", mknod("/own3", S_IFREG | 02755, 0));
  mode_of("the mknod file's mode", "/own3");
  TRY("mkdir a directory", mkdir("/dir", 0755));
  TRY("chmod it 02775 (set-group-ID directory)", chmod("/dir", 02775));
  mode_of("the directory's mode", "/dir");
  // What only root may do: give a file away, read another user's file.
  TRY("chown its file to another user", chown("/own", 4321, 4321));
  TRY("open another user's private file", open("/secret", O_RDONLY));

  // ---- the network as only root may use it
  TRY("socket SOCK_RAW", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  TRY("socket SOCK_RAW IPv6", socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
  TRY("socket SOCK_PACKET", socket(AF_INET, SOCK_PACKET, 0));
  TRY("socket IPPROTO_SCTP", socket(AF_INET, SOCK_STREAM, 132));
  TRY("socket type 99", socket(AF_INET, 99, 0));
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  TRY("socket TCP", tcp);
  static char blob[1024];
  TRY("setsockopt IPT_SO_SET_REPLACE (the host firewall)", setsockopt(tcp, IPPROTO_IP, 64, blob, sizeof blob));
  socklen_t len = sizeof blob;
  TRY("getsockopt IPT_SO_GET_INFO", getsockopt(tcp, IPPROTO_IP, 64, blob, &len));
  TRY("setsockopt MRT_INIT (multicast routing)", setsockopt(tcp, IPPROTO_IP, 200, blob, 4));
  TRY("setsockopt SO_ATTACH_FILTER", setsockopt(tcp, SOL_SOCKET, SO_ATTACH_FILTER, blob, 16));
  TRY("setsockopt SO_MARK", setsockopt(tcp, SOL_SOCKET, 36 /* SO_MARK */, blob, 4));
  int on = 1;
  TRY("setsockopt TCP_NODELAY", setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on));
  TRY("setsockopt SO_REUSEADDR", setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on));
  TRY("setsockopt SO_REUSEPORT", setsockopt(tcp, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on));
  len = sizeof on;
  TRY("getsockopt SO_TYPE", getsockopt(tcp, SOL_SOCKET, SO_TYPE, &on, &len) < 0 ? -1 : on);
  printf("done\n");
  return 0;
}
