// A program with a bug to find in the debugger: the average of these
// readings comes out wrong.
#include <stdio.h>

struct reading {
  const char *station;
  double celsius;
};

static const struct reading readings[] = {
    {"north", 12.5}, {"south", 18.0}, {"east", 15.5}, {"west", 14.0},
};

double average(const struct reading *r, int n) {
  double sum = 0;
  for (int i = 1; i < n; i++)  // the bug: the first reading is skipped
    sum += r[i].celsius;
  return sum / n;
}

int main(void) {
  int n = sizeof readings / sizeof readings[0];
  printf("%d stations, average %.2f C\n", n, average(readings, n));
  return 0;
}
