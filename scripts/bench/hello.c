// The benchmarks' hello, built static and dynamic (bench-dynamic.ts): one
// write, then exit; with an argument N, a sleep of N ms first, so that many
// VMs of it are alive at once.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  printf("hello\n");
  fflush(stdout);
  if (argc > 1) {
    long ms = atol(argv[1]);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}
