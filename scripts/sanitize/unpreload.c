// The debuggers' stand-in during `npm run sanitize` (scripts/sanitize.mjs):
// built static, so the sanitizer runtime in LD_PRELOAD is never loaded into
// it (a shell script would be: its shell loads the runtime, and TSan's
// refuses to run in some). Named gdb, gdbserver or lldb in a folder first
// in PATH, it finds the real program of its name further along PATH and
// runs it with the runtimes (TOROV_SANITIZE_PRELOAD) taken out of
// LD_PRELOAD, the rest (the harness's own shim) kept: gdb with ASan
// preloaded hangs before it prints its version, and they are not torov's.
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  (void)argc;
  char self[PATH_MAX];
  snprintf(self, sizeof self, "%s", argv[0]);
  const char *name = basename(self);
  const char *skip = getenv("TOROV_UNPRELOAD_DIR");
  const char *runtimes = getenv("TOROV_SANITIZE_PRELOAD");
  const char *preload = getenv("LD_PRELOAD");
  if (preload) {
    char keep[8192] = "", list[8192];
    snprintf(list, sizeof list, "%s", preload);
    for (char *lib = strtok(list, " :"); lib; lib = strtok(NULL, " :")) {
      if (runtimes && strstr(runtimes, lib)) continue;
      if (*keep) strncat(keep, " ", sizeof keep - strlen(keep) - 1);
      strncat(keep, lib, sizeof keep - strlen(keep) - 1);
    }
    if (*keep) setenv("LD_PRELOAD", keep, 1);
    else unsetenv("LD_PRELOAD");
  }
  char path[8192];
  snprintf(path, sizeof path, "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  for (char *dir = strtok(path, ":"); dir; dir = strtok(NULL, ":")) {
    if (skip && !strcmp(dir, skip)) continue;
    char real[PATH_MAX];
    snprintf(real, sizeof real, "%s/%s", dir, name);
    if (access(real, X_OK) == 0) {
      execv(real, argv);
      fprintf(stderr, "unpreload: %s: %s\n", real, strerror(errno));
      return 127;
    }
  }
  fprintf(stderr, "unpreload: %s: not found in PATH\n", name);
  return 127;
}
