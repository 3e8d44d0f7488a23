// Signals a program sends itself, delivered to its handlers as Linux does:
// siginfo, the interrupted registers and FPU state restored, masks while a
// handler runs, pending signals delivered when unblocked, SA_RESETHAND,
// SA_NODEFER, the alternate stack, SIGPIPE, abort() with a handler that
// jumps out. Prints the same lines natively and under torov; then dies by
// the signal it last sends itself.
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t hits[65];
static volatile int last_code, last_pid_ok, nested_depth, max_depth;
static volatile uintptr_t handler_sp;
static sigjmp_buf jump;

static void on_info(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  hits[sig]++;
  last_code = si->si_code;
  last_pid_ok = si->si_pid == getpid() && si->si_signo == sig;
  // Clobber what the interrupted code may hold in registers.
  volatile double x = 3.25;
  for (int i = 0; i < 10; i++) x = x * 1.5 - 0.5;
  (void)x;
}

static void on_plain(int sig) {
  hits[sig]++;
  int probe;
  handler_sp = (uintptr_t)&probe;
}

static void on_nested(int sig) {
  hits[sig]++;
  nested_depth++;
  if (nested_depth > max_depth) max_depth = nested_depth;
  if (hits[sig] < 3) raise(sig);  // SA_NODEFER: delivered inside this handler
  nested_depth--;
}

static void on_abort(int sig) {
  hits[sig]++;
  siglongjmp(jump, 1);
}

static void show(const char *what) {
  printf("%s:", what);
  for (int s = 1; s < 65; s++)
    if (hits[s]) printf(" %d=%d", s, hits[s]);
  printf("\n");
  fflush(stdout);
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);

  // siginfo from raise (tgkill: SI_TKILL) and kill (SI_USER); FPU state kept.
  sa.sa_sigaction = on_info;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGUSR1, &sa, NULL);
  volatile double keep = 1.0 / 3.0;
  raise(SIGUSR1);
  printf("raise: code=%s pid_ok=%d keep=%.17g\n", last_code == SI_TKILL ? "SI_TKILL" : "other", last_pid_ok, keep * 3);
  kill(getpid(), SIGUSR1);
  printf("kill: code=%s pid_ok=%d\n", last_code == SI_USER ? "SI_USER" : "other", last_pid_ok);

  // Blocked: pending, then delivered as soon as it is unblocked.
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  raise(SIGUSR1);
  sigpending(&pending);
  printf("blocked: pending=%d hits=%d\n", sigismember(&pending, SIGUSR1), hits[SIGUSR1]);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  printf("unblocked: hits=%d\n", hits[SIGUSR1]);

  // The handler's mask: the signal itself is blocked while it runs.
  sigset_t during;
  sa.sa_handler = on_plain;
  sa.sa_flags = 0;
  sigaction(SIGUSR2, &sa, NULL);
  raise(SIGUSR2);
  sigprocmask(SIG_BLOCK, NULL, &during);
  printf("after the handler: usr2 blocked=%d\n", sigismember(&during, SIGUSR2));

  // SA_NODEFER: the handler interrupts itself.
  sa.sa_handler = on_nested;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGALRM, &sa, NULL);
  raise(SIGALRM);
  printf("nodefer: hits=%d depth=%d\n", hits[SIGALRM], max_depth);

  // The alternate stack.
  static char alt[64 * 1024];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  sa.sa_handler = on_plain;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGHUP, &sa, NULL);
  raise(SIGHUP);
  printf("onstack: %d\n", handler_sp >= (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof alt);

  // SIGPIPE with a handler: the write fails with EPIPE and the program goes on.
  sa.sa_handler = on_plain;
  sa.sa_flags = 0;
  sigaction(SIGPIPE, &sa, NULL);
  int p[2];
  if (pipe(p) == 0) {
    close(p[0]);
    ssize_t n = write(p[1], "x", 1);
    printf("sigpipe: write=%zd errno=%s hits=%d\n", n, errno == EPIPE ? "EPIPE" : "other", hits[SIGPIPE]);
    close(p[1]);
  }

  // abort() with a handler that jumps out.
  sa.sa_handler = on_abort;
  sigaction(SIGABRT, &sa, NULL);
  if (sigsetjmp(jump, 1) == 0) abort();
  printf("abort: came back by siglongjmp, hits=%d\n", hits[SIGABRT]);

  // Ignored and default-ignored signals do nothing.
  signal(SIGTERM, SIG_IGN);
  raise(SIGTERM);
  raise(SIGCHLD);
  show("so far");

  // SA_RESETHAND: the first raise runs the handler, the second kills.
  sa.sa_handler = on_plain;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGUSR2, &sa, NULL);
  raise(SIGUSR2);
  struct sigaction now;
  sigaction(SIGUSR2, NULL, &now);
  printf("resethand: handler is SIG_DFL=%d\n", now.sa_handler == SIG_DFL);
  fflush(stdout);
  raise(SIGUSR2);
  printf("not reached\n");
  return 0;
}
