// Futexes on guest memory: the waits and wakes behind every libc's mutexes,
// condition variables, joins and once-calls, and Go's and Rust's parking.
//
// A guest thread waits on its own host word (Task::futex_wake) with the
// host's futex, so a wake costs one host wake-up and the waiter's exit back
// into the guest, and a wait is cut short (EINTR) by the kick that stops or
// signals its thread. The queue of waiters is one list under one lock: a
// process has at most RT_MAX_VCPUS threads. Keys are guest addresses: there
// is one address space and no shared mappings with other processes, so
// FUTEX_PRIVATE_FLAG changes nothing.
#pragma once

#include <time.h>

#include <cstdint>
#include <functional>
#include <list>
#include <mutex>

#include "memory.h"

namespace torov {

struct Task;

class Futexes {
 public:
  // FUTEX_WAIT and FUTEX_WAIT_BITSET: sleeps while the guest word at `addr`
  // (`word` is its host address) holds `value`, until a wake whose bitset
  // meets `bitset`, the absolute `deadline` on `clock` (none: nullptr), or
  // an interruption. 0, -EAGAIN (the word differed), -ETIMEDOUT or -EINTR.
  int64_t Wait(Task& t, const uint32_t* word, uint64_t addr, uint32_t value, uint32_t bitset,
               const timespec* deadline, clockid_t clock);
  // FUTEX_WAKE(_BITSET): wakes up to `n` waiters on `addr`; how many.
  int Wake(uint64_t addr, int n, uint32_t bitset = ~0u);
  // FUTEX_REQUEUE and FUTEX_CMP_REQUEUE (`compare`: -EAGAIN unless the word
  // at `word` holds `value`): wakes up to `wake` waiters on `addr` and moves
  // up to `requeue` more to wait on `addr2`. How many it woke and moved.
  int64_t Requeue(uint64_t addr, int wake, int requeue, uint64_t addr2, const uint32_t* word, bool compare,
                  uint32_t value);
  // FUTEX_WAKE_OP: under the queue's lock, `op` changes the word at addr2
  // and says whether waiters there wake too (1, else 0; -errno: nobody
  // wakes and that is the result); wakes up to `n` on `addr` and then, if
  // so, up to `n2` on `addr2`.
  //
  // Counts as Linux takes them: a wake's count of 0 or less still wakes one
  // waiter (futex_wake's `++ret >= nr_wake`), for FUTEX_WAKE and WAKE_OP.
  int WakeOp(uint64_t addr, int n, uint64_t addr2, int n2, const std::function<int()>& op);

  // The priority-inheritance protocol (PTHREAD_PRIO_INHERIT mutexes), as
  // Linux runs it on the word: the owner's tid, FUTEX_WAITERS while threads
  // wait, FUTEX_OWNER_DIED after a robust owner ended. There are no
  // priorities to inherit here (the host schedules the vCPU threads alike);
  // the lock is handed to the first waiter at unlock, as Linux does.
  // `is_live(tid)` says whether a tid names a thread of the process. `mm` is
  // held around each change of the word (never while the thread sleeps: an
  // owner that maps memory must be able to).
  // FUTEX_LOCK_PI(2): 0, -EDEADLK (its own), -ESRCH (no such owner),
  // -ETIMEDOUT at `deadline`, -EINTR when the thread is stopped or signalled.
  int64_t LockPi(Task& t, const AddressSpace& mm, uint32_t* word, uint64_t addr, const timespec* deadline,
                 clockid_t clock, const std::function<bool(int)>& is_live);
  // FUTEX_TRYLOCK_PI: 0, -EDEADLK or -EAGAIN (owned by another).
  int64_t TrylockPi(Task& t, const AddressSpace& mm, uint32_t* word);
  // FUTEX_UNLOCK_PI: 0, or -EPERM when the caller does not own it.
  int64_t UnlockPi(Task& t, const AddressSpace& mm, uint32_t* word, uint64_t addr);

 private:
  struct Waiter {
    Task* task;
    uint64_t addr;
    uint32_t bitset;
    bool pi = false;       // waits in LOCK_PI: woken only by UNLOCK_PI
    bool granted = false;  // ...which made it the owner
  };
  int WakeLocked(uint64_t addr, int n, uint32_t bitset);
  // Sleeps on the task's host word until woken, `deadline` or an
  // interruption: 0, -ETIMEDOUT or -EINTR (woken wins over both).
  int64_t Sleep(Task& t, const timespec* deadline, clockid_t clock);
  // Whether a LOCK_PI waiter other than `except` waits on `addr`.
  bool PiWaiters(uint64_t addr, const Waiter* except) const;

  std::mutex mutex_;
  std::list<Waiter*> waiters_;
};

}  // namespace torov
