#include "mounts.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fd.h"

namespace torov {

namespace {

// In the calling process: the clone, then its attributes. -errno on failure.
int MakeHere(const char* source, bool read_only) {
  // The source's own mount only, as `mount --bind` (not --rbind): what is
  // mounted below it on the host (a /proc, a /sys...) is not lent with it.
  const long tree = syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) return -errno;
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0);
  if (syscall(SYS_mount_setattr, static_cast<int>(tree), "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    const int err = errno;
    close(static_cast<int>(tree));
    return -err;
  }
  return static_cast<int>(tree);
}

// Sends `fd` over `sock` with SCM_RIGHTS; raw calls only (the helper).
void SendFd(int sock, int fd, int err) {
  char data = static_cast<char>(err);
  iovec iov{&data, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  sendmsg(sock, &msg, MSG_NOSIGNAL);
}

int ReceiveFd(int sock) {
  char data = 0;
  iovec iov{&data, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (n == 0) return -ECHILD;  // the helper died before it answered
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  return data > 0 ? -data : -EPERM;
}

// A child in new user and mount namespaces makes the mount and sends it.
int MakeInUserNamespace(const char* source, bool read_only) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  Fd mine(sv[0]), theirs(sv[1]);
  // clone with fork's semantics, straight into its namespaces: the child
  // is single-threaded there, as a user namespace requires.
  const long pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, nullptr, nullptr, nullptr, 0);
  if (pid < 0) return -errno;
  if (pid == 0) {
    // Its mounts are a copy of ours, owned by its own user namespace, where
    // it holds every capability: it may clone and change them.
    const int fd = MakeHere(source, read_only);
    SendFd(sv[1], fd, fd < 0 ? -fd : 0);
    syscall(SYS_exit_group, 0);
  }
  theirs.Reset();
  const int fd = ReceiveFd(mine.get());
  int status;
  while (waitpid(static_cast<pid_t>(pid), &status, __WALL) < 0 && errno == EINTR) {
  }
  return fd;
}

}  // namespace

bool PseudoFileSystem(int fd, std::string* name) {
  struct statfs st;
  if (fstatfs(fd, &st) < 0) return false;
  static const std::pair<unsigned long, const char*> kinds[] = {
      {0x9fa0, "proc"},         {0x62656572, "sysfs"},   {0x64626720, "debugfs"},  {0x74726163, "tracefs"},
      {0x73636673, "securityfs"}, {0xcafe4a11, "bpf"},    {0x27e0eb, "cgroup"},     {0x63677270, "cgroup2"},
      {0xde5e81e4, "efivarfs"}, {0x42494e4d, "binfmt_misc"}};
  for (const auto& [magic, kind] : kinds) {
    if (static_cast<unsigned long>(st.f_type) == magic) {
      *name = kind;
      return true;
    }
  }
  return false;
}

int DetachedMount(const std::string& source, bool read_only, std::string* how) {
  int fd = MakeHere(source.c_str(), read_only);
  if (fd >= 0) {
    *how = "root";
    return fd;
  }
  if (fd != -EPERM) return fd;
  fd = MakeInUserNamespace(source.c_str(), read_only);
  if (fd >= 0) *how = "user namespace";
  return fd;
}

}  // namespace torov
