// How the hostile guests report each attempt: one line "what: result", the
// result "ok N" or errno's name, flushed at once so that a guest that dies
// next has said what it got.
#pragma once
#include <errno.h>
#include <stdio.h>

// errno's name (strerrorname_np is glibc's only; musl builds this too).
static const char *errname(int e) {
  switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(ECHILD) E(EINTR) E(EIO) E(EBADF) E(EAGAIN) E(ENOMEM) E(EACCES)
    E(EFAULT) E(EBUSY) E(EEXIST) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE)
    E(ENOTTY) E(ENOSPC) E(ESPIPE) E(EROFS) E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS)
    E(ELOOP) E(EOPNOTSUPP) E(ECONNREFUSED) E(EXDEV) E(EOVERFLOW) E(EAFNOSUPPORT)
    E(EPROTONOSUPPORT) E(ENOPROTOOPT) E(ESOCKTNOSUPPORT) E(EFBIG) E(ETXTBSY) E(ENODEV)
#undef E
    default: return "?";
  }
}

__attribute__((unused)) static void report(const char *what, long r) {
  if (r < 0)
    printf("%s: %s\n", what, errname(errno));
  else
    printf("%s: ok %ld\n", what, r);
  fflush(stdout);
}

#define TRY(what, call) (errno = 0, report(what, (long)(call)))
