// Host calls that may wait, for the tests of waiting and of killing.
//   waits now          calls asked not to wait: each must answer at once
//   waits fifo         opens a FIFO nobody writes to   } each prints
//   waits flock        flock on a file locked already  } "waiting" and
//   waits ofd-lock     F_OFD_SETLKW on a locked range  } waits for ever
//   waits read         reads stdin                     }
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

static int locked_file(void) {
  int a = open("/locked", O_CREAT | O_RDWR, 0600);
  flock(a, LOCK_EX);
  struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
  fcntl(a, F_OFD_SETLK, &lk);
  return open("/locked", O_RDWR);  // another open file description
}

static void waiting(void) {
  printf("waiting\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "now";
  if (strcmp(mode, "now") == 0) {
    int other = locked_file();
    TRY("flock LOCK_NB on a locked file", flock(other, LOCK_EX | LOCK_NB));
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    TRY("F_OFD_SETLK on a locked range", fcntl(other, F_OFD_SETLK, &lk));
    TRY("F_OFD_GETLK on a locked range", fcntl(other, F_OFD_GETLK, &lk) < 0 ? -1 : lk.l_type == F_WRLCK);
    int p[2], q[2];
    pipe(p);
    pipe(q);
    int file = open("/spliced", O_CREAT | O_RDWR, 0600);
    TRY("splice SPLICE_F_NONBLOCK from an empty pipe", splice(p[0], NULL, file, NULL, 4096, SPLICE_F_NONBLOCK));
    TRY("tee SPLICE_F_NONBLOCK from an empty pipe", tee(p[0], q[1], 4096, SPLICE_F_NONBLOCK));
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    TRY("splice from an empty O_NONBLOCK pipe", splice(p[0], NULL, file, NULL, 4096, 0));
    write(p[1], "abc", 3);
    TRY("splice from a pipe with data", splice(p[0], NULL, file, NULL, 4096, 0));
    printf("done\n");
    return 0;
  }
  if (strcmp(mode, "fifo") == 0) {
    mkfifo("/fifo", 0600);
    waiting();
    TRY("open a FIFO", open("/fifo", O_RDONLY));
  } else if (strcmp(mode, "flock") == 0) {
    int other = locked_file();
    waiting();
    TRY("flock", flock(other, LOCK_EX));
  } else if (strcmp(mode, "ofd-lock") == 0) {
    int other = locked_file();
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    waiting();
    TRY("F_OFD_SETLKW", fcntl(other, F_OFD_SETLKW, &lk));
  } else if (strcmp(mode, "read") == 0) {
    char c;
    waiting();
    TRY("read", read(0, &c, 1));
  }
  return 0;
}
