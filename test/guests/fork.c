// Processes (issue 19): fork, vfork, clone for a process, and the waits,
// run natively and under torov with the same output (test/e2e/fork.test.ts).
// Nothing printed depends on pid values, only on how they relate.
//   fork semantics DIR   what a child gets and what its parent sees of it
//   fork limit           forks until refused, then says how many and why
//   fork bomb            forks 200 times, in every process (never natively)
//   fork trace           two children: one exits 3, one is killed
//   fork debug           a child and its parent call child_work(): GDB's test
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

static void status_line(const char *what, int st) {
  if (WIFEXITED(st)) printf("%s: exited %d\n", what, WEXITSTATUS(st));
  else if (WIFSIGNALED(st)) printf("%s: killed by signal %d\n", what, WTERMSIG(st));
  else printf("%s: status %#x\n", what, st);
  fflush(stdout);
}

static volatile sig_atomic_t chld_seen;
static void on_chld(int sig) { chld_seen++; }

static int counter = 1;

static void *thread_forks(void *arg) {
  pid_t pid = fork();
  if (pid == 0) {
    // Only the thread that forked is in the child.
    _exit(counter == 5 ? 21 : 1);
  }
  int st;
  waitpid(pid, &st, 0);
  return (void *)(intptr_t)st;
}

static int semantics(const char *dir) {
  if (chdir(dir) < 0) return 2;
  printf("wait with no child: %s\n", wait(NULL) < 0 ? errname(errno) : "found one");

  // The child's memory is a copy: what it changes, its parent never sees.
  char *heap = malloc(1 << 20);
  strcpy(heap, "the parent's heap");
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    counter = 2;
    strcpy(heap, "changed by the child");
    printf("child: getppid is the parent: %s, pid differs: %s, heap: %s\n", getppid() == parent ? "yes" : "no",
           getpid() != parent ? "yes" : "no", heap);
    fflush(stdout);
    _exit(7);
  }
  int st;
  pid_t got = waitpid(pid, &st, 0);
  printf("waitpid found the child: %s\n", got == pid ? "yes" : "no");
  status_line("child", st);
  printf("parent after: counter %d, heap: %s\n", counter, heap);

  // A pipe across fork: the parent reads what the child wrote, then the
  // end (the child's copies of the fds closed with it).
  int fds[2];
  pipe(fds);
  pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const char msg[] = "hello through a pipe";
    write(fds[1], msg, sizeof msg - 1);
    _exit(0);
  }
  close(fds[1]);
  char buf[64];
  size_t n = 0;
  ssize_t r;
  while ((r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
  buf[n] = 0;
  close(fds[0]);
  printf("from the child: %s (then %s)\n", buf, r == 0 ? "end of file" : "an error");
  waitpid(pid, &st, 0);

  // An open file description is shared: one offset for both.
  int f = open("shared-offset.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
  pid = fork();
  if (pid == 0) {
    write(f, "abc", 3);
    _exit(0);
  }
  waitpid(pid, &st, 0);
  write(f, "def", 3);
  lseek(f, 0, SEEK_SET);
  n = (size_t)read(f, buf, sizeof buf - 1);
  buf[n] = 0;
  printf("one offset for both: %s\n", buf);
  close(f);

  // WNOHANG while the child runs, then once it has ended.
  pipe(fds);
  pid = fork();
  if (pid == 0) {
    close(fds[1]);
    char c;
    read(fds[0], &c, 1);  // until its parent says
    _exit(c);
  }
  close(fds[0]);
  printf("WNOHANG while it runs: %d\n", (int)waitpid(pid, &st, WNOHANG));
  write(fds[1], "\x05", 1);
  close(fds[1]);
  waitpid(pid, &st, 0);
  status_line("told to end", st);

  // Killed: by its parent, and by a signal it sends itself.
  pipe(fds);
  pid = fork();
  if (pid == 0) {
    close(fds[1]);
    char c;
    read(fds[0], &c, 1);
    _exit(0);
  }
  close(fds[0]);
  printf("kill(child, SIGKILL): %d\n", kill(pid, SIGKILL));
  waitpid(pid, &st, 0);
  status_line("killed child", st);
  close(fds[1]);
  pid = fork();
  if (pid == 0) {
    raise(SIGTERM);
    _exit(0);
  }
  waitpid(pid, &st, 0);
  status_line("child that raised SIGTERM", st);
  printf("kill of a reaped child: %s\n", kill(pid, 0) < 0 ? errname(errno) : "ok");

  // waitid: a look (WNOWAIT), then the reaping.
  pid = fork();
  if (pid == 0) _exit(9);
  siginfo_t si;
  memset(&si, 0xff, sizeof si);
  waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
  printf("waitid WNOWAIT: signo %d, code %s, pid is the child: %s, status %d\n", si.si_signo,
         si.si_code == CLD_EXITED ? "CLD_EXITED" : "other", si.si_pid == pid ? "yes" : "no", si.si_status);
  memset(&si, 0xff, sizeof si);
  waitid(P_ALL, 0, &si, WEXITED);
  printf("waitid again: pid is the child: %s, status %d\n", si.si_pid == pid ? "yes" : "no", si.si_status);
  memset(&si, 0xff, sizeof si);
  printf("waitid WNOHANG with none: %s\n", waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 ? errname(errno) : "0");
  printf("waitid without WEXITED: %s\n", waitid(P_ALL, 0, &si, WNOHANG) < 0 ? errname(errno) : "0");

  // SIGCHLD: a handler runs when a child ends.
  struct sigaction sa = {0};
  sa.sa_handler = on_chld;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &old);
  pid = fork();
  if (pid == 0) _exit(0);
  while (!chld_seen) sigsuspend(&old);
  sigprocmask(SIG_SETMASK, &old, NULL);
  printf("SIGCHLD handler ran: %d time(s)\n", (int)chld_seen);
  waitpid(pid, &st, 0);
  // A wait that a handled signal interrupts: EINTR without SA_RESTART.
  pipe(fds);
  pid = fork();
  if (pid == 0) {
    close(fds[1]);
    char c;
    read(fds[0], &c, 1);
    _exit(0);
  }
  close(fds[0]);
  struct sigaction usr = {0};
  usr.sa_handler = on_chld;
  sigaction(SIGUSR1, &usr, NULL);
  pid_t killer = fork();
  if (killer == 0) {
    usleep(100 * 1000);
    kill(getppid(), SIGUSR1);
    _exit(0);
  }
  errno = 0;
  got = waitpid(pid, &st, 0);
  printf("waitpid interrupted by a handled signal: %s\n", got < 0 ? errname(errno) : "no");
  close(fds[1]);
  waitpid(pid, &st, 0);
  waitpid(killer, &st, 0);
  signal(SIGCHLD, SIG_DFL);

  // SIGCHLD ignored: no zombies; a wait waits for all, then ECHILD.
  signal(SIGCHLD, SIG_IGN);
  pid = fork();
  if (pid == 0) _exit(3);
  errno = 0;
  got = wait(&st);
  printf("wait with SIGCHLD ignored: %s\n", got < 0 ? errname(errno) : "found one");
  signal(SIGCHLD, SIG_DFL);

  // vfork: the parent goes on once the child has ended.
  pid = vfork();
  if (pid == 0) _exit(4);
  waitpid(pid, &st, 0);
  status_line("vfork child", st);

  // clone for a process, with a signal other than SIGCHLD: only __WALL
  // (or __WCLONE) finds it.
  pid = (pid_t)syscall(SYS_clone, SIGUSR2, 0, 0, 0, 0);
  if (pid == 0) _exit(6);
  signal(SIGUSR2, SIG_IGN);
  usleep(50 * 1000);
  printf("clone child, plain waitpid WNOHANG: %s\n", waitpid(pid, &st, WNOHANG) < 0 ? errname(errno) : "found");
  waitpid(pid, &st, __WALL);
  status_line("clone child with __WALL", st);

  // Many at once, each with its own status.
  int sum = 0;
  pid_t kids[20];
  for (int i = 0; i < 20; i++) {
    kids[i] = fork();
    if (kids[i] == 0) _exit(i);
  }
  for (int i = 0; i < 20; i++) {
    waitpid(-1, &st, 0);
    sum += WEXITSTATUS(st);
  }
  printf("20 children, statuses add up to %d, then: %s\n", sum, wait(NULL) < 0 ? errname(errno) : "more");

  // Process groups.
  pipe(fds);
  pid = fork();
  if (pid == 0) {
    close(fds[1]);
    setpgid(0, 0);
    char c;
    read(fds[0], &c, 1);
    printf("child leads its group: %s\n", getpgrp() == getpid() ? "yes" : "no");
    fflush(stdout);
    _exit(0);
  }
  close(fds[0]);
  setpgid(pid, pid);  // both sides, as a shell does
  printf("parent sees the child's group: %s, its own group unchanged: %s\n", getpgid(pid) == pid ? "yes" : "no",
         getpgrp() != pid ? "yes" : "no");
  printf("setpgid into a group of another session: %s\n", setpgid(pid, 1) < 0 ? errname(errno) : "ok");
  close(fds[1]);
  waitpid(pid, &st, 0);
  pid = fork();
  if (pid == 0) {
    pid_t s = setsid();
    printf("setsid in a child: %s, then getsid is itself: %s\n", s == getpid() ? "its pid" : "other",
           getsid(0) == getpid() ? "yes" : "no");
    printf("setsid again: %s\n", setsid() < 0 ? errname(errno) : "ok");
    fflush(stdout);
    _exit(0);
  }
  waitpid(pid, &st, 0);
  printf("kill of the parent's own group with 0: %d\n", kill(0, 0));

  // A thread forks: the child has that thread alone, and the memory as it was.
  counter = 5;
  pthread_t th;
  void *ret;
  pthread_create(&th, NULL, thread_forks, NULL);
  pthread_join(th, &ret);
  status_line("child of a thread", (int)(intptr_t)ret);

  // MAP_SHARED|MAP_ANONYMOUS stays shared; MAP_PRIVATE does not.
  int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *shared = 1;
  *priv = 1;
  pid = fork();
  if (pid < 0) printf("fork with a shared mapping: %s\n", errname(errno));
  if (pid == 0) {
    *shared = 42;
    *priv = 42;
    _exit(0);
  }
  waitpid(pid, &st, 0);
  printf("after the child wrote 42: shared %d, private %d\n", *shared, *priv);
  return 0;
}

static int limit(void) {
  int fds[2];
  pipe(fds);
  int made = 0;
  pid_t pid;
  for (;;) {
    pid = fork();
    if (pid == 0) {
      close(fds[1]);
      char c;
      read(fds[0], &c, 1);
      _exit(0);
    }
    if (pid < 0) break;
    made++;
    if (made > 5000) break;
  }
  printf("forked %d children, then %s\n", made, pid < 0 ? errname(errno) : "stopped");
  close(fds[1]);
  int reaped = 0;
  while (wait(NULL) > 0) reaped++;
  printf("reaped %d\n", reaped);
  return 0;
}

static int traced(void) {
  pid_t pid = fork();
  if (pid == 0) {
    write(1, "child\n", 6);
    _exit(3);
  }
  int st;
  waitpid(pid, &st, 0);
  pid = fork();
  if (pid == 0) {
    pause();
    _exit(0);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  write(1, "parent\n", 7);
  return 0;
}

// Where the debugger test breaks: the child calls it first, the parent after.
__attribute__((noinline)) int child_work(int x) {
  __asm__ volatile("" ::: "memory");
  return x * 3;
}

static int debugged(void) {
  pid_t pid = fork();
  if (pid == 0) _exit(child_work(2));
  int st;
  waitpid(pid, &st, 0);
  status_line("child", st);
  printf("parent: %d\n", child_work(5));
  return 0;
}

static int bomb(void) {
  printf("bomb\n");
  fflush(stdout);
  for (int i = 0; i < 200; i++) fork();
  // The first process ends; everything it started ends with the guest.
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 3 && strcmp(argv[1], "semantics") == 0) return semantics(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "limit") == 0) return limit();
  if (argc >= 2 && strcmp(argv[1], "bomb") == 0) return bomb();
  if (argc >= 2 && strcmp(argv[1], "trace") == 0) return traced();
  if (argc >= 2 && strcmp(argv[1], "debug") == 0) return debugged();
  fprintf(stderr, "usage: fork semantics DIR | limit | bomb\n");
  return 2;
}
