// For the debugger tests of threads: a main thread and two workers whose
// stops come in a fixed order. Main makes each worker in turn and waits
// until it has called work() (where the tests break); each worker then
// spins in user code until main says stop (so that an interrupt finds the
// workers running), and returns.
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sem_t done[3];
static volatile int stop_spinning;
static volatile int release;  // set by a debugger: main goes on (mode "hold")
static volatile long spins[3];
static long total;

void work(int n) {
  total += n;  // break here
}

static void *worker(void *arg) {
  int n = (int)(long)arg;
  work(n);
  sem_post(&done[n]);
  while (!stop_spinning) {
    spins[n]++;  // a line of its own: `next` goes from it to the test and back
  }
  return NULL;
}

int main(int argc, char **argv) {
  pthread_t t[3];
  for (long n = 1; n <= 2; n++) {
    sem_init(&done[n], 0, 0);
    pthread_create(&t[n], NULL, worker, (void *)n);
    sem_wait(&done[n]);
  }
  // Both workers spin now. With "hold", main waits (sleeping) until a
  // debugger sets `release`: a window for an interrupt, however slow the host.
  if (argc > 1 && !strcmp(argv[1], "hold"))
    while (!release) usleep(1000);
  while (spins[1] == 0 || spins[2] == 0) sched_yield();
  stop_spinning = 1;
  for (int n = 1; n <= 2; n++) pthread_join(t[n], NULL);
  printf("total %ld\n", total);
  return 0;
}
