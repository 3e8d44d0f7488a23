// Dies the way argv[1] says, as a buggy program would.
#include <signal.h>
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

static void on_usr1(int sig) { printf("handler ran for %d\n", sig); }

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
  if (!strcmp(how, "handled")) {
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    puts("after the handler");
    return 0;
  }
  if (!strcmp(how, "kill")) {
    kill(getpid(), SIGTERM);
    return 0;
  }
  fprintf(stderr, "unknown crash %s\n", how);
  return 2;
}
