// Futex corner cases whose answers a program can see, printed the same
// natively and under torov (test/e2e/threads.test.ts compares the two):
// how many a wake with count 0 or -1 wakes, a requeue onto the same
// address, CMP_REQUEUE with a stale value, WAKE_OP with a shift past 31.
// Each case parks one waiter first and makes sure it is asleep.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// linux/futex.h's values (musl's include path has no kernel headers).
#define FUTEX_WAKE_PRIVATE 129
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_REQUEUE_PRIVATE 131
#define FUTEX_CMP_REQUEUE_PRIVATE 132
#define FUTEX_WAKE_OP_PRIVATE 133
#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_OPARG_SHIFT 8
#define FUTEX_OP_CMP_EQ 0
#define FUTEX_OP(op, oparg, cmp, cmparg) \
  (((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff))

static uint32_t word, word2;
static atomic_int waiting;

static long futex(uint32_t *a, int op, uint32_t val, long val2, uint32_t *a2, uint32_t val3) {
  return syscall(SYS_futex, a, op, val, val2, a2, val3);
}

static void *waiter(void *arg) {
  atomic_store(&waiting, 1);
  struct timespec ts = {2, 0};  // a lost wake-up shows as a timeout, not a hang
  long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, (long)&ts, NULL, 0);
  return (void *)(r < 0 ? (long)-errno : r);
}

static pthread_t park(void) {
  pthread_t t;
  word = 0;
  atomic_store(&waiting, 0);
  pthread_create(&t, NULL, waiter, NULL);
  while (!atomic_load(&waiting)) sched_yield();
  struct timespec pause = {0, 50 * 1000 * 1000};
  nanosleep(&pause, NULL);  // long enough to be in the wait
  return t;
}

static const char *res(long r) {
  static char buf[32];
  if (r < 0) snprintf(buf, sizeof buf, "%s", errno == EAGAIN ? "EAGAIN" : errno == EINVAL ? "EINVAL" : errno == ENOSYS ? "ENOSYS" : "other");
  else snprintf(buf, sizeof buf, "%ld", r);
  return buf;
}

static void unpark(pthread_t t, const char *what, long r) {
  printf("%s: %s", what, res(r));
  futex(&word, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0);
  futex(&word2, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0);
  void *out;
  pthread_join(t, &out);
  printf(", waiter %s\n", (long)out == 0 ? "woken" : (long)out == -ETIMEDOUT ? "timed out" : "other");
}

int main(void) {
  pthread_t t;
  t = park();
  unpark(t, "FUTEX_WAKE 0", futex(&word, FUTEX_WAKE_PRIVATE, 0, 0, NULL, 0));
  t = park();
  unpark(t, "FUTEX_WAKE -1", futex(&word, FUTEX_WAKE_PRIVATE, (uint32_t)-1, 0, NULL, 0));
  t = park();
  unpark(t, "FUTEX_REQUEUE onto itself (wake 0, move 1)", futex(&word, FUTEX_REQUEUE_PRIVATE, 0, 1, &word, 0));
  t = park();
  unpark(t, "FUTEX_CMP_REQUEUE onto itself (wake 0, move 1)", futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 0, 1, &word, 0));
  t = park();
  unpark(t, "FUTEX_CMP_REQUEUE val3 differs", futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, &word2, 7));
  t = park();
  unpark(t, "FUTEX_CMP_REQUEUE (wake 0, move 1) to word2", futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 0, 1, &word2, 0));
  t = park();
  word2 = 0;
  long r = futex(&word2, FUTEX_WAKE_OP_PRIVATE, 1, 1, &word,
                 FUTEX_OP((FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT), 33, FUTEX_OP_CMP_EQ, 0));
  printf("FUTEX_WAKE_OP shift 33: %s, word %u\n", res(r), word);
  word = 0;
  unpark(t, "after WAKE_OP", 0);
  t = park();
  unpark(t, "FUTEX_WAKE_OP count 0 on the waiter's word",
         futex(&word, FUTEX_WAKE_OP_PRIVATE, 0, 0, &word2, FUTEX_OP(FUTEX_OP_ADD, 0, FUTEX_OP_CMP_EQ, 1)));
  return 0;
}
