#include "futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "task.h"

namespace torov {

namespace {

// The host's futex on the waiter's own word.
long HostFutex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* deadline) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
}

void WakeTask(Task* task) {
  task->futex_wake.store(1, std::memory_order_release);
  HostFutex(&task->futex_wake, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr);
}

}  // namespace

int64_t Futexes::Wait(Task& t, const uint32_t* word, uint64_t addr, uint32_t value, uint32_t bitset,
                      const timespec* deadline, clockid_t clock) {
  Waiter self{&t, addr, bitset};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Under the lock that every wake takes: a wake after the guest changed
    // the word either finds this waiter queued or happened before the load.
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != value) return -EAGAIN;
    t.futex_wake.store(0, std::memory_order_relaxed);
    waiters_.push_back(&self);
  }
  const int64_t result = Sleep(t, deadline, clock);
  if (result == 0) return 0;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = std::find(waiters_.begin(), waiters_.end(), &self);
  if (it == waiters_.end()) return 0;  // woken meanwhile: the wake counts
  waiters_.erase(it);
  return result;
}

int64_t Futexes::Sleep(Task& t, const timespec* deadline, clockid_t clock) {
  const int op = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | (clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME : 0);
  for (;;) {
    if (t.futex_wake.load(std::memory_order_acquire)) return 0;
    if (t.interrupted()) return -EINTR;
    if (HostFutex(&t.futex_wake, op, 0, deadline) < 0 && errno == ETIMEDOUT)
      return t.futex_wake.load(std::memory_order_acquire) ? 0 : -ETIMEDOUT;
  }
}

bool Futexes::PiWaiters(uint64_t addr, const Waiter* except) const {
  return std::any_of(waiters_.begin(), waiters_.end(),
                     [&](const Waiter* w) { return w != except && w->pi && w->addr == addr; });
}

namespace {

// A compare-and-swap of a guest word the monitor writes: the address space
// held meanwhile (AddressSpace::Hold).
bool Swap(const AddressSpace& mm, uint32_t* word, uint32_t* expected, uint32_t next) {
  const auto hold = mm.Hold();
  return __atomic_compare_exchange_n(word, expected, next, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

}  // namespace

int64_t Futexes::LockPi(Task& t, const AddressSpace& mm, uint32_t* word, uint64_t addr, const timespec* deadline,
                        clockid_t clock, const std::function<bool(int)>& is_live) {
  const uint32_t tid = static_cast<uint32_t>(t.tid);
  Waiter self{&t, addr, 0, true, false};
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    uint32_t val = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    const uint32_t owner = val & FUTEX_TID_MASK;
    if (owner == 0) {
      // Free (or its robust owner died): it is this thread's, waiters kept.
      const uint32_t next = tid | (val & FUTEX_OWNER_DIED) | (PiWaiters(addr, &self) ? FUTEX_WAITERS : 0);
      if (Swap(mm, word, &val, next)) return 0;
      continue;
    }
    if (owner == tid) return -EDEADLK;
    if (!(val & FUTEX_OWNER_DIED) && !is_live(static_cast<int>(owner))) return -ESRCH;
    if (!(val & FUTEX_WAITERS) && !Swap(mm, word, &val, val | FUTEX_WAITERS))
      continue;  // the owner changed it meanwhile (an unlock in user space)
    self.granted = false;
    t.futex_wake.store(0, std::memory_order_relaxed);
    waiters_.push_back(&self);
    lock.unlock();
    const int64_t r = Sleep(t, deadline, clock);
    lock.lock();
    if (self.granted) return 0;  // UNLOCK_PI made it the owner (and dequeued it)
    waiters_.remove(&self);
    if (r < 0) return r;
    // Woken without the lock (its owner died): try again.
  }
}

int64_t Futexes::TrylockPi(Task& t, const AddressSpace& mm, uint32_t* word) {
  const uint32_t tid = static_cast<uint32_t>(t.tid);
  std::lock_guard<std::mutex> lock(mutex_);
  for (;;) {
    uint32_t val = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    const uint32_t owner = val & FUTEX_TID_MASK;
    if (owner == tid) return -EDEADLK;
    if (owner != 0) return -EAGAIN;
    if (Swap(mm, word, &val, tid | (val & (FUTEX_OWNER_DIED | FUTEX_WAITERS)))) return 0;
  }
}

int64_t Futexes::UnlockPi(Task& t, const AddressSpace& mm, uint32_t* word, uint64_t addr) {
  const uint32_t tid = static_cast<uint32_t>(t.tid);
  std::lock_guard<std::mutex> lock(mutex_);
  for (;;) {
    uint32_t val = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    if ((val & FUTEX_TID_MASK) != tid) return -EPERM;
    Waiter* next = nullptr;
    for (Waiter* w : waiters_)
      if (w->pi && w->addr == addr) {
        next = w;
        break;
      }
    // The first waiter becomes the owner; the word keeps FUTEX_WAITERS while
    // others wait.
    const uint32_t value =
        next ? static_cast<uint32_t>(next->task->tid) | (PiWaiters(addr, next) ? FUTEX_WAITERS : 0) : 0;
    if (!Swap(mm, word, &val, value)) continue;
    if (next) {
      waiters_.remove(next);
      next->granted = true;
      WakeTask(next->task);
    }
    return 0;
  }
}

int Futexes::WakeLocked(uint64_t addr, int n, uint32_t bitset) {
  if (n <= 0) n = 1;  // Linux's futex_wake wakes one before it compares
  int woken = 0;
  for (auto it = waiters_.begin(); it != waiters_.end() && woken < n;) {
    Waiter* w = *it;
    if (w->addr != addr || w->pi || !(w->bitset & bitset)) {
      ++it;
      continue;
    }
    it = waiters_.erase(it);
    WakeTask(w->task);  // `w` lives on the waiter's stack: not touched again
    woken++;
  }
  return woken;
}

int Futexes::Wake(uint64_t addr, int n, uint32_t bitset) {
  std::lock_guard<std::mutex> lock(mutex_);
  return WakeLocked(addr, n, bitset);
}

int64_t Futexes::Requeue(uint64_t addr, int wake, int requeue, uint64_t addr2, const uint32_t* word, bool compare,
                         uint32_t value) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (compare && __atomic_load_n(word, __ATOMIC_SEQ_CST) != value) return -EAGAIN;
  // Not WakeLocked: a requeue's wake count of 0 wakes none.
  int woken = 0;
  for (auto it = waiters_.begin(); it != waiters_.end() && woken < wake;) {
    Waiter* w = *it;
    if (w->addr != addr) {
      ++it;
      continue;
    }
    it = waiters_.erase(it);
    WakeTask(w->task);
    woken++;
  }
  int moved = 0;
  for (Waiter* w : waiters_) {
    if (moved >= requeue) break;
    if (w->addr != addr) continue;
    w->addr = addr2;
    moved++;
  }
  return woken + moved;
}

int Futexes::WakeOp(uint64_t addr, int n, uint64_t addr2, int n2, const std::function<int()>& op) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int second = op();
  if (second < 0) return second;
  int woken = WakeLocked(addr, n, ~0u);
  if (second) woken += WakeLocked(addr2, n2, ~0u);
  return woken;
}

}  // namespace torov
