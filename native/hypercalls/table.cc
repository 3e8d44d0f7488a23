// The dispatch table and the helpers every family shares.
#include <fcntl.h>
#include <linux/limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "hypercalls.h"

namespace torov {

const HypercallTable& Hypercalls() {
  static const HypercallTable table = [] {
    HypercallTable t;
    RegisterChildHypercalls(t);
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

int GuestPath(const Process& g, uint64_t addr, std::string* out) {
  int err = 0;
  if (!g.mm.UserString(addr, PATH_MAX - 1, out, &err)) return -err;
  return 0;
}

int ResolvePath(Process& g, int64_t dirfd, uint64_t path_addr, bool nofollow, bool empty_path, Fd* out,
                bool* borrowed) {
  bool lent = false;
  if (borrowed) *borrowed = false;
  // "" (AT_EMPTY_PATH) and /dev/fd/N name a guest fd's file: a duplicate of it.
  auto dup_of = [&lent](const std::shared_ptr<OpenFile>& f, int missing) {
    if (!f) return missing;
    lent = f->borrowed;
    const int fd = fcntl(f->host.get(), F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? -errno : fd;
  };
  std::string path;
  int r = GuestPath(g, path_addr, &path);
  if (r < 0) return r;
  if (path.empty()) {
    if (!empty_path) return -ENOENT;
    if (dirfd == AT_FDCWD) {
      r = g.paths.Open(g.paths.cwd(), O_PATH | O_DIRECTORY, 0);
    } else {
      r = dup_of(g.fds.Get(dirfd), -EBADF);
    }
  } else {
    std::string abs;
    if ((r = g.paths.Join(g.fds, dirfd, path, &abs)) < 0) return r;
    const int alias = Paths::StdioAlias(Paths::Normalize(abs));
    if (alias >= 0) {
      r = dup_of(g.fds.Get(alias), -ENOENT);
    } else if (const int proc = OpenProcFile(g, Paths::Normalize(abs), O_RDONLY); proc != kNotProcFile) {
      lent = true;  // stat and access see the guest's own /proc file
      r = proc;
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

namespace {

std::shared_ptr<OpenFile> HostFile(Process& g, int host_fd, int open_flags) {
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
  return file;
}

}  // namespace

int64_t InstallHostFd(Process& g, int host_fd, int open_flags, bool borrowed) {
  auto file = HostFile(g, host_fd, open_flags);
  // Complete before it has a guest fd: from then on other threads use it.
  file->borrowed = borrowed;
  return g.fds.Install(std::move(file), (open_flags & O_CLOEXEC) != 0);
}

namespace {

// Whether a received file is plainly the guest's own: not one of the files
// it was lent (by device and inode), and a socket, a memfd, a pipe or
// another object without a name, or a file inside the MountPoint that is
// not one of the virtual names (a host peer may send the host's /dev/null).
bool OwnFile(Process& g, const OpenFile& file) {
  struct stat st;
  if (fstat(file.host.get(), &st) < 0) return false;
  if (g.Lent(st.st_dev, st.st_ino)) return false;
  if (S_ISSOCK(st.st_mode) || file.memfd) return true;
  char link[64];
  const auto magic = g.paths.Magic(file.host.get());
  const ssize_t n = readlinkat(magic.dir, magic.name.c_str(), link, sizeof link - 1);
  if (n > 0) {
    const std::string target(link, static_cast<size_t>(n));
    for (const char* anonymous : {"pipe:[", "anon_inode:"})
      if (target.rfind(anonymous, 0) == 0) return true;
  }
  std::string inside;
  return g.paths.GuestPathOf(file.host.get(), &inside) == 0 && !g.paths.Borrowed(inside);
}

}  // namespace

int64_t InstallReceivedFd(Process& g, int host_fd, int open_flags) {
  // Decided before the file has a guest fd: another thread could close
  // that fd (or use the file as the guest's own) in between.
  auto file = HostFile(g, host_fd, open_flags);
  file->borrowed = !OwnFile(g, *file);
  return g.fds.Install(std::move(file), (open_flags & O_CLOEXEC) != 0);
}

}  // namespace torov
