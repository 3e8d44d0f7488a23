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

 private:
  struct Waiter {
    Task* task;
    uint64_t addr;
    uint32_t bitset;
  };
  int WakeLocked(uint64_t addr, int n, uint32_t bitset);

  std::mutex mutex_;
  std::list<Waiter*> waiters_;
};

}  // namespace torov
