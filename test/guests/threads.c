// Threads (issue 11): pthreads as a program uses them, with output that is
// the same every run, natively or under torov, whatever the number of CPUs.
// Nothing printed depends on timing: no addresses, tids or durations, and
// whatever threads compute is printed by main after it joined them.
//
//   threads                 every numbered section; "failures=0" at the end
//   threads crash           a worker dereferences NULL while main waits in
//                           pthread_join: the process dies of SIGSEGV (139)
//   threads exit-in-thread  a worker calls exit(3) while main waits in
//                           pthread_join for a thread blocked in read: 3
//   threads main-exit       main calls pthread_exit while a worker runs; the
//                           worker joins main, finishes, and the process
//                           exits 0
//   threads many N          N threads at once, each waiting until every
//                           creation was tried: how many pthread_create
//                           calls succeeded and the first error's name
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wunused-function"  // report.h's report: only errname is used
#include "report.h"

static int failures;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      printf("FAIL line %d: %s\n", __LINE__, #cond);                  \
      fflush(stdout);                                                 \
      failures++;                                                     \
    }                                                                 \
  } while (0)

// A line of output, flushed at once (a mode that dies next has said it).
#define SAY(...) (printf(__VA_ARGS__), fflush(stdout))

// The name of a pthread_* result (an error number, not errno).
static const char *ename(int e) {
  switch (e) {
    case 0: return "ok";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EDEADLK: return "EDEADLK";
    default: return errname(e);
  }
}

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

// pthread_create, or the end: a section cannot go on without its threads
// (it would wait for them for ever), so the program stops at once, and
// says why.
static void create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), intptr_t arg, int line) {
  int r = pthread_create(t, a, fn, (void *)arg);
  if (r == 0) return;
  printf("FAIL line %d: pthread_create: %s\nfailures=%d\n", line, ename(r), failures + 1);
  exit(1);
}
#define NEW(t, fn, arg) create(&(t), NULL, (fn), (intptr_t)(arg), __LINE__)
#define JOIN(t) CHECK(pthread_join((t), NULL) == 0)

// An absolute CLOCK_REALTIME deadline `ms` milliseconds from now.
static struct timespec in_ms(long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += (ms % 1000) * 1000000L;
  ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
  ts.tv_nsec %= 1000000000L;
  return ts;
}

// ---- 1 mutexes: a shared counter, and what each mutex type answers

#define MUTEX_THREADS 4
#define MUTEX_ROUNDS 100000
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *incrementer(void *arg) {
  (void)arg;
  for (int i = 0; i < MUTEX_ROUNDS; i++) {
    pthread_mutex_lock(&counter_lock);
    counter++;
    pthread_mutex_unlock(&counter_lock);
  }
  return NULL;
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static void *try_held(void *arg) {
  (void)arg;
  int r = pthread_mutex_trylock(&held);
  struct timespec soon = in_ms(20);
  return (void *)(intptr_t)(r << 16 | pthread_mutex_timedlock(&held, &soon));
}

static void mutexes(void) {
  pthread_t t[MUTEX_THREADS];
  for (int i = 0; i < MUTEX_THREADS; i++) NEW(t[i], incrementer, i);
  for (int i = 0; i < MUTEX_THREADS; i++) JOIN(t[i]);
  SAY("1 mutex: %d threads x %d increments: %ld\n", MUTEX_THREADS, MUTEX_ROUNDS, counter);
  CHECK(counter == (long)MUTEX_THREADS * MUTEX_ROUNDS);

  // Held here, another thread's trylock is EBUSY and a timed lock times out.
  pthread_mutex_lock(&held);
  pthread_t other;
  void *r;
  NEW(other, try_held, 0);
  CHECK(pthread_join(other, &r) == 0);
  int v = (int)(intptr_t)r;
  SAY("1 mutex: a mutex another thread holds: trylock %s, timedlock %s\n", ename(v >> 16), ename(v & 0xffff));
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t check;
  pthread_mutex_init(&check, &a);
  pthread_mutex_lock(&check);
  SAY("1 mutex: errorcheck mutex locked twice: %s\n", ename(pthread_mutex_lock(&check)));
  pthread_mutex_unlock(&check);
  SAY("1 mutex: errorcheck unlock when not the owner: %s\n", ename(pthread_mutex_unlock(&check)));
  pthread_mutex_unlock(&held);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_t rec;
  pthread_mutex_init(&rec, &a);
  int ok = 0;
  for (int i = 0; i < 3; i++) ok += pthread_mutex_lock(&rec) == 0;
  for (int i = 0; i < 3; i++) ok += pthread_mutex_unlock(&rec) == 0;
  SAY("1 mutex: recursive mutex locked and unlocked 3 times: %s\n", ok == 6 ? "ok" : "FAILED");
  CHECK(ok == 6);
}

// ---- 2 condition variables: a bounded queue, producers and consumers

#define QCAP 8
#define PRODUCERS 2
#define CONSUMERS 3
#define ITEMS 5000
static struct {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  int items[QCAP];
  int head, count;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0};

static void put(int v) {
  pthread_mutex_lock(&q.lock);
  while (q.count == QCAP) pthread_cond_wait(&q.not_full, &q.lock);
  q.items[(q.head + q.count++) % QCAP] = v;
  pthread_cond_signal(&q.not_empty);
  pthread_mutex_unlock(&q.lock);
}

static int take(void) {
  pthread_mutex_lock(&q.lock);
  while (q.count == 0) pthread_cond_wait(&q.not_empty, &q.lock);
  int v = q.items[q.head];
  q.head = (q.head + 1) % QCAP;
  q.count--;
  pthread_cond_signal(&q.not_full);
  pthread_mutex_unlock(&q.lock);
  return v;
}

static void *producer(void *arg) {
  (void)arg;
  for (int i = 1; i <= ITEMS; i++) put(i);
  return NULL;
}

struct tally {
  long n, sum;
};
static struct tally tallies[CONSUMERS];

static void *consumer(void *arg) {
  struct tally *t = &tallies[(intptr_t)arg];
  for (int v; (v = take()) != -1;) t->n++, t->sum += v;
  return NULL;
}

static int gen, woken;
static void *waiter(void *arg) {
  (void)arg;
  pthread_mutex_lock(&q.lock);
  int g = gen;
  woken++;  // counts arrivals first
  pthread_cond_signal(&q.not_full);
  while (gen == g) pthread_cond_wait(&q.not_empty, &q.lock);
  woken++;
  pthread_mutex_unlock(&q.lock);
  return NULL;
}

static void condvars(void) {
  pthread_t p[PRODUCERS], c[CONSUMERS];
  for (int i = 0; i < CONSUMERS; i++) NEW(c[i], consumer, i);
  for (int i = 0; i < PRODUCERS; i++) NEW(p[i], producer, i);
  for (int i = 0; i < PRODUCERS; i++) JOIN(p[i]);
  for (int i = 0; i < CONSUMERS; i++) put(-1);  // one end marker each
  for (int i = 0; i < CONSUMERS; i++) JOIN(c[i]);
  long n = 0, sum = 0;
  for (int i = 0; i < CONSUMERS; i++) n += tallies[i].n, sum += tallies[i].sum;
  SAY("2 condvar: %d producers, %d consumers: %ld items, sum %ld\n", PRODUCERS, CONSUMERS, n, sum);
  CHECK(n == PRODUCERS * ITEMS && sum == PRODUCERS * (long)ITEMS * (ITEMS + 1) / 2);
  // A wait nobody signals ends at its deadline, the mutex held again.
  pthread_mutex_lock(&q.lock);
  struct timespec soon = in_ms(20);
  int r;
  while ((r = pthread_cond_timedwait(&q.not_empty, &q.lock, &soon)) == 0) {
  }
  int again = pthread_mutex_trylock(&q.lock);  // EBUSY (default type): held
  pthread_mutex_unlock(&q.lock);
  SAY("2 condvar: timedwait nobody signals: %s, mutex held after: %s\n", ename(r), again == EBUSY ? "yes" : "no");
  // A broadcast wakes every waiter.
  pthread_t w[4];
  for (int i = 0; i < 4; i++) NEW(w[i], waiter, i);
  pthread_mutex_lock(&q.lock);
  while (woken < 4) pthread_cond_wait(&q.not_full, &q.lock);
  gen++;
  pthread_cond_broadcast(&q.not_empty);
  pthread_mutex_unlock(&q.lock);
  for (int i = 0; i < 4; i++) JOIN(w[i]);
  SAY("2 condvar: broadcast to 4 waiters: %d woke\n", woken - 4);
  CHECK(woken == 8);
}

// ---- 3 barriers

#define BARRIER_THREADS 4
#define BARRIER_ROUNDS 50
static pthread_barrier_t barrier;
static int slots[BARRIER_THREADS];
static int serials, torn;
static pthread_mutex_t tally_lock = PTHREAD_MUTEX_INITIALIZER;

static void *barrier_worker(void *arg) {
  int me = (int)(intptr_t)arg;
  for (int round = 0; round < BARRIER_ROUNDS; round++) {
    slots[me] = round * 100 + me;
    int r = pthread_barrier_wait(&barrier);
    int bad = 0;
    for (int i = 0; i < BARRIER_THREADS; i++) bad += slots[i] != round * 100 + i;
    pthread_mutex_lock(&tally_lock);
    torn += bad;
    serials += r == PTHREAD_BARRIER_SERIAL_THREAD;
    if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD) torn += 1000;
    pthread_mutex_unlock(&tally_lock);
    pthread_barrier_wait(&barrier);  // nobody writes the next round early
  }
  return NULL;
}

static void barriers(void) {
  CHECK(pthread_barrier_init(&barrier, NULL, BARRIER_THREADS) == 0);
  pthread_t t[BARRIER_THREADS];
  for (int i = 0; i < BARRIER_THREADS; i++) NEW(t[i], barrier_worker, i);
  for (int i = 0; i < BARRIER_THREADS; i++) JOIN(t[i]);
  pthread_barrier_destroy(&barrier);
  SAY("3 barrier: %d threads, %d rounds: %d stale slots seen, %d serial threads (one a round)\n", BARRIER_THREADS,
      BARRIER_ROUNDS, torn, serials);
  CHECK(torn == 0 && serials == BARRIER_ROUNDS);
}

// ---- 4 read-write locks

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static volatile long pair_a, pair_b;
static int torn_reads;

static void *rw_writer(void *arg) {
  (void)arg;
  for (int i = 0; i < 3000; i++) {
    pthread_rwlock_wrlock(&rw);
    pair_a++;
    if (i % 64 == 0) sched_yield();  // a reader must not get in now
    pair_b++;
    pthread_rwlock_unlock(&rw);
  }
  return NULL;
}

static void *rw_reader(void *arg) {
  (void)arg;
  int bad = 0;
  for (int i = 0; i < 3000; i++) {
    pthread_rwlock_rdlock(&rw);
    bad += pair_a != pair_b;
    pthread_rwlock_unlock(&rw);
  }
  __atomic_add_fetch(&torn_reads, bad, __ATOMIC_RELAXED);
  return NULL;
}

static void *rw_try(void *arg) {
  (void)arg;
  int w = pthread_rwlock_trywrlock(&rw);
  int r = pthread_rwlock_tryrdlock(&rw);
  if (r == 0) pthread_rwlock_unlock(&rw);
  return (void *)(intptr_t)(w << 16 | r);
}

static void rwlocks(void) {
  pthread_t t[6];
  for (int i = 0; i < 2; i++) NEW(t[i], rw_writer, i);
  for (int i = 2; i < 6; i++) NEW(t[i], rw_reader, i);
  for (int i = 0; i < 6; i++) JOIN(t[i]);
  SAY("4 rwlock: 2 writers x 3000, 4 readers x 3000: final %ld/%ld, torn reads %d\n", pair_a, pair_b, torn_reads);
  CHECK(pair_a == 6000 && pair_b == 6000 && torn_reads == 0);
  void *r;
  pthread_rwlock_rdlock(&rw);
  pthread_t o;
  NEW(o, rw_try, 0);
  CHECK(pthread_join(o, &r) == 0);
  pthread_rwlock_unlock(&rw);
  int v = (int)(intptr_t)r;
  SAY("4 rwlock: while read-locked, trywrlock: %s, tryrdlock: %s\n", ename(v >> 16), ename(v & 0xffff));
  pthread_rwlock_wrlock(&rw);
  NEW(o, rw_try, 0);
  CHECK(pthread_join(o, &r) == 0);
  pthread_rwlock_unlock(&rw);
  v = (int)(intptr_t)r;
  SAY("4 rwlock: while write-locked, trywrlock: %s, tryrdlock: %s\n", ename(v >> 16), ename(v & 0xffff));
}

// ---- 5 thread-local storage and errno

#define TLS_THREADS 4
static __thread int tls_init = 7;       // .tdata: each thread starts with 7
static __thread long tls_zero[512];     // .tbss: each thread starts with zeros
static pthread_barrier_t tls_barrier;
static char tls_result[TLS_THREADS][128];

static void *tls_worker(void *arg) {
  int me = (int)(intptr_t)arg;
  int start = tls_init;
  long zeros = 0;
  for (int i = 0; i < 512; i++) zeros += tls_zero[i] != 0;
  tls_init = 100 + me;
  for (int i = 0; i < 512; i++) tls_zero[i] = me + 1;
  // Each thread makes a different call fail, and then all look at errno
  // once all have: each sees its own.
  int fds[2] = {-1, -1};
  errno = 0;
  switch (me % 4) {
    case 0: close(-1); break;                              // EBADF
    case 1: open("/nonexistent/threads", O_RDONLY); break;  // ENOENT
    case 2:
      if (pipe(fds) == 0) lseek(fds[0], 0, SEEK_SET);  // ESPIPE
      break;
    case 3: mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); break;  // EINVAL
  }
  int mine = errno;
  pthread_barrier_wait(&tls_barrier);
  pthread_barrier_wait(&tls_barrier);
  long kept = 0;
  for (int i = 0; i < 512; i++) kept += tls_zero[i] == me + 1;
  snprintf(tls_result[me], sizeof tls_result[me], "started %d and %ld non-zero, kept %s and %s, errno %s kept: %s", start,
           zeros, tls_init == 100 + me ? "its value" : "ANOTHER", kept == 512 ? "its array" : "ANOTHER", errname(mine),
           errno == mine ? "yes" : "no");
  if (fds[0] >= 0) close(fds[0]), close(fds[1]);
  return NULL;
}

static void tls(void) {
  tls_init = 1;  // main's own copy
  pthread_barrier_init(&tls_barrier, NULL, TLS_THREADS);
  pthread_t t[TLS_THREADS];
  for (int i = 0; i < TLS_THREADS; i++) NEW(t[i], tls_worker, i);
  for (int i = 0; i < TLS_THREADS; i++) JOIN(t[i]);
  pthread_barrier_destroy(&tls_barrier);
  for (int i = 0; i < TLS_THREADS; i++) SAY("5 tls: thread %d %s\n", i, tls_result[i]);
  SAY("5 tls: main's value after: %d\n", tls_init);
  CHECK(tls_init == 1);
}

// ---- 6 pthread_join's return values

static void *square(void *arg) {
  intptr_t i = (intptr_t)arg;
  return (void *)(i * i + 1);
}

static void join_values(void) {
  pthread_t t[6];
  for (int i = 0; i < 6; i++) NEW(t[i], square, i);
  SAY("6 join: returned");
  for (int i = 5; i >= 0; i--) {  // not in creation order
    void *r = NULL;
    CHECK(pthread_join(t[i], &r) == 0);
    SAY(" %ld", (long)(intptr_t)r);
  }
  SAY("\n");
}

// ---- 7 detached threads

#define DETACHED 8
static sem_t detached_done;
static long detached_sum;

static void *detached_worker(void *arg) {
  long v = (long)(intptr_t)arg;
  for (volatile int i = 0; i < 10000 * (int)v; i++) {
  }
  __atomic_add_fetch(&detached_sum, v, __ATOMIC_RELAXED);
  sem_post(&detached_done);
  return NULL;
}

static void detached(void) {
  sem_init(&detached_done, 0, 0);
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  int made = 0;
  for (int i = 1; i <= DETACHED; i++) {
    pthread_t t;
    if (i % 2) {
      create(&t, &a, detached_worker, i, __LINE__);
      made++;
    } else {
      create(&t, NULL, detached_worker, i, __LINE__);
      made += pthread_detach(t) == 0;  // detached after it started
    }
  }
  pthread_attr_destroy(&a);
  for (int i = 0; i < made; i++) sem_wait(&detached_done);
  struct timespec soon = in_ms(10);
  int r = sem_timedwait(&detached_done, &soon);
  SAY("7 detached: %d created, all posted, sum %ld; one more sem_timedwait: %s\n", made, detached_sum,
      r == 0 ? "ok" : ename(errno));
  CHECK(made == DETACHED && detached_sum == DETACHED * (DETACHED + 1) / 2);
}

// ---- 8 pthread_exit while others run (with cleanup handlers, key destructors)

static pthread_key_t key;
static int destructor_ran, cleanup_ran, after_exit_ran;
static volatile int stop_spinner;

static void destructor(void *v) { destructor_ran = (int)(intptr_t)v; }
static void cleanup(void *v) { cleanup_ran = (int)(intptr_t)v; }

#pragma GCC diagnostic ignored "-Winfinite-recursion"
static void deep(int n) {
  if (n == 0) pthread_exit((void *)(intptr_t)42);
  deep(n - 1);
  after_exit_ran = 1;
}

static void *exiter(void *arg) {
  (void)arg;
  pthread_setspecific(key, (void *)(intptr_t)7);
  pthread_cleanup_push(cleanup, (void *)(intptr_t)9);
  deep(5);
  pthread_cleanup_pop(0);
  after_exit_ran = 1;
  return NULL;
}

static long spins;  // the spinner's laps, atomic
static void *spinner(void *arg) {
  (void)arg;
  while (!stop_spinner) __atomic_add_fetch(&spins, 1, __ATOMIC_RELAXED), sched_yield();
  return NULL;
}

static void thread_exit(void) {
  pthread_key_create(&key, destructor);
  pthread_t s, e;
  NEW(s, spinner, 0);
  while (!__atomic_load_n(&spins, __ATOMIC_RELAXED)) sched_yield();  // it runs
  NEW(e, exiter, 0);
  void *r = NULL;
  CHECK(pthread_join(e, &r) == 0);
  // The spinner goes on after the other's pthread_exit.
  long before = __atomic_load_n(&spins, __ATOMIC_RELAXED);
  while (__atomic_load_n(&spins, __ATOMIC_RELAXED) == before) sched_yield();
  stop_spinner = 1;
  JOIN(s);
  SAY("8 pthread_exit: joined with %ld, cleanup handler %d, key destructor %d, code after it ran: %s, the other thread "
      "ran on after it: yes\n",
      (long)(intptr_t)r, cleanup_ran, destructor_ran, after_exit_ran ? "yes" : "no");
  pthread_key_delete(key);
}

// ---- 9 pthread_self and thread ids

#define ID_THREADS 4
static pthread_barrier_t id_barrier;
static pthread_t selves[ID_THREADS + 1];
static pid_t tids[ID_THREADS + 1], pids[ID_THREADS + 1];

static void *identify(void *arg) {
  int me = (int)(intptr_t)arg;
  selves[me] = pthread_self();
  tids[me] = tid();
  pids[me] = getpid();
  pthread_barrier_wait(&id_barrier);  // all alive at once: no id reused
  return NULL;
}

static void ids(void) {
  pthread_barrier_init(&id_barrier, NULL, ID_THREADS + 1);
  pthread_t t[ID_THREADS];
  for (int i = 1; i <= ID_THREADS; i++) NEW(t[i - 1], identify, i);
  identify(0);
  int self_eq = 0, tid_eq = 0, pid_ne = 0, created_eq = 0;
  for (int i = 0; i <= ID_THREADS; i++) {
    for (int j = i + 1; j <= ID_THREADS; j++) self_eq += pthread_equal(selves[i], selves[j]) != 0, tid_eq += tids[i] == tids[j];
    pid_ne += pids[i] != getpid();
    if (i) created_eq += pthread_equal(selves[i], t[i - 1]) != 0;
  }
  for (int i = 0; i < ID_THREADS; i++) JOIN(t[i]);
  pthread_barrier_destroy(&id_barrier);
  SAY("9 ids: pthread_self distinct: %s, as pthread_create said: %s, gettid distinct: %s, getpid shared: %s, main's "
      "tid is the pid: %s, a worker's is not: %s\n",
      self_eq ? "no" : "yes", created_eq == ID_THREADS ? "yes" : "no", tid_eq ? "no" : "yes", pid_ne ? "no" : "yes",
      tids[0] == getpid() ? "yes" : "no", tids[1] != getpid() ? "yes" : "no");
}

// ---- 10 sched_yield: two threads take turns, each yielding while it waits

#define TURNS 2000
static volatile int turn;
static int out_of_turn;

static void *taker(void *arg) {
  int me = (int)(intptr_t)arg;
  for (int i = 0; i < TURNS; i++) {
    while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) % 2 != me) sched_yield();
    if (turn != 2 * i + me) out_of_turn++;
    __atomic_store_n(&turn, turn + 1, __ATOMIC_RELEASE);
  }
  return NULL;
}

static void yields(void) {
  pthread_t a, b;
  NEW(a, taker, 0);
  NEW(b, taker, 1);
  JOIN(a);
  JOIN(b);
  SAY("10 sched_yield: %d turns taken in order, %d out of order\n", turn, out_of_turn);
  CHECK(turn == 2 * TURNS && out_of_turn == 0);
}

// ---- 11 sched_getaffinity

static int affinity_ok(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  int n = CPU_COUNT(&set);
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return n >= 1 && n <= CPU_SETSIZE && online >= 1;
}

static void *affinity_worker(void *arg) {
  (void)arg;
  return (void *)(intptr_t)affinity_ok();
}

static void affinity(void) {
  pthread_t t;
  void *r = NULL;
  NEW(t, affinity_worker, 0);
  CHECK(pthread_join(t, &r) == 0);
  SAY("11 sched_getaffinity: main %s, a thread %s\n", affinity_ok() ? "ok" : "FAILED", r ? "ok" : "FAILED");
}

// ---- 12 pthread_cancel of a thread blocked in a cond wait, sleep and read

static pthread_mutex_t cancel_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cancel_cond = PTHREAD_COND_INITIALIZER;
static int cancel_waiting, cancel_cleanups;
static sem_t cancel_ready;
static int cancel_pipe[2];

static void cancel_unlock(void *m) {
  cancel_cleanups++;
  pthread_mutex_unlock(m);
}
static void cancel_count(void *v) {
  (void)v;
  __atomic_add_fetch(&cancel_cleanups, 1, __ATOMIC_RELAXED);
}

static void *cancel_in_wait(void *arg) {
  (void)arg;
  pthread_mutex_lock(&cancel_lock);
  pthread_cleanup_push(cancel_unlock, &cancel_lock);
  cancel_waiting = 1;
  for (;;) pthread_cond_wait(&cancel_cond, &cancel_lock);  // nobody signals
  pthread_cleanup_pop(1);
  return NULL;
}

static void *cancel_in_sleep(void *arg) {
  (void)arg;
  pthread_cleanup_push(cancel_count, NULL);
  sem_post(&cancel_ready);
  sleep(30);
  pthread_cleanup_pop(0);
  return (void *)1;
}

static void *cancel_in_read(void *arg) {
  (void)arg;
  char c;
  pthread_cleanup_push(cancel_count, NULL);
  sem_post(&cancel_ready);
  if (read(cancel_pipe[0], &c, 1) < 0) SAY("read failed\n");
  pthread_cleanup_pop(0);
  return (void *)1;
}

static sem_t go;
static void *stubborn(void *arg) {
  (void)arg;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  sem_wait(&go);  // cancelled meanwhile, but disabled
  int old;
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
  pthread_testcancel();
  return (void *)(intptr_t)2;
}

static const char *cancelled(pthread_t t) {
  void *r = NULL;
  if (pthread_cancel(t) != 0) return "pthread_cancel failed";
  if (pthread_join(t, &r) != 0) return "pthread_join failed";
  return r == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "NOT CANCELLED";
}

static void cancels(void) {
  pthread_t t;
  NEW(t, cancel_in_wait, 0);
  for (;;) {  // the waiter released the mutex: it is in the wait
    pthread_mutex_lock(&cancel_lock);
    int w = cancel_waiting;
    pthread_mutex_unlock(&cancel_lock);
    if (w) break;
    sched_yield();
  }
  const char *r = cancelled(t);
  int relock = pthread_mutex_trylock(&cancel_lock);  // the cleanup unlocked it
  if (relock == 0) pthread_mutex_unlock(&cancel_lock);
  SAY("12 cancel: in pthread_cond_wait: %s, cleanup ran %d, mutex free after: %s\n", r, cancel_cleanups,
      relock == 0 ? "yes" : "no");
  sem_init(&cancel_ready, 0, 0);
  NEW(t, cancel_in_sleep, 0);
  sem_wait(&cancel_ready);
  usleep(2000);  // most likely in the sleep by now; if not, it acts there
  r = cancelled(t);
  SAY("12 cancel: in sleep: %s, cleanups %d\n", r, cancel_cleanups);
  CHECK(pipe(cancel_pipe) == 0);
  NEW(t, cancel_in_read, 0);
  sem_wait(&cancel_ready);
  usleep(2000);
  r = cancelled(t);
  SAY("12 cancel: in read of an empty pipe: %s, cleanups %d\n", r, cancel_cleanups);
  close(cancel_pipe[0]);
  close(cancel_pipe[1]);
  // Cancellation disabled: the request waits until it is enabled again.
  sem_init(&go, 0, 0);
  NEW(t, stubborn, 0);
  CHECK(pthread_cancel(t) == 0);
  sem_post(&go);
  void *v = NULL;
  CHECK(pthread_join(t, &v) == 0);
  SAY("12 cancel: while disabled, then pthread_testcancel: %s\n", v == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "NOT CANCELLED");
}

// ---- 13 pthread_once

#define ONCE_THREADS 8
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs, once_seen;
static pthread_barrier_t once_barrier;

static void once_init(void) {
  for (volatile int i = 0; i < 200000; i++) {
  }  // long enough for the others to arrive and wait
  __atomic_add_fetch(&once_runs, 1, __ATOMIC_RELAXED);
}

static void *once_worker(void *arg) {
  (void)arg;
  pthread_barrier_wait(&once_barrier);
  pthread_once(&once, once_init);
  if (__atomic_load_n(&once_runs, __ATOMIC_RELAXED) == 1) __atomic_add_fetch(&once_seen, 1, __ATOMIC_RELAXED);
  return NULL;
}

static void onces(void) {
  pthread_barrier_init(&once_barrier, NULL, ONCE_THREADS);
  pthread_t t[ONCE_THREADS];
  for (int i = 0; i < ONCE_THREADS; i++) NEW(t[i], once_worker, i);
  for (int i = 0; i < ONCE_THREADS; i++) JOIN(t[i]);
  pthread_barrier_destroy(&once_barrier);
  SAY("13 pthread_once: %d threads: the init ran %d time(s), %d saw it done\n", ONCE_THREADS, once_runs, once_seen);
}

// ---- 14 a robust mutex whose owner dies holding it

static pthread_mutex_t robust;

static void *die_holding(void *arg) {
  (void)arg;
  pthread_mutex_lock(&robust);
  return NULL;  // ends without unlocking
}

static void robust_mutex(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&robust, &a);
  pthread_t t;
  NEW(t, die_holding, 0);
  JOIN(t);
  int r = pthread_mutex_lock(&robust);
  int c = r == EOWNERDEAD ? pthread_mutex_consistent(&robust) : -1;
  pthread_mutex_unlock(&robust);
  int again = pthread_mutex_lock(&robust);
  pthread_mutex_unlock(&robust);
  SAY("14 robust: lock after its owner ended: %s, consistent: %s, lock again: %s\n", ename(r), ename(c), ename(again));
  // Unlocked without pthread_mutex_consistent, it cannot be used again.
  NEW(t, die_holding, 0);
  JOIN(t);
  r = pthread_mutex_lock(&robust);
  pthread_mutex_unlock(&robust);
  again = pthread_mutex_lock(&robust);
  SAY("14 robust: owner ended again, unlocked without consistent: %s then %s\n", ename(r), ename(again));
}

// ---- 15 futex-heavy contention

#define CONTENDERS 4
#define CONTENTION 20000
static pthread_mutex_t hot = PTHREAD_MUTEX_INITIALIZER;
static long hot_counter;
static long hot_shadow[CONTENDERS];
static pthread_mutex_t ping_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ping_cond = PTHREAD_COND_INITIALIZER;
static int ball;

static void *contender(void *arg) {
  int me = (int)(intptr_t)arg;
  for (int i = 0; i < CONTENTION; i++) {
    pthread_mutex_lock(&hot);
    long v = hot_counter;
    if (i % 1000 == 0) sched_yield();  // holding it: the others block in futex
    hot_counter = v + 1;
    hot_shadow[me]++;
    pthread_mutex_unlock(&hot);
  }
  return NULL;
}

static void *ponger(void *arg) {
  int me = (int)(intptr_t)arg;
  pthread_mutex_lock(&ping_lock);
  for (int i = 0; i < 1000; i++) {
    while (ball % 2 != me) pthread_cond_wait(&ping_cond, &ping_lock);
    ball++;
    pthread_cond_signal(&ping_cond);
  }
  pthread_mutex_unlock(&ping_lock);
  return NULL;
}

static void contention(void) {
  pthread_t t[CONTENDERS];
  for (int i = 0; i < CONTENDERS; i++) NEW(t[i], contender, i);
  for (int i = 0; i < CONTENDERS; i++) JOIN(t[i]);
  long shadow = 0;
  for (int i = 0; i < CONTENDERS; i++) shadow += hot_shadow[i];
  SAY("15 contention: %d threads x %d lock/unlock: %ld (each thread's own counts add up to %ld)\n", CONTENDERS,
      CONTENTION, hot_counter, shadow);
  CHECK(hot_counter == CONTENDERS * CONTENTION && shadow == hot_counter);
  pthread_t a, b;
  NEW(a, ponger, 0);
  NEW(b, ponger, 1);
  JOIN(a);
  JOIN(b);
  SAY("15 contention: condvar ping-pong between 2 threads: %d hits\n", ball);
  CHECK(ball == 2000);
}

// ---- 16 signals: one sent to a thread, one to the process

static volatile int usr1_at, usr2_at;
static __thread int my_index;
static void on_usr(int sig) {
  if (sig == SIGUSR1) usr1_at = my_index;
  if (sig == SIGUSR2) usr2_at = my_index;
}
static sem_t sig_ready, sig_done;

static void *sig_target(void *arg) {
  my_index = (int)(intptr_t)arg;
  sigset_t all, none;
  sigemptyset(&none);
  sigemptyset(&all);
  sigaddset(&all, SIGUSR1);
  sigaddset(&all, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  sem_post(&sig_ready);
  // Waits for its signal with nothing blocked: the one thread that takes
  // SIGUSR2, and the one that pthread_kill names for SIGUSR1.
  while (!(my_index == 1 ? usr1_at : usr2_at)) sigsuspend(&none);
  sem_post(&sig_done);
  return NULL;
}

static void signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  sigset_t both, old;
  sigemptyset(&both);
  sigaddset(&both, SIGUSR1);
  sigaddset(&both, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &both, &old);  // main takes neither
  sem_init(&sig_ready, 0, 0);
  sem_init(&sig_done, 0, 0);
  pthread_t t1, t2;
  NEW(t1, sig_target, 1);
  NEW(t2, sig_target, 2);
  sem_wait(&sig_ready);
  sem_wait(&sig_ready);
  CHECK(pthread_kill(t1, SIGUSR1) == 0);
  sem_wait(&sig_done);
  CHECK(kill(getpid(), SIGUSR2) == 0);
  sem_wait(&sig_done);
  JOIN(t1);
  JOIN(t2);
  SAY("16 signals: pthread_kill(thread 1, SIGUSR1) ran in thread %d; SIGUSR2 to the process ran in thread %d\n", usr1_at,
      usr2_at);
  SAY("16 signals: pthread_kill of a live thread with 0: %s\n", ename(pthread_kill(pthread_self(), 0)));
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  signal(SIGUSR1, SIG_DFL);
  signal(SIGUSR2, SIG_DFL);
}

// ---- 17 stacks: a small one, and one the program gives

static int depth(int n) {
  volatile char pad[512];
  pad[0] = (char)n;
  return n == 0 ? pad[0] : depth(n - 1) + 1 + pad[0] * 0;
}
static void *climb(void *arg) { return (void *)(intptr_t)depth((int)(intptr_t)arg); }

static void stacks(void) {
  pthread_attr_t a;
  pthread_attr_init(&a);
  CHECK(pthread_attr_setstacksize(&a, 64 * 1024) == 0);
  pthread_t t;
  void *r = NULL;
  create(&t, &a, climb, 40, __LINE__);
  CHECK(pthread_join(t, &r) == 0);
  SAY("17 stacks: 64 KiB stack, 40 frames of 512 bytes: %ld\n", (long)(intptr_t)r);
  pthread_attr_destroy(&a);
  size_t size = 256 * 1024;
  void *mem = aligned_alloc(4096, size);
  pthread_attr_init(&a);
  CHECK(pthread_attr_setstack(&a, mem, size) == 0);
  create(&t, &a, climb, 100, __LINE__);
  CHECK(pthread_join(t, &r) == 0);
  SAY("17 stacks: a stack from malloc, 100 frames: %ld\n", (long)(intptr_t)r);
  pthread_attr_destroy(&a);
  free(mem);
}

// ---- modes

static void *crasher(void *arg) {
  (void)arg;
  usleep(1000);
  return (void *)(intptr_t)*(volatile int *)0;
}

static int exit_pipe[2];
static void *blocked_reader(void *arg) {
  (void)arg;
  char c;
  if (read(exit_pipe[0], &c, 1) < 0) SAY("read failed\n");
  SAY("the reader was woken: wrong\n");
  return NULL;
}
static void *exiter3(void *arg) {
  (void)arg;
  usleep(2000);
  SAY("a thread calls exit(3)\n");
  exit(3);
}

static pthread_t main_thread;
static void *late_worker(void *arg) {
  (void)arg;
  void *r = (void *)1;
  int j = pthread_join(main_thread, &r);  // main has gone when this returns
  SAY("the worker joined main: %s, its value %s; the worker finishes\n", ename(j), r == NULL ? "NULL" : "not NULL");
  return NULL;
}

static pthread_mutex_t many_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t many_cond = PTHREAD_COND_INITIALIZER;
static int many_started, many_released;
static void *many_worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&many_lock);
  many_started++;
  pthread_cond_broadcast(&many_cond);
  while (!many_released) pthread_cond_wait(&many_cond, &many_lock);
  pthread_mutex_unlock(&many_lock);
  return NULL;
}

static int many(int n) {
  pthread_t *t = calloc((size_t)n, sizeof *t);
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 128 * 1024);
  int made = 0, first = 0;
  for (int i = 0; i < n; i++) {
    int r = pthread_create(&t[made], &a, many_worker, NULL);
    if (r == 0)
      made++;
    else if (!first)
      first = r;
  }
  pthread_mutex_lock(&many_lock);
  while (many_started < made) pthread_cond_wait(&many_cond, &many_lock);
  SAY("many: %d of %d created, all running at once: %d\n", made, n, many_started);
  SAY("many: first error: %s\n", first ? ename(first) : "none");
  many_released = 1;
  pthread_cond_broadcast(&many_cond);
  pthread_mutex_unlock(&many_lock);
  int joined = 0;
  for (int i = 0; i < made; i++) joined += pthread_join(t[i], NULL) == 0;
  SAY("many: joined %d\n", joined);
  free(t);
  return joined == made ? 0 : 1;
}

// ---- 18 priority-inheritance mutexes (FUTEX_LOCK_PI, UNLOCK_PI, TRYLOCK_PI)

static pthread_mutex_t pi;
static long pi_counter;
static void *pi_contender(void *arg) {
  (void)arg;
  for (int i = 0; i < 5000; i++) {
    pthread_mutex_lock(&pi);
    long v = pi_counter;
    if (i % 500 == 0) sched_yield();  // holding it: the others wait in FUTEX_LOCK_PI
    pi_counter = v + 1;
    pthread_mutex_unlock(&pi);
  }
  return NULL;
}
static void *pi_try(void *arg) {
  (void)arg;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += 20 * 1000 * 1000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  int t = pthread_mutex_trylock(&pi);
  int timed = pthread_mutex_timedlock(&pi, &ts);
  return (void *)(intptr_t)((t << 16) | timed);
}
static void *pi_die_holding(void *arg) {
  (void)arg;
  pthread_mutex_lock(&pi);
  return NULL;
}

static void prio_inherit(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  CHECK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT) == 0);
  CHECK(pthread_mutex_init(&pi, &a) == 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) NEW(t[i], pi_contender, i);
  for (int i = 0; i < 4; i++) JOIN(t[i]);
  SAY("18 prio-inherit: 4 threads x 5000 lock/unlock: %ld\n", pi_counter);
  CHECK(pi_counter == 20000);
  CHECK(pthread_mutex_lock(&pi) == 0);
  void *v;
  NEW(t[0], pi_try, 0);
  CHECK(pthread_join(t[0], &v) == 0);
  pthread_mutex_unlock(&pi);
  SAY("18 prio-inherit: held by another: trylock %s, timedlock %s\n", ename((int)((intptr_t)v >> 16)),
      ename((int)((intptr_t)v & 0xffff)));
  pthread_mutex_destroy(&pi);
  // Robust and priority-inheriting: the owner's death is seen too.
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  CHECK(pthread_mutex_init(&pi, &a) == 0);
  NEW(t[0], pi_die_holding, 0);
  JOIN(t[0]);
  int r = pthread_mutex_lock(&pi);
  int c = r == EOWNERDEAD ? pthread_mutex_consistent(&pi) : -1;
  pthread_mutex_unlock(&pi);
  SAY("18 prio-inherit: robust, lock after its owner ended: %s, consistent: %s\n", ename(r), ename(c));
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "crash")) {
    SAY("a thread dereferences NULL while main waits in pthread_join\n");
    pthread_t t;
    NEW(t, crasher, 0);
    pthread_join(t, NULL);
    SAY("still alive: wrong\n");
    return 1;
  }
  if (!strcmp(mode, "exit-in-thread")) {
    SAY("main waits in pthread_join for a thread blocked in read\n");
    CHECK(pipe(exit_pipe) == 0);
    pthread_t r, e;
    NEW(r, blocked_reader, 0);
    NEW(e, exiter3, 0);
    pthread_join(r, NULL);
    SAY("still alive: wrong\n");
    return 1;
  }
  if (!strcmp(mode, "main-exit")) {
    SAY("main calls pthread_exit while a worker runs\n");
    pthread_t t;
    main_thread = pthread_self();
    NEW(t, late_worker, 0);
    pthread_exit(NULL);
  }
  if (!strcmp(mode, "many")) return many(argc > 2 ? atoi(argv[2]) : 100);
  if (*mode) {
    fprintf(stderr, "threads: unknown mode %s\n", mode);
    return 2;
  }
  mutexes();
  condvars();
  barriers();
  rwlocks();
  tls();
  join_values();
  detached();
  thread_exit();
  ids();
  yields();
  affinity();
  cancels();
  onces();
  robust_mutex();
  contention();
  signals();
  stacks();
  prio_inherit();
  SAY("failures=%d\n", failures);
  return failures ? 1 : 0;
}
