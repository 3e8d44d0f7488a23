// Time: clocks and sleeps, forwarded. The CPU-time clocks of the guest are
// the vCPU thread's: the guest's instructions run on it and nothing else of
// the monitor does.
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "hypercalls.h"

namespace torov {

namespace {

clockid_t GuestClock(uint64_t id) {
  if (id == CLOCK_PROCESS_CPUTIME_ID || id == CLOCK_THREAD_CPUTIME_ID) return CLOCK_THREAD_CPUTIME_ID;
  return static_cast<clockid_t>(id);
}

bool ValidClock(uint64_t id) {
  // Static clock ids only: a negative (dynamic) id would name a host
  // process's or file's clock.
  return id <= CLOCK_TAI;
}

int64_t ClockGettime(Process& g, Task& t, const Args& a) {
  if (!ValidClock(a[0])) return -EINVAL;
  timespec ts;
  if (clock_gettime(GuestClock(a[0]), &ts) < 0) return -errno;
  return CopyOut(g, a[1], ts) ? 0 : -EFAULT;
}

int64_t ClockGetres(Process& g, Task& t, const Args& a) {
  if (!ValidClock(a[0])) return -EINVAL;
  timespec ts;
  if (clock_getres(GuestClock(a[0]), &ts) < 0) return -errno;
  if (a[1] && !CopyOut(g, a[1], ts)) return -EFAULT;
  return 0;
}

int64_t Gettimeofday(Process& g, Task& t, const Args& a) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  if (a[0] && !CopyOut(g, a[0], tv)) return -EFAULT;
  if (a[1]) {
    const struct { int minuteswest, dsttime; } tz = {0, 0};
    if (!CopyOut(g, a[1], tz)) return -EFAULT;
  }
  return 0;
}

int64_t Time(Process& g, Task& t, const Args& a) {
  const time_t now = time(nullptr);
  if (a[0] && !CopyOut(g, a[0], now)) return -EFAULT;
  return now;
}

int64_t Sleep(Process& g, Task& t, clockid_t clock, int flags, uint64_t req_addr, uint64_t rem_addr) {
  timespec req, rem{};
  if (!CopyIn(g, req_addr, &req)) return -EFAULT;
  if (req.tv_nsec < 0 || req.tv_nsec >= 1000000000 || req.tv_sec < 0) return -EINVAL;
  int r;
  // Only a stop request (the end of the VM, or a debugger) interrupts it;
  // then the time left is reported, as a signal would on Linux.
  while ((r = clock_nanosleep(clock, flags, &req, &rem)) == EINTR) {
    if (t.interrupted()) {
      if (rem_addr && !(flags & TIMER_ABSTIME) && !CopyOut(g, rem_addr, rem)) return -EFAULT;
      return -EINTR;
    }
    if (!(flags & TIMER_ABSTIME)) req = rem;
  }
  return -r;
}

int64_t Nanosleep(Process& g, Task& t, const Args& a) { return Sleep(g, t, CLOCK_MONOTONIC, 0, a[0], a[1]); }

int64_t ClockNanosleep(Process& g, Task& t, const Args& a) {
  if (!ValidClock(a[0])) return -EINVAL;
  if (a[0] == CLOCK_THREAD_CPUTIME_ID) return -EINVAL;
  if (a[1] & ~uint64_t{TIMER_ABSTIME}) return -EINVAL;
  return Sleep(g, t, GuestClock(a[0]), static_cast<int>(a[1]), a[2], a[3]);
}

}  // namespace

void RegisterTimeHypercalls(HypercallTable& table) {
  table.handlers[SYS_clock_gettime] = ClockGettime;
  table.handlers[SYS_clock_getres] = ClockGetres;
  table.handlers[SYS_gettimeofday] = Gettimeofday;
  table.handlers[SYS_time] = Time;
  table.handlers[SYS_nanosleep] = Nanosleep;
  table.handlers[SYS_clock_nanosleep] = ClockNanosleep;
}

}  // namespace torov
