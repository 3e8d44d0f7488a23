// One file-system call per argument, "op:path" or "op:path:path2", each
// answered on its own line "op:path: ok [what it found]" or errno's name.
// The mounts tests (test/e2e/mounts.test.ts) drive it through every route
// a guest has to write into a read-only mount, and through .. and symlinks
// at a mount's root.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "report.h"

static void answer(const char *arg, long r, const char *found) {
  if (r < 0)
    printf("%s: %s\n", arg, errname(errno));
  else
    printf("%s: ok%s%s\n", arg, found ? " " : "", found ? found : "");
  fflush(stdout);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    char arg[4096];
    snprintf(arg, sizeof arg, "%s", argv[i]);
    char *op = arg, *p = strchr(arg, ':'), *q = NULL;
    if (!p) return 2;
    *p++ = 0;
    if ((q = strchr(p, ':'))) *q++ = 0;
    char found[4096] = "";
    long r = 0;
    int fd;
    errno = 0;
    if (!strcmp(op, "read")) {
      if ((r = fd = open(p, O_RDONLY)) >= 0) {
        ssize_t n = read(fd, found, sizeof found - 1);
        found[n > 0 ? n : 0] = 0;
        found[strcspn(found, "\n")] = 0;
        close(fd);
      }
    } else if (!strcmp(op, "open-nofollow")) {
      if ((r = fd = open(p, O_RDONLY | O_NOFOLLOW)) >= 0) close(fd);
    } else if (!strcmp(op, "write")) {
      if ((r = fd = open(p, O_WRONLY)) >= 0) r = write(fd, "x", 1), close(fd);
    } else if (!strcmp(op, "rdwr")) {
      if ((r = fd = open(p, O_RDWR)) >= 0) close(fd);
    } else if (!strcmp(op, "trunc-open")) {
      if ((r = fd = open(p, O_RDONLY | O_TRUNC)) >= 0) close(fd);
    } else if (!strcmp(op, "create")) {
      if ((r = fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644)) >= 0) close(fd);
    } else if (!strcmp(op, "tmpfile")) {
      if ((r = fd = open(p, O_TMPFILE | O_RDWR, 0600)) >= 0) close(fd);
    } else if (!strcmp(op, "truncate")) {
      r = truncate(p, 0);
    } else if (!strcmp(op, "chmod")) {
      r = chmod(p, 0777);
    } else if (!strcmp(op, "fchmod")) {
      if ((r = fd = open(p, O_RDONLY)) >= 0) r = fchmod(fd, 0777), close(fd);
    } else if (!strcmp(op, "chown")) {
      r = chown(p, getuid(), getgid());
    } else if (!strcmp(op, "fchown")) {
      if ((r = fd = open(p, O_RDONLY)) >= 0) r = fchown(fd, getuid(), getgid()), close(fd);
    } else if (!strcmp(op, "utimes")) {
      r = utimensat(AT_FDCWD, p, NULL, 0);
    } else if (!strcmp(op, "futimes")) {
      if ((r = fd = open(p, O_RDONLY)) >= 0) r = futimens(fd, NULL), close(fd);
    } else if (!strcmp(op, "rename")) {
      r = rename(p, q);
    } else if (!strcmp(op, "link")) {
      r = link(p, q);
    } else if (!strcmp(op, "symlink")) {
      r = symlink(p, q);
    } else if (!strcmp(op, "unlink")) {
      r = unlink(p);
    } else if (!strcmp(op, "rmdir")) {
      r = rmdir(p);
    } else if (!strcmp(op, "mkdir")) {
      r = mkdir(p, 0755);
    } else if (!strcmp(op, "mkfifo")) {
      r = mkfifo(p, 0644);
    } else if (!strcmp(op, "setxattr")) {
      r = setxattr(p, "user.torov", "x", 1, 0);
    } else if (!strcmp(op, "mmap-shared")) {
      if ((r = fd = open(p, O_RDONLY)) >= 0) {
        void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        r = m == MAP_FAILED ? -1 : 0;
        close(fd);
      }
    } else if (!strcmp(op, "procfd")) {
      // The read-only fd again by /proc/self/fd, asked for writing.
      if ((r = fd = open(p, O_RDONLY)) >= 0) {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        int w = open(link, O_RDWR);
        r = w < 0 ? w : write(w, "x", 1);
        close(fd);
      }
    } else if (!strcmp(op, "map-wait")) {
      // A private mapping of the whole file; then, once a line comes on
      // stdin (the test truncates the file meanwhile), every byte of it
      // read by the CPU and written out through the monitor.
      struct stat st;
      if ((r = fd = open(p, O_RDONLY)) >= 0 && (r = fstat(fd, &st)) == 0) {
        unsigned char *m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m == MAP_FAILED) {
          r = -1;
        } else {
          printf("%s: mapped\n", argv[i]);
          fflush(stdout);
          char line[8];
          if (read(0, line, sizeof line) < 0) return 3;
          unsigned long sum = 0;
          for (off_t k = 0; k < st.st_size; k++) sum += m[k];
          int null = open("/dev/null", O_WRONLY);
          long w = write(null, m, st.st_size);
          snprintf(found, sizeof found, "sum %lu, write %ld", sum, w);
        }
      }
    } else if (!strcmp(op, "map-many")) {
      // q one-page private mappings of P's first page, every other page
      // of a reservation (each its own mapping); once a line comes on
      // stdin, the sum of their first bytes.
      long count = q ? atol(q) : 0;
      char *area = mmap(NULL, (size_t)count * 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      r = area == MAP_FAILED ? -1 : (fd = open(p, O_RDONLY));
      long made = 0;
      for (long k = 0; r >= 0 && k < count; k++, made++)
        if (mmap(area + k * 2 * 4096, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED) r = -1;
      if (r >= 0) {
        printf("%s: mapped\n", argv[i]);
        fflush(stdout);
        char line[8];
        if (read(0, line, sizeof line) < 0) return 3;
        unsigned long sum = 0;
        for (long k = 0; k < made; k++) sum += (unsigned char)area[k * 2 * 4096];
        snprintf(found, sizeof found, "%ld mappings, sum %lu", made, sum);
      }
    } else if (!strcmp(op, "stat")) {
      struct stat st;
      if ((r = stat(p, &st)) == 0)
        snprintf(found, sizeof found, "%s %lld", S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other",
                 (long long)st.st_size);
    } else if (!strcmp(op, "list")) {
      DIR *d = opendir(p);
      r = d ? 0 : -1;
      if (d) {
        char *names[256];
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 256)
          if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
        closedir(d);
        qsort(names, n, sizeof *names, cmp);
        for (int k = 0; k < n; k++) snprintf(found + strlen(found), sizeof found - strlen(found), "%s%s", k ? "," : "", names[k]);
      }
    } else if (!strcmp(op, "readlink")) {
      ssize_t n = readlink(p, found, sizeof found - 1);
      r = n;
      found[n > 0 ? n : 0] = 0;
    } else if (!strcmp(op, "cd")) {
      // chdir, then where getcwd says it is, then a relative read.
      if ((r = chdir(p)) == 0) {
        if (!getcwd(found, sizeof found)) r = -1;
      }
    } else {
      return 2;
    }
    *(p - 1) = ':';
    if (q) *(q - 1) = ':';
    answer(arg, r, r >= 0 && found[0] ? found : NULL);
  }
  return 0;
}
