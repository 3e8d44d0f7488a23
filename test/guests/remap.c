// Replaces pages of its own image (mapped from the file) with anonymous
// memory, and shrinks and regrows mappings: what comes back must be zeros,
// never the file's bytes again. Pages it only drops (MADV_DONTNEED) come
// back as the file has them, wherever mremap moved them; moved pages keep
// their bytes.
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static char data[3 * 4096] __attribute__((aligned(4096))) = {1, 2, 3};
// 1 MiB: ranges that large move with their pages (smaller ones are copied).
static char seg[1 << 20] __attribute__((aligned(4096))) = {5};

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

  seg[0] = 6;
  madvise(seg, 4096, MADV_DONTNEED);
  printf("MADV_DONTNEED on the program's data: %d\n", seg[0]);
  char *target = mmap(NULL, sizeof seg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *moved = mremap(seg, sizeof seg, sizeof seg, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  printf("moved by mremap: %s, reads %d\n", moved == target ? "there" : "elsewhere", moved[0]);
  moved[0] = 7;
  madvise(moved, 4096, MADV_DONTNEED);
  printf("MADV_DONTNEED on the moved page: %d\n", moved[0]);
  char *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  anon[0] = 8;
  madvise(anon, 4096, MADV_DONTNEED);
  printf("MADV_DONTNEED on anonymous memory: %d\n", anon[0]);

  const size_t big = 16 << 20;
  char *b = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  memset(b, 0x5a, big);
  b[big - 1] = 1;
  char *room = mmap(NULL, 2 * big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *nb = mremap(b, big, 2 * big, MREMAP_MAYMOVE | MREMAP_FIXED, room);
  size_t same = 0;
  for (size_t i = 0; i + 1 < big; i++) same += nb[i] == 0x5a;
  printf("16 MiB moved and grown: %s, %zu bytes kept, last %d, new %d\n", nb == room ? "there" : "elsewhere", same,
         nb[big - 1], nb[big]);
  return 0;
}
