// Reads and writes files inside the MountPoint: the guest's "/" is the
// mountpoint folder, and nothing outside it can be named.
//   files           read /notes/input.txt, write /notes/output.txt (upper case
//                   and a line count), then list /notes
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  FILE *in = fopen("/notes/input.txt", "r");
  if (!in) {
    perror("/notes/input.txt");
    return 1;
  }
  FILE *out = fopen("/notes/output.txt", "w");
  if (!out) {
    perror("/notes/output.txt");
    return 1;
  }
  int c, lines = 0;
  while ((c = fgetc(in)) != EOF) {
    if (c == '\n') lines++;
    fputc(toupper(c), out);
  }
  fprintf(out, "(%d lines)\n", lines);
  fclose(in);
  fclose(out);
  printf("wrote /notes/output.txt: %d lines\n", lines);

  // Outside the MountPoint there is nothing: ".." stops at the guest's root.
  FILE *escape = fopen("/../../../../etc/passwd", "r");
  printf("/../../../../etc/passwd: %s\n", escape ? "opened (!)" : strerror(errno));

  DIR *d = opendir("/notes");
  if (!d) {
    perror("/notes");
    return 1;
  }
  struct dirent *e;
  int count = 0;
  while ((e = readdir(d))) count += e->d_name[0] != '.';
  closedir(d);
  printf("/notes holds %d files\n", count);
  return 0;
}
