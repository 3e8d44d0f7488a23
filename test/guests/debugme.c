// A program to debug: functions with arguments, a struct, a global counter
// to watch, a write(2) to catch, and a fault when asked.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct point {
  int x;
  int y;
  const char *label;
};

volatile int counter;
double scale = 2.5;

__attribute__((noinline)) int area(struct point a, struct point b) {
  int w = b.x - a.x;
  int h = b.y - a.y;
  return w * h;
}

__attribute__((noinline)) int bump(int by) {
  counter += by;
  return counter;
}

int main(int argc, char **argv) {
  struct point origin = {1, 2, "origin"};
  struct point corner = {4, 7, "corner"};
  int total = area(origin, corner);
  for (int i = 1; i <= 3; i++) bump(i);
  write(1, "checkpoint\n", 11);
  if (argc > 1 && strcmp(argv[1], "crash") == 0) {
    volatile int *nowhere = NULL;
    *nowhere = total;
  }
  if (argc > 1 && strcmp(argv[1], "read") == 0) {
    char buf[32] = {0};
    ssize_t n = read(0, buf, sizeof buf - 1);
    printf("read %zd: %s", n, buf);
  }
  if (argc > 1 && strcmp(argv[1], "spin") == 0)
    for (;;) counter++;
  printf("total=%d counter=%d scale=%.1f\n", total, counter, scale);
  return total % 7;
}
