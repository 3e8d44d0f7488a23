// Polling: poll and ppoll translate guest fds to host fds; select and
// pselect6 are done with poll too, so the guest's fd_set bit numbers never
// meet the host's fd numbers (or its FD_SETSIZE).
#include <poll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

#include <vector>

#include "hypercalls.h"

namespace torov {

namespace {

// Linux's POLLIN_SET, POLLOUT_SET and POLLEX_SET (fs/select.c).
constexpr short kReadable = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
constexpr short kWritable = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
constexpr short kExcept = POLLPRI;

int64_t DoPoll(Process& g, Task& t, uint64_t fds_addr, uint64_t nfds, int timeout_ms, const timespec* timeout) {
  if (nfds > static_cast<uint64_t>(g.fds.limit())) return -EINVAL;
  pollfd* guest = nfds ? reinterpret_cast<pollfd*>(g.mm.User(fds_addr, nfds * sizeof(pollfd), Access::kWrite)) : nullptr;
  if (nfds && !guest) return -EFAULT;
  std::vector<pollfd> host(nfds);
  // The guest's entries, read once each: another thread may change them
  // while the call waits. The files stay open until it returns (a host fd
  // whose file another thread closed could be anyone's by then).
  std::vector<int> fds(nfds);
  std::vector<std::shared_ptr<OpenFile>> files(nfds);
  int invalid = 0;
  for (uint64_t i = 0; i < nfds; i++) {
    pollfd entry;
    std::memcpy(&entry, &guest[i], sizeof entry);
    fds[i] = entry.fd;
    host[i] = {-1, entry.events, 0};
    if (entry.fd < 0) continue;
    files[i] = g.fds.Get(entry.fd);
    if (files[i]) host[i].fd = files[i]->host.get();
    else invalid++;
  }
  // A POLLNVAL entry makes the call return at once, with what the valid
  // ones are ready for now (entries with host fd -1 are skipped).
  const timespec now{0, 0};
  if (invalid) {
    timeout_ms = 0;
    if (timeout) timeout = &now;
  }
  int r;
  do r = timeout ? ppoll(host.data(), nfds, timeout, nullptr) : poll(host.data(), nfds, timeout_ms);
  while (r < 0 && errno == EINTR && !t.interrupted());
  if (r < 0) return -errno;
  r = 0;
  // The array is checked again: another thread may have unmapped it or
  // taken its write access away while the call waited.
  const auto hold = g.mm.Hold();
  guest = nfds ? reinterpret_cast<pollfd*>(g.mm.User(fds_addr, nfds * sizeof(pollfd), Access::kWrite)) : nullptr;
  if (nfds && !guest) return -EFAULT;
  for (uint64_t i = 0; i < nfds; i++) {
    short revents = 0;
    if (fds[i] >= 0) revents = host[i].fd < 0 ? POLLNVAL : host[i].revents;
    guest[i].revents = revents;
    if (revents) r++;
  }
  return r;
}

int64_t Poll(Process& g, Task& t, const Args& a) {
  return DoPoll(g, t, a[0], a[1], static_cast<int>(a[2]), nullptr);
}

int64_t Ppoll(Process& g, Task& t, const Args& a) {
  timespec ts;
  if (a[2]) {
    if (!CopyIn(g, a[2], &ts)) return -EFAULT;
    if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) return -EINVAL;
  }
  return DoPoll(g, t, a[0], a[1], -1, a[2] ? &ts : nullptr);
}

// select(2) over poll. `timeout` is null for "wait forever"; on return it
// holds the time left, which select reports back to the guest.
int64_t DoSelect(Process& g, Task& t, uint64_t nfds, uint64_t rset, uint64_t wset, uint64_t eset, timespec* timeout) {
  if (nfds > static_cast<uint64_t>(g.fds.limit())) nfds = static_cast<uint64_t>(g.fds.limit());
  const uint64_t bytes = (nfds + 63) / 64 * 8;
  uint8_t* sets[3] = {nullptr, nullptr, nullptr};
  const uint64_t addrs[3] = {rset, wset, eset};
  for (int k = 0; k < 3; k++) {
    if (!addrs[k] || !bytes) continue;
    sets[k] = g.mm.User(addrs[k], bytes, Access::kWrite);
    if (!sets[k]) return -EFAULT;
  }
  auto bit = [](const uint8_t* set, uint64_t fd) { return set && ((set[fd / 8] >> (fd % 8)) & 1); };
  std::vector<pollfd> host;
  std::vector<int> which;
  std::vector<std::shared_ptr<OpenFile>> files;  // open until the call returns, as in DoPoll
  for (uint64_t fd = 0; fd < nfds; fd++) {
    short events = 0;
    if (bit(sets[0], fd)) events |= POLLIN;
    if (bit(sets[1], fd)) events |= POLLOUT;
    if (bit(sets[2], fd)) events |= POLLPRI;
    if (!events) continue;
    const std::shared_ptr<OpenFile> f = g.fds.Get(fd);
    if (!f) return -EBADF;
    host.push_back({f->host.get(), events, 0});
    which.push_back(static_cast<int>(fd));
    files.push_back(f);
  }
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int r;
  do r = ppoll(host.data(), host.size(), timeout, nullptr);
  while (r < 0 && errno == EINTR && !t.interrupted());
  if (r < 0) return -errno;
  if (timeout) {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t left = (timeout->tv_sec - (now.tv_sec - start.tv_sec)) * 1000000000LL + timeout->tv_nsec -
                   (now.tv_nsec - start.tv_nsec);
    if (left < 0) left = 0;
    timeout->tv_sec = left / 1000000000LL;
    timeout->tv_nsec = left % 1000000000LL;
  }
  // Checked again, as in DoPoll: the sets may be gone or read-only by now.
  const auto hold = g.mm.Hold();
  for (int k = 0; k < 3; k++) {
    if (!sets[k]) continue;
    sets[k] = g.mm.User(addrs[k], bytes, Access::kWrite);
    if (!sets[k]) return -EFAULT;
  }
  for (int k = 0; k < 3; k++)
    if (sets[k]) std::memset(sets[k], 0, bytes);
  int count = 0;
  for (size_t i = 0; i < host.size(); i++) {
    const uint64_t fd = static_cast<uint64_t>(which[i]);
    const short re = host[i].revents;
    const short ev = host[i].events;
    auto set = [&](int k) {
      sets[k][fd / 8] |= static_cast<uint8_t>(1u << (fd % 8));
      count++;
    };
    if ((ev & POLLIN) && (re & kReadable)) set(0);
    if ((ev & POLLOUT) && (re & kWritable)) set(1);
    if ((ev & POLLPRI) && (re & kExcept)) set(2);
  }
  return count;
}

int64_t Select(Process& g, Task& t, const Args& a) {
  timeval tv;
  timespec ts;
  if (a[4]) {
    if (!CopyIn(g, a[4], &tv)) return -EFAULT;
    if (tv.tv_sec < 0 || tv.tv_usec < 0) return -EINVAL;
    ts = {tv.tv_sec + tv.tv_usec / 1000000, (tv.tv_usec % 1000000) * 1000};
  }
  int64_t r = DoSelect(g, t, a[0], a[1], a[2], a[3], a[4] ? &ts : nullptr);
  if (r >= 0 && a[4]) {
    tv = {ts.tv_sec, ts.tv_nsec / 1000};
    CopyOut(g, a[4], tv);  // Linux reports the time left
  }
  return r;
}

int64_t Pselect6(Process& g, Task& t, const Args& a) {
  timespec ts;
  if (a[4]) {
    if (!CopyIn(g, a[4], &ts)) return -EFAULT;
    if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000) return -EINVAL;
  }
  int64_t r = DoSelect(g, t, a[0], a[1], a[2], a[3], a[4] ? &ts : nullptr);
  if (r >= 0 && a[4]) CopyOut(g, a[4], ts);
  return r;
}

}  // namespace

void RegisterPollHypercalls(HypercallTable& table) {
  table.handlers[SYS_poll] = Poll;
  table.handlers[SYS_ppoll] = Ppoll;
  table.handlers[SYS_select] = Select;
  table.handlers[SYS_pselect6] = Pselect6;
}

}  // namespace torov
