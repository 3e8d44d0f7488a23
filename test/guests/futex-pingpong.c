// Futex ping-pong (issue 11's benchmark, npm run bench:threads): two
// threads bounce a token through one word with raw FUTEX_WAIT and
// FUTEX_WAKE, no libc locking in between, N round trips. Timed inside the
// program with clock_gettime(CLOCK_MONOTONIC) around each whole loop only
// (under torov each clock_gettime is a hypercall itself).
//
//   futex-pingpong [N]   prints, in this order:
//     roundtrip NS      ns per round trip (main -> partner -> main), each
//                       pass a store and a FUTEX_WAKE, each wait a
//                       FUTEX_WAIT while the token is away: four futex
//                       calls per round trip, of which the waits happen
//                       only when the token is not back yet
//     waits W           FUTEX_WAITs per round trip, both threads together
//                       (at most 2: fewer when the token came back while
//                       the thread was still in its FUTEX_WAKE)
//     eagain E          of those, waits that found the word changed
//     handoff NS        ns per round trip when each pass goes to a thread
//                       that is asleep: the same loop with one more futex
//                       call before each pass, one that wakes no one (a
//                       wake-alone), so that the other thread's FUTEX_WAIT
//                       has time to reach the kernel, or torov's monitor,
//                       and sleep. A round trip is then two wake-alones
//                       and two wake-ups of a sleeper; waits that had not
//                       slept yet are counted in handoff-eagain (the
//                       passer does not spin for the other to be asleep:
//                       a spinning thread can hold the CPU its partner
//                       needs for a whole scheduler tick)
//     handoff-eagain E  per round trip, waits that found the word changed
//     wake-alone NS     one FUTEX_WAKE with nobody waiting, for scale: a
//                       futex call that wakes no one
//     checksum C        what the partner saw: the same for every run of N
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// <linux/futex.h>'s values (musl's headers have no linux/).
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE_FLAG 128

// Whose turn: 0 = main's, 1 = the partner's.
static _Atomic uint32_t turn;
static long rounds;
static _Atomic long waits, eagains;
static uint64_t seen;  // the partner's checksum

static long futex(_Atomic uint32_t *addr, int op, uint32_t val) {
  return syscall(SYS_futex, addr, op | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
}

// Waits until `turn` is no longer `from`: FUTEX_WAIT while it holds it.
static void await_change(uint32_t from) {
  while (atomic_load_explicit(&turn, memory_order_acquire) == from) {
    atomic_fetch_add_explicit(&waits, 1, memory_order_relaxed);
    if (futex(&turn, FUTEX_WAIT, from) < 0) atomic_fetch_add_explicit(&eagains, 1, memory_order_relaxed);
  }
}

static void pass(uint32_t to) {
  atomic_store_explicit(&turn, to, memory_order_release);
  futex(&turn, FUTEX_WAKE, 1);
}

static _Atomic uint32_t lonely;  // a word nobody waits on

// Handoff mode's pass: after one futex call's time.
static void hand(uint32_t to) {
  futex(&lonely, FUTEX_WAKE, 1);
  pass(to);
}

static void *partner(void *arg) {
  (void)arg;
  for (long i = 0; i < rounds; i++) {
    await_change(0);  // wait for the token
    seen = seen * 31 + (uint64_t)i;
    pass(0);
  }
  for (long i = 0; i < rounds; i++) {
    await_change(0);
    seen = seen * 31 + (uint64_t)i;
    hand(0);
  }
  return NULL;
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

// Main's half of `n` round trips.
static void bounce(long n) {
  for (long i = 0; i < n; i++) {
    pass(1);
    await_change(1);  // wait for it back
  }
}

static void handoff(long n) {
  for (long i = 0; i < n; i++) {
    hand(1);
    await_change(1);
  }
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  const long warm = 200;
  if (n < 1) {
    fprintf(stderr, "usage: futex-pingpong [N >= 1]\n");
    return 2;
  }
  rounds = warm + n;
  pthread_t t;
  if (pthread_create(&t, NULL, partner, NULL) != 0) {
    perror("pthread_create");
    return 1;
  }
  bounce(warm);
  long w0 = atomic_load(&waits), e0 = atomic_load(&eagains);
  double t0 = now_ns();
  bounce(n);
  double t1 = now_ns();
  long w = atomic_load(&waits) - w0, e = atomic_load(&eagains) - e0;
  handoff(warm);
  long e1 = atomic_load(&eagains);
  double h0 = now_ns();
  handoff(n);
  double h1 = now_ns();
  long he = atomic_load(&eagains) - e1;
  pthread_join(t, NULL);

  // A FUTEX_WAKE on a word nobody waits on: one futex system call, no wake-up.
  for (int i = 0; i < 200; i++) futex(&lonely, FUTEX_WAKE, 1);
  double t2 = now_ns();
  for (long i = 0; i < n; i++) futex(&lonely, FUTEX_WAKE, 1);
  double t3 = now_ns();

  printf("roundtrip %.1f\nwaits %.3f\neagain %.3f\nhandoff %.1f\nhandoff-eagain %.3f\nwake-alone %.1f\nchecksum %llu\n",
         (t1 - t0) / n, (double)w / n, (double)e / n, (h1 - h0) / n, (double)he / n, (t3 - t2) / n,
         (unsigned long long)seen);
  return 0;
}
