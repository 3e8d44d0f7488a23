// Event descriptors: epoll, eventfd, timerfd and memfd. Each is a host
// object of the same kind held through the guest's fd table. epoll's user
// data passes through untouched; the descriptors it watches are translated.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <climits>
#include <vector>

#include "hypercalls.h"

namespace torov {

namespace {

// Linux's EP_MAX_EVENTS: the most one epoll_wait may be asked for.
constexpr uint64_t kMaxEvents = INT_MAX / sizeof(epoll_event);

int64_t EpollCreate1(Process& g, Task& t, const Args& a) {
  if (a[0] & ~uint64_t{EPOLL_CLOEXEC}) return -EINVAL;
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return -errno;
  return InstallHostFd(g, fd, (a[0] & EPOLL_CLOEXEC) ? O_CLOEXEC : 0);
}

int64_t EpollCreate(Process& g, Task& t, const Args& a) {
  if (static_cast<int64_t>(a[0]) <= 0) return -EINVAL;
  return EpollCreate1(g, t, Args());
}

int64_t EpollCtl(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> ep = g.fds.Get(a[0]);
  const std::shared_ptr<OpenFile> target = g.fds.Get(a[2]);
  if (!ep || !target) return -EBADF;
  epoll_event ev{};
  const int op = static_cast<int>(a[1]);
  if (op != EPOLL_CTL_DEL && !CopyIn(g, a[3], &ev)) return -EFAULT;
  return HostResult(epoll_ctl(ep->host.get(), op, target->host.get(), op == EPOLL_CTL_DEL ? nullptr : &ev));
}

int64_t EpollWaitImpl(Process& g, Task& t, uint64_t epfd, uint64_t events, uint64_t max, int timeout_ms, const timespec* timeout) {
  const std::shared_ptr<OpenFile> ep = g.fds.Get(epfd);
  if (!ep) return -EBADF;
  if (static_cast<int64_t>(max) <= 0 || max > kMaxEvents) return -EINVAL;
  // The events go straight to the guest's buffer: its whole length checked
  // writable in guest memory, their layout the same (packed) on both sides.
  auto* out = reinterpret_cast<epoll_event*>(g.mm.User(events, max * sizeof(epoll_event), Access::kWrite));
  if (!out) return -EFAULT;
  int r;
  do {
    r = timeout ? static_cast<int>(syscall(SYS_epoll_pwait2, ep->host.get(), out, static_cast<int>(max), timeout, nullptr, 8))
                : epoll_wait(ep->host.get(), out, static_cast<int>(max), timeout_ms);
  } while (r < 0 && errno == EINTR && !t.interrupted());
  if (r < 0) return -errno;
  return r;
}

int64_t EpollWait(Process& g, Task& t, const Args& a) {
  return EpollWaitImpl(g, t, a[0], a[1], a[2], static_cast<int>(a[3]), nullptr);
}
int64_t EpollPwait(Process& g, Task& t, const Args& a) {  // the signal mask is not used: no signals are delivered
  return EpollWaitImpl(g, t, a[0], a[1], a[2], static_cast<int>(a[3]), nullptr);
}
int64_t EpollPwait2(Process& g, Task& t, const Args& a) {
  timespec ts;
  if (a[3] && !CopyIn(g, a[3], &ts)) return -EFAULT;
  return EpollWaitImpl(g, t, a[0], a[1], a[2], -1, a[3] ? &ts : nullptr);
}

int64_t Eventfd2(Process& g, Task& t, const Args& a) {
  const int flags = static_cast<int>(a[1]);
  if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) return -EINVAL;
  int fd = eventfd(static_cast<unsigned>(a[0]), (flags & ~EFD_CLOEXEC) | EFD_CLOEXEC);
  if (fd < 0) return -errno;
  return InstallHostFd(g, fd, ((flags & EFD_NONBLOCK) ? O_NONBLOCK : 0) | ((flags & EFD_CLOEXEC) ? O_CLOEXEC : 0));
}
int64_t Eventfd(Process& g, Task& t, const Args& a) {
  return Eventfd2(g, t, Args(a[0], 0, 0, 0, 0, 0));
}

int64_t TimerfdCreate(Process& g, Task& t, const Args& a) {
  const int clock = static_cast<int>(a[0]);
  const int flags = static_cast<int>(a[1]);
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME) return -EINVAL;
  if (flags & ~(TFD_CLOEXEC | TFD_NONBLOCK)) return -EINVAL;
  int fd = timerfd_create(clock, (flags & ~TFD_CLOEXEC) | TFD_CLOEXEC);
  if (fd < 0) return -errno;
  return InstallHostFd(g, fd, ((flags & TFD_NONBLOCK) ? O_NONBLOCK : 0) | ((flags & TFD_CLOEXEC) ? O_CLOEXEC : 0));
}

int64_t TimerfdSettime(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  itimerspec next, old;
  if (!CopyIn(g, a[2], &next)) return -EFAULT;
  if (timerfd_settime(f->host.get(), static_cast<int>(a[1]), &next, &old) < 0) return -errno;
  if (a[3] && !CopyOut(g, a[3], old)) return -EFAULT;
  return 0;
}

int64_t TimerfdGettime(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  itimerspec cur;
  if (timerfd_gettime(f->host.get(), &cur) < 0) return -errno;
  return CopyOut(g, a[1], cur) ? 0 : -EFAULT;
}

// An anonymous file in host memory: no path, nothing shared with the host.
int64_t MemfdCreate(Process& g, Task& t, const Args& a) {
  std::string name;
  if (int r = GuestPath(g, a[0], &name); r < 0) return r;
  const unsigned flags = static_cast<unsigned>(a[1]);
  if (flags & ~unsigned{MFD_CLOEXEC | MFD_ALLOW_SEALING}) return -EINVAL;
  int fd = memfd_create(name.c_str(), (flags & ~MFD_CLOEXEC) | MFD_CLOEXEC);
  if (fd < 0) return -errno;
  return InstallHostFd(g, fd, (flags & MFD_CLOEXEC) ? O_CLOEXEC : 0);
}

}  // namespace

void RegisterEventHypercalls(HypercallTable& table) {
  table.handlers[SYS_epoll_create] = EpollCreate;
  table.handlers[SYS_epoll_create1] = EpollCreate1;
  table.handlers[SYS_epoll_ctl] = EpollCtl;
  table.handlers[SYS_epoll_wait] = EpollWait;
  table.handlers[SYS_epoll_pwait] = EpollPwait;
  table.handlers[SYS_epoll_pwait2] = EpollPwait2;
  table.handlers[SYS_eventfd] = Eventfd;
  table.handlers[SYS_eventfd2] = Eventfd2;
  table.handlers[SYS_timerfd_create] = TimerfdCreate;
  table.handlers[SYS_timerfd_settime] = TimerfdSettime;
  table.handlers[SYS_timerfd_gettime] = TimerfdGettime;
  table.handlers[SYS_memfd_create] = MemfdCreate;
}

}  // namespace torov
