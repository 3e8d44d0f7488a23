// For the debugger benchmark: a loop that calls hit() n times, where a
// breakpoint goes, and plain code to single-step through.
#include <stdlib.h>

volatile int sink;

__attribute__((noinline)) void hit(int i) { sink = i; }

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000000;
  for (int i = 0; i < n; i++) hit(i);
  return 0;
}
