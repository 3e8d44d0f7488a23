// What a program reads of /proc and /sys while it starts (issue 18): one
// line per check, "what: answer", for test/e2e/procfiles.test.ts to compare
// with what it knows of the guest (its pid, its Memory, the host's CPUs).
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "report.h"

static char text[1 << 16];

static const char *slurp(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  size_t n = 0;
  ssize_t r;
  while (n < sizeof text - 1 && (r = read(fd, text + n, sizeof text - 1 - n)) > 0) n += (size_t)r;
  text[n] = 0;
  close(fd);
  return text;
}

// The value after "key:" in text, up to the line's end.
static const char *field(const char *key) {
  static char value[256];
  const char *at = strstr(text, key);
  if (!at) return "(none)";
  at += strlen(key);
  while (*at == ' ' || *at == '\t') at++;
  size_t n = strcspn(at, "\n");
  if (n >= sizeof value) n = sizeof value - 1;
  memcpy(value, at, n);
  value[n] = 0;
  return value;
}

int main(void) {
  int local = 0;
  // glibc finds the main thread's stack in /proc/self/maps.
  pthread_attr_t attr;
  void *stack;
  size_t size;
  int r = pthread_getattr_np(pthread_self(), &attr);
  printf("pthread_getattr_np: %s\n", r ? errname(r) : "ok");
  if (!r) {
    pthread_attr_getstack(&attr, &stack, &size);
    printf("stack holds a local: %s\n", (uintptr_t)stack <= (uintptr_t)&local && (uintptr_t)&local < (uintptr_t)stack + size ? "yes" : "no");
  }
  printf("get_nprocs: %d\n", get_nprocs());
  printf("sysconf online: %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
  if (slurp("/proc/self/maps")) {
    char mine[32];
    snprintf(mine, sizeof mine, "%lx", (unsigned long)&local);
    int stack_line = 0, found = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
      unsigned long lo, hi;
      if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= (unsigned long)&local && (unsigned long)&local < hi) {
        found = 1;
        stack_line = strstr(line, "[stack]") != NULL;
      }
    }
    printf("maps: the local is in a mapping: %s, named [stack]: %s\n", found ? "yes" : "no", stack_line ? "yes" : "no");
  } else {
    printf("maps: %s\n", errname(errno));
  }
  if (slurp("/proc/self/status")) printf("status Pid: %s, is getpid: %s\n", field("\nPid:"), atoi(field("\nPid:")) == getpid() ? "yes" : "no");
  if (slurp("/proc/self/status")) printf("status Threads: %s\n", field("Threads:"));
  if (slurp("/proc/meminfo")) printf("meminfo MemTotal: %s\n", field("MemTotal:"));
  if (slurp("/proc/cpuinfo")) printf("cpuinfo has processor 0: %s\n", strstr(text, "processor\t: 0") ? "yes" : "no");
  if (slurp("/sys/devices/system/cpu/online")) printf("online: %s", text);
  char mine[64];
  snprintf(mine, sizeof mine, "/proc/%d/status", getpid());
  printf("by pid: %s\n", slurp(mine) ? "ok" : errname(errno));
  TRY("open maps for writing", open("/proc/self/maps", O_WRONLY));
  TRY("open environ", open("/proc/self/environ", O_RDONLY));
  TRY("open pid 1's status", open(getpid() == 1 ? "/proc/2/status" : "/proc/1/status", O_RDONLY));
  struct stat st;
  TRY("stat maps", stat("/proc/self/maps", &st));
  int fd = open("/proc/self/maps", O_RDONLY);
  TRY("fchmod maps", fchmod(fd, 0666));
  TRY("write maps", write(fd, "x", 1));
  return 0;
}
