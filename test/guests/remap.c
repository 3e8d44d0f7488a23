// Replaces pages of its own image (mapped from the file) with anonymous
// memory, and shrinks and regrows mappings: what comes back must be zeros,
// never the file's bytes again.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static char data[3 * 4096] __attribute__((aligned(4096))) = {1, 2, 3};

int main(void) {
  char *p = data + 4096;
  p[0] = 9;
  printf("before: %d %d\n", data[0], p[0]);
  if (mmap(p, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p) return 1;
  printf("after MAP_FIXED: %d %d\n", data[0], p[0]);
  if (munmap(data, 4096) != 0) return 2;
  if (mmap(data, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != data) return 3;
  printf("after munmap+mmap: %d\n", data[0]);
  char *m = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(m, 7, 8 * 4096);
  m = mremap(m, 8 * 4096, 2 * 4096, 0);
  m = mremap(m, 2 * 4096, 8 * 4096, MREMAP_MAYMOVE);
  printf("mremap shrink+grow: kept %d, new %d\n", m[4096], m[5 * 4096]);
  return 0;
}
