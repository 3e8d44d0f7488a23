// Template helpers for hypercalls.h.
#pragma once

#include <poll.h>

namespace torov {

template <typename Op>
int64_t HostIo(const Guest& g, const OpenFile& f, short events, Op op, bool dont_wait) {
  for (;;) {
    long r = op();
    if (r >= 0) return r;
    const int err = errno;
    if (err == EINTR) {
      if (g.interrupted()) return -EINTR;
      continue;
    }
    if ((err == EAGAIN || err == EWOULDBLOCK) && !f.nonblock && !dont_wait) {
      pollfd p{f.host.get(), events, 0};
      if (poll(&p, 1, -1) < 0 && errno != EINTR) return -errno;
      if (g.interrupted()) return -EINTR;
      continue;
    }
    return -err;
  }
}

}  // namespace torov
