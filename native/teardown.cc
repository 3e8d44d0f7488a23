#include "teardown.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <thread>

#include "fd.h"
#include "fdtable.h"

namespace torov {

namespace {

// SCM_MAX_FD: the most descriptors one message carries. A buffer for fewer
// would have the kernel release the rest during recvmsg, on this thread.
constexpr int kScmMaxFd = 253;

bool IsSocket(int fd, int* type) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  socklen_t len = sizeof *type;
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0) domain = 0;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &len) != 0) *type = 0;
  if (domain != AF_UNIX) *type = -*type - 1;  // not unix: nothing can be in flight in it
  return true;
}

void NoLinger(int fd) {
  const linger off{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof off);
}

}  // namespace

int ReleaseGuestFilesNow(std::vector<std::shared_ptr<OpenFile>> files, int max_messages) {
  // Unix sockets whose queues may hold descriptors in flight; the ones
  // found there are this thread's to close, after the same treatment.
  std::deque<int> unix_sockets;
  std::vector<Fd> found;
  for (const auto& f : files) {
    int type;
    if (!f || !IsSocket(f->host.get(), &type)) continue;
    NoLinger(f->host.get());
    if (type > 0) unix_sockets.push_back(f->host.get());
  }
  int in_flight = 0;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kScmMaxFd)];
  char data[4096];
  while (!unix_sockets.empty() && max_messages > 0) {
    const int sock = unix_sockets.front();
    unix_sockets.pop_front();
    for (; max_messages > 0; max_messages--) {
      iovec iov{data, sizeof data};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;  // empty (EAGAIN), or an error
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          in_flight++;
          int type;
          if (IsSocket(fd, &type)) {
            NoLinger(fd);
            if (type > 0) unix_sockets.push_back(fd);
          }
          found.emplace_back(fd);
        }
      }
      if (n == 0 && msg.msg_controllen == 0) break;  // the peer has gone
    }
  }
  // Now nothing lingers: the files go (the guest's, then those that were
  // in flight), on this thread.
  files.clear();
  found.clear();
  return in_flight;
}

void ReleaseGuestFiles(std::vector<std::shared_ptr<OpenFile>> files) {
  if (files.empty()) return;
  try {
    std::thread([files = std::move(files)]() mutable { ReleaseGuestFilesNow(std::move(files)); }).detach();
  } catch (const std::system_error&) {
    // No thread to be had (a confined thread's filter may refuse one): the
    // same work here, which still turns every linger it can reach off.
    ReleaseGuestFilesNow(std::move(files));
  }
}

}  // namespace torov
