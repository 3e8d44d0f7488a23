// Prints what a process is started with: argv, envp, the auxv values a
// program can check, and exits with the status given as argv[1].
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
  printf("argc=%d\n", argc);
  for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
  for (char **e = environ; *e; e++) printf("env %s\n", *e);
  printf("pagesz=%lu\n", getauxval(AT_PAGESZ));
  printf("random=%s\n", getauxval(AT_RANDOM) ? "set" : "missing");
  printf("execfn=%s\n", (const char *)getauxval(AT_EXECFN));
  printf("platform=%s\n", (const char *)getauxval(AT_PLATFORM));
  printf("secure=%lu\n", getauxval(AT_SECURE));
  printf("uid_match=%d\n", getauxval(AT_UID) == getuid());
  printf("stack_aligned=%d\n", ((unsigned long)__builtin_frame_address(0) & 7) == 0);
  return argc > 1 ? atoi(argv[1]) : 0;
}
