// A program whose binary is truncated or rewritten on the host while it runs
// (issue 10, hole 4). It has two large initialized tables: a constant one
// (in a read-only segment) and a writable one (in the data segment). Before
// it says "ready" it makes every other page of its image its own (it writes
// to each, as any program may after mprotect), then it waits in poll() for
// a byte on stdin, its pollfd in the data segment. The test changes the
// file meanwhile; truncation takes even pages a program has written from
// under it on Linux, so poll's answer is the monitor's first access to a
// page past the end of the file. Then the program reads its tables three
// ways, each reaching pages nobody has touched yet:
//   mremap   it moves the writable table (the monitor copies it)
//   write    it writes part of the constant table to a pipe (the host kernel
//            copies from guest memory) and reads it back
//   direct   it reads the rest of the constant table itself (through KVM)
// and prints "what: ok" or "what: N wrong" for each. Every element is a
// running count xor a constant, so the check needs nothing from the tables.
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define K 0xa5c3e1f7u
// 2^N copies of "index ^ K," in order (__COUNTER__ counts up as it expands).
#define E0 (__COUNTER__ ^ K),
#define E1 E0 E0
#define E2 E1 E1
#define E3 E2 E2
#define E4 E3 E3
#define E5 E4 E4
#define E6 E5 E5
#define E7 E6 E6
#define E8 E7 E7
#define E9 E8 E8
#define E10 E9 E9
#define E11 E10 E10
#define E12 E11 E11
#define E13 E12 E12
#define E14 E13 E13
#define E15 E14 E14
#define E16 E15 E15
#define E17 E16 E16
#define E18 E17 E17

// 1 MiB each, page-aligned so whole pages of them can be moved.
#define WORDS (1u << 18)
enum { T0 = __COUNTER__ + 1 };  // the count the tables start at
static const uint32_t table[WORDS] __attribute__((aligned(4096))) = {E18};
static uint32_t data[WORDS] __attribute__((aligned(4096))) = {E18};

// How many of n words at p are not what count T0+first+i gives.
static unsigned wrong(const volatile uint32_t *p, unsigned first, unsigned n) {
  unsigned bad = 0;
  for (unsigned i = 0; i < n; i++)
    if (p[i] != ((T0 + first + i) ^ K)) bad++;
  return bad;
}

static void say(const char *what, long bad) {
  if (bad < 0) printf("%s: %s\n", what, strerror(errno));
  else if (bad == 0) printf("%s: ok\n", what);
  else printf("%s: %ld wrong\n", what, bad);
  fflush(stdout);
}

static int inside(uintptr_t page, const void *t, size_t len) {
  return page + 4096 > (uintptr_t)t && page < (uintptr_t)t + len;
}

// Writes to every page of the image but the tables': each becomes the
// program's own copy, as after a write on Linux.
static int own_pages(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  (void)arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)4095;
    uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + 4095) & ~(uintptr_t)4095;
    int prot = (ph->p_flags & PF_R ? PROT_READ : 0) | (ph->p_flags & PF_W ? PROT_WRITE : 0) | (ph->p_flags & PF_X ? PROT_EXEC : 0);
    if (mprotect((void *)start, end - start, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) return 1;
    for (uintptr_t p = start; p < end; p += 4096) {
      if (inside(p, table, sizeof table) || inside(p, data, sizeof data)) continue;
      volatile char *b = (volatile char *)p;
      *b = *b;
    }
    if (mprotect((void *)start, end - start, prot) != 0) return 1;
  }
  return 1;  // the program itself is the first and only object
}

int main(void) {
  if (dl_iterate_phdr(own_pages, NULL) != 1) return 3;
  printf("ready\n");
  fflush(stdout);
  static struct pollfd go = {.fd = 0, .events = POLLIN};
  if (poll(&go, 1, -1) != 1) return 2;
  char c;
  if (read(0, &c, 1) != 1) return 2;

  // The writable table: moved elsewhere by the monitor, then checked there.
  void *to = mmap(NULL, sizeof data, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void *moved = to == MAP_FAILED ? MAP_FAILED : mremap(data, sizeof data, sizeof data, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  say("mremap", moved == MAP_FAILED ? -1 : (long)wrong(moved, WORDS, WORDS));

  // 64 KiB of the constant table, through the host kernel: into a pipe and back.
  static uint32_t back[16384];
  int p[2];
  long bad = -1;
  if (pipe(p) == 0) {
    ssize_t n = write(p[1], table + WORDS / 2, sizeof back);
    if (n == (ssize_t)sizeof back && read(p[0], back, sizeof back) == n) bad = wrong(back, WORDS / 2, 16384);
    else if (n >= 0) errno = EIO;
  }
  say("write", bad);

  // The first half of the constant table: read directly.
  say("direct", wrong(table, 0, WORDS / 2));
  return 0;
}
