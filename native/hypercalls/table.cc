// The dispatch table and the helpers every family shares.
#include <fcntl.h>
#include <linux/limits.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "hypercalls.h"

namespace torov {

const HypercallTable& Hypercalls() {
  static const HypercallTable table = [] {
    HypercallTable t;
    RegisterEventHypercalls(t);
    RegisterFileHypercalls(t);
    RegisterIoHypercalls(t);
    RegisterMemoryHypercalls(t);
    RegisterNetHypercalls(t);
    RegisterPollHypercalls(t);
    RegisterProcessHypercalls(t);
    RegisterTimeHypercalls(t);
    return t;
  }();
  return table;
}

int GuestPath(const Guest& g, uint64_t addr, std::string* out) {
  int err = 0;
  if (!g.mm.UserString(addr, PATH_MAX - 1, out, &err)) return -err;
  return 0;
}

int ResolvePath(Guest& g, int64_t dirfd, uint64_t path_addr, bool nofollow, bool empty_path, Fd* out,
                bool* borrowed) {
  bool lent = false;
  if (borrowed) *borrowed = false;
  std::string path;
  int r = GuestPath(g, path_addr, &path);
  if (r < 0) return r;
  if (path.empty()) {
    if (!empty_path) return -ENOENT;
    if (dirfd == AT_FDCWD) {
      r = g.paths.Open(g.paths.cwd(), O_PATH | O_DIRECTORY, 0);
    } else {
      const OpenFile* f = g.fds.Get(dirfd);
      if (!f) return -EBADF;
      lent = f->borrowed;
      r = fcntl(f->host.get(), F_DUPFD_CLOEXEC, 3);
      if (r < 0) r = -errno;
    }
  } else {
    std::string abs;
    if ((r = g.paths.Join(g.fds, dirfd, path, &abs)) < 0) return r;
    const int alias = Paths::StdioAlias(Paths::Normalize(abs));
    if (alias >= 0) {
      const OpenFile* f = g.fds.Get(alias);
      if (!f) return -ENOENT;
      lent = f->borrowed;
      r = fcntl(f->host.get(), F_DUPFD_CLOEXEC, 3);
      if (r < 0) r = -errno;
    } else {
      lent = g.paths.Borrowed(abs);
      r = g.paths.Open(abs, O_PATH | (nofollow ? O_NOFOLLOW : 0), 0);
    }
  }
  if (r < 0) return r;
  out->Reset(r);
  if (borrowed) *borrowed = lent;
  return 0;
}

int64_t InstallHostFd(Guest& g, int host_fd, int open_flags) {
  auto file = std::make_shared<OpenFile>();
  file->host.Reset(host_fd);
  file->nonblock = (open_flags & O_NONBLOCK) != 0;
  struct stat st;
  if (fstat(host_fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      file->directory = true;
      if (g.paths.GuestPathOf(host_fd, &file->guest_path) < 0) file->guest_path = "/";
    }
    // Made by memfd_create, or received: its pages count (native/memfds.h).
    file->memfd = g.memfds.Track(st);
  }
  return g.fds.Install(std::move(file), (open_flags & O_CLOEXEC) != 0);
}

}  // namespace torov
