// A dynamically linked guest (issue 18), built as the host's gcc and
// musl-gcc build by default: what the loader did, as the program sees it,
// in "what: result" lines that a test compares with its native run.
#define _GNU_SOURCE
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

extern char _start[];

// The objects the loader has in its list, by file name: the program first
// ("" for glibc), then its libraries. The host's vDSO is left out: the
// guest has none.
static int object(struct dl_phdr_info *info, size_t size, void *data) {
  const char *name = info->dlpi_name;
  // musl names the vDSO "", glibc "linux-vdso.so.1".
  if (strstr(name, "linux-vdso") || (getauxval(AT_SYSINFO_EHDR) && info->dlpi_addr == getauxval(AT_SYSINFO_EHDR))) return 0;
  const char *slash = strrchr(name, '/');
  printf("object: %s\n", !*name ? "(program)" : slash ? slash + 1 : name);
  (void)size, (void)data;
  return 0;
}

static int compare(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static void *worker(void *arg) {
  static char text[64];
  snprintf(text, sizeof text, "thread says %s", (const char *)arg);
  return text;
}

int main(int argc, char **argv) {
  printf("args:");
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("\n");
  // Linux's exec: AT_BASE is the interpreter, AT_ENTRY and AT_PHDR the program.
  printf("AT_BASE set: %s\n", getauxval(AT_BASE) ? "yes" : "no");
  printf("AT_ENTRY is _start: %s\n", getauxval(AT_ENTRY) == (unsigned long)_start ? "yes" : "no");
  printf("AT_EXECFN set: %s\n", getauxval(AT_EXECFN) && *(char *)getauxval(AT_EXECFN) ? "yes" : "no");
  dl_iterate_phdr(object, NULL);
  // libc at work: a large malloc (an mmap), qsort, the environment.
  const long n = 1 << 18;
  long *v = malloc(n * sizeof *v);
  for (long i = 0; i < n; i++) v[i] = (i * 7919) % n;
  qsort(v, n, sizeof *v, compare);
  long sorted = 1;
  for (long i = 1; i < n; i++) sorted &= v[i - 1] <= v[i];
  printf("qsort sorted: %s\n", sorted ? "yes" : "no");
  free(v);
  printf("GREETING: %s\n", getenv("GREETING") ? getenv("GREETING") : "(unset)");
  pthread_t t;
  void *said;
  if (pthread_create(&t, NULL, worker, "hello") || pthread_join(t, &said)) return 2;
  printf("thread: %s\n", (char *)said);
  return 7;
}
