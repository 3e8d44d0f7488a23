// Dies the way argv[1] says, as a buggy program would.
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int recurse(int n) {
  volatile char pad[4096];
  pad[0] = (char)n;
  return recurse(n + 1) + pad[0];
}

int main(int argc, char **argv) {
  const char *how = argc > 1 ? argv[1] : "null";
  printf("crashing: %s\n", how);
  fflush(stdout);
  if (!strcmp(how, "null")) return *(volatile int *)0;
  if (!strcmp(how, "write-rodata")) {
    *(volatile char *)"constant" = 'x';
    return 0;
  }
  if (!strcmp(how, "divide")) {
    volatile int zero = 0;
    return 10 / zero;
  }
  if (!strcmp(how, "ud2")) __builtin_trap();
  if (!strcmp(how, "abort")) abort();
  if (!strcmp(how, "int3")) __asm__ volatile("int3");
  if (!strcmp(how, "stack")) return recurse(0);
  if (!strcmp(how, "munmap")) {
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 1;
    munmap(p, 8192);
    return p[0];
  }
  if (!strcmp(how, "mprotect")) {
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[0] = 1;
    mprotect(p, 8192, PROT_READ);
    p[1] = 2;
    return 0;
  }
  if (!strcmp(how, "exec-stack")) {
    unsigned char code[] = {0xc3};  // ret, on the non-executable stack
    ((void (*)(void))code)();
    return 0;
  }
  if (!strcmp(how, "sigreturn-kernel") || !strcmp(how, "sigreturn-no-frame")) {
    // rt_sigreturn with a forged ucontext (its mcontext at byte 40) that
    // returns to a kernel address, or with no frame at all.
    static uint64_t fake[64];
    fake[(40 + 16 * 8) / 8] = 0xffff800000001000ull;  // rip
    fake[(40 + 17 * 8) / 8] = 0x202;                  // eflags
    fake[(40 + 18 * 8) / 8] = 0x33 | (0x2bull << 48); // cs, ss
    void *sp = how[10] == 'k' ? (void *)fake : (void *)0x10;
    __asm__ volatile("mov %0, %%rsp\n\tmov $15, %%eax\n\tsyscall" : : "r"(sp) : "memory");
  }
  if (!strcmp(how, "kill")) {
    kill(getpid(), SIGTERM);
    return 0;
  }
  fprintf(stderr, "unknown crash %s\n", how);
  return 2;
}
