// Parallel CPU work (issue 11's benchmark, npm run bench:threads): a fixed
// amount of integer work split over T threads, no system calls inside the
// loop, so that T threads on T vCPUs should take 1/T of the time.
//
//   spin [T] [MILLIONS]   sums a mixing function of every index below
//                         MILLIONS * 2^20, in T equal slices, one thread
//                         each (T = 1 still runs its slice in a thread);
//                         prints, in this order:
//     threads T
//     ms MS               create to last join, CLOCK_MONOTONIC
//     checksum C          the same for every T (the sum does not depend
//                         on how the indices are split)
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_THREADS 64

struct slice {
  uint64_t from, to, sum;
};

// splitmix64's finaliser, a few times over: integer work the compiler cannot
// fold away, with no memory traffic.
static uint64_t mix(uint64_t x) {
  for (int r = 0; r < 4; r++) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
  }
  return x;
}

static void *work(void *arg) {
  struct slice *s = arg;
  uint64_t sum = 0;
  for (uint64_t i = s->from; i < s->to; i++) sum += mix(i);
  s->sum = sum;
  return NULL;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  long millions = argc > 2 ? atol(argv[2]) : 64;
  if (n < 1 || n > MAX_THREADS || millions < 1) {
    fprintf(stderr, "usage: spin [T in 1..%d] [MILLIONS >= 1]\n", MAX_THREADS);
    return 2;
  }
  uint64_t total = (uint64_t)millions << 20;
  struct slice s[MAX_THREADS];
  pthread_t t[MAX_THREADS];
  double t0 = now_ms();
  for (int i = 0; i < n; i++) {
    s[i] = (struct slice){total * i / n, total * (i + 1) / n, 0};
    if (pthread_create(&t[i], NULL, work, &s[i]) != 0) {
      perror("pthread_create");
      return 1;
    }
  }
  uint64_t sum = 0;
  for (int i = 0; i < n; i++) {
    pthread_join(t[i], NULL);
    sum += s[i].sum;
  }
  double t1 = now_ms();
  printf("threads %d\nms %.2f\nchecksum %llu\n", n, t1 - t0, (unsigned long long)sum);
  return 0;
}
