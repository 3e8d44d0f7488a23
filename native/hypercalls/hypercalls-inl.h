// Template helpers for hypercalls.h.
#pragma once

#include <poll.h>

#include <initializer_list>

namespace torov {

template <typename Op>
int64_t HostIoUntilReady(const Task& t, bool may_wait, std::initializer_list<pollfd> waits, Op op) {
  for (;;) {
    long r = op();
    if (r >= 0) return r;
    const int err = errno;
    if (err == EINTR) {
      if (t.interrupted()) return -EINTR;
      continue;
    }
    if ((err == EAGAIN || err == EWOULDBLOCK) && may_wait) {
      // Each in turn: the call needs all of them ready, and one that always
      // is (a regular file) must not turn the wait into a spin.
      for (pollfd p : waits) {
        if (poll(&p, 1, -1) < 0 && errno != EINTR) return -errno;
        if (t.interrupted()) return -EINTR;
      }
      continue;
    }
    return -err;
  }
}

template <typename Op>
int64_t HostIo(const Task& t, const OpenFile& f, short events, Op op, bool dont_wait) {
  return HostIoUntilReady(t, !f.nonblock && !dont_wait, {pollfd{f.host.get(), events, 0}}, op);
}

template <typename Op>
int64_t HostIoBetween(const Task& t, const OpenFile& in, const OpenFile& out, Op op, bool dont_wait) {
  return HostIoUntilReady(t, !in.nonblock && !out.nonblock && !dont_wait,
                          {pollfd{in.host.get(), POLLIN, 0}, pollfd{out.host.get(), POLLOUT, 0}}, op);
}

}  // namespace torov
