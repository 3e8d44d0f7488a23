// For the trace of threads (torov trace vs strace -f): a main thread and two
// workers, each making a few distinct calls whose lines are the same every
// run, in an order pthread_join fixes: main writes, starts A and waits for
// it, starts B and waits for it, writes again and exits 4. A ends with
// pthread_exit (the exit system call of one thread), B by returning.
// After each join main sleeps 20 ms with clock_nanosleep, a call the test
// leaves out: time for strace to see the worker gone before main's next
// line (strace learns of a thread's end after pthread_join does).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void *worker_a(void *arg) {
  (void)arg;
  write(1, "A: hello\n", 9);
  syscall(SYS_getpid);
  struct timespec zero = {0, 0};
  syscall(SYS_nanosleep, &zero, NULL);
  syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), 0);
  pthread_exit(NULL);
}

static void *worker_b(void *arg) {
  (void)arg;
  write(1, "B: hello\n", 9);
  syscall(SYS_gettid);
  syscall(SYS_sched_yield);
  struct timespec ns = {0, 1};
  syscall(SYS_nanosleep, &ns, NULL);
  return NULL;
}

static void settle(void) {
  struct timespec ms = {0, 20000000};
  syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ms, NULL);
}

int main(void) {
  write(1, "main: start\n", 12);
  pthread_t t;
  if (pthread_create(&t, NULL, worker_a, NULL) || pthread_join(t, NULL)) return 1;
  settle();
  if (pthread_create(&t, NULL, worker_b, NULL) || pthread_join(t, NULL)) return 1;
  settle();
  syscall(SYS_getpid);
  write(1, "main: end\n", 10);
  return 4;
}
