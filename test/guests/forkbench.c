// npm run bench:processes's guest (scripts/bench-processes.ts): what a
// process costs. With MIB MiB of heap touched, N rounds of fork + _exit +
// waitpid, then N of vfork + _exit + waitpid; the mean of each in µs.
//   forkbench MIB N
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: forkbench MIB N\n");
    return 2;
  }
  const size_t bytes = (size_t)atol(argv[1]) << 20;
  const int n = atoi(argv[2]);
  char *heap = malloc(bytes ? bytes : 1);
  if (!heap) return 1;
  memset(heap, 1, bytes);
  int status = 0;
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) _exit(heap[bytes / 2] == 1 ? 0 : 1);
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) return 1;
  }
  double t1 = now_us();
  for (int i = 0; i < n; i++) {
    pid_t pid = vfork();
    if (pid == 0) _exit(0);
    if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) return 1;
  }
  double t2 = now_us();
  printf("fork %.1f\nvfork %.1f\n", (t1 - t0) / n, (t2 - t1) / n);
  return 0;
}
