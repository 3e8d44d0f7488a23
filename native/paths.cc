#include "paths.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <vector>

#include "errors.h"

namespace torov {

namespace {

// The flags open(2) defines; openat2 rejects unknown bits that open ignores.
constexpr int kOpenFlags = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
                           O_DSYNC | FASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW |
                           O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE;

// Character devices every container runtime provides; harmless to share.
const char* const kDevices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};

int OpenInRoot(int root, const std::string& abs, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>((flags & kOpenFlags) | O_CLOEXEC);
  if (flags & (O_CREAT | O_TMPFILE)) how.mode = mode & 07777;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd;
  do fd = syscall(SYS_openat2, root, abs.c_str(), &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace

Paths::Paths(const std::string& host_root) {
  if (host_root.empty()) return;
  int fd = open(host_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw SystemError("EMOUNT", "MountPoint " + host_root);
  root_.Reset(fd);
  char real[PATH_MAX];
  if (!realpath(host_root.c_str(), real)) throw SystemError("EMOUNT", "MountPoint " + host_root);
  root_real_ = real;
}

std::string Paths::Normalize(const std::string& abs) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < abs.size()) {
    size_t j = abs.find('/', i);
    if (j == std::string::npos) j = abs.size();
    std::string part = abs.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

int Paths::StdioAlias(const std::string& n) {
  if (n == "/dev/stdin") return 0;
  if (n == "/dev/stdout") return 1;
  if (n == "/dev/stderr") return 2;
  for (const char* prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    const std::string p(prefix);
    if (n.compare(0, p.size(), p) == 0 && n.size() > p.size() && n.size() - p.size() <= 9) {
      int fd = 0;
      for (size_t k = p.size(); k < n.size(); k++) {
        if (n[k] < '0' || n[k] > '9') return -1;
        fd = fd * 10 + (n[k] - '0');
      }
      return fd;
    }
  }
  return -1;
}

int Paths::Join(const FdTable& fds, int64_t dirfd, const std::string& path, std::string* out) const {
  if (path.empty()) return -ENOENT;
  if (path[0] == '/') {
    *out = path;
    return 0;
  }
  std::string base;
  if (dirfd == AT_FDCWD) {
    base = cwd_;
  } else {
    const OpenFile* dir = fds.Get(dirfd);
    if (!dir) return -EBADF;
    if (!dir->directory) return -ENOTDIR;
    base = dir->guest_path;
  }
  *out = base == "/" ? "/" + path : base + "/" + path;
  return 0;
}

int Paths::Open(const std::string& abs, int flags, mode_t mode) const {
  const std::string n = Normalize(abs);
  for (const char* dev : kDevices) {
    if (n == dev) {
      int fd = open(dev, (flags & (O_ACCMODE | O_NONBLOCK | O_PATH | O_NOFOLLOW | O_DIRECTORY)) | O_CLOEXEC);
      return fd < 0 ? -errno : fd;
    }
  }
  if (n == "/proc/self/exe" && !exe_.empty()) {
    if ((flags & O_ACCMODE) != O_RDONLY) return -EACCES;
    int fd = open(exe_.c_str(), O_RDONLY | O_CLOEXEC | (flags & O_PATH));
    return fd < 0 ? -errno : fd;
  }
  if (!root_) return -ENOENT;
  return OpenInRoot(root_.get(), abs, flags, mode);
}

int Paths::Parent(const std::string& abs, Fd* dir, std::string* name) const {
  if (!root_) return -ENOENT;
  size_t end = abs.size();
  while (end > 1 && abs[end - 1] == '/') end--;  // "a/b/" names "b"
  const size_t slash = abs.rfind('/', end - 1);
  const std::string parent = slash == 0 ? "/" : abs.substr(0, slash);
  *name = abs.substr(slash + 1, end - slash - 1);
  if (name->size() > NAME_MAX) return -ENAMETOOLONG;
  int fd = OpenInRoot(root_.get(), parent, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) return fd;
  dir->Reset(fd);
  return 0;
}

int Paths::GuestPathOf(int host_fd, std::string* out) const {
  if (!root_) return -ENOENT;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", host_fd);
  char buf[PATH_MAX + 1];
  ssize_t n = readlink(link, buf, PATH_MAX);
  if (n < 0) return -errno;
  const std::string host(buf, static_cast<size_t>(n));
  if (host == root_real_) {
    *out = "/";
    return 0;
  }
  if (host.size() > root_real_.size() && host.compare(0, root_real_.size(), root_real_) == 0 &&
      host[root_real_.size()] == '/' && host.find(" (deleted)") == std::string::npos) {
    *out = host.substr(root_real_.size());
    return 0;
  }
  return -ENOENT;  // moved out of the root from the host side, or deleted
}

int Paths::Chdir(const std::string& abs) {
  if (!root_) return -ENOENT;
  int fd = OpenInRoot(root_.get(), abs, O_PATH | O_DIRECTORY, 0);
  if (fd < 0) return fd;
  Fd dir(fd);
  std::string path;
  int r = GuestPathOf(dir.get(), &path);
  if (r < 0) return r;
  cwd_ = path;
  return 0;
}

int Paths::Fchdir(const OpenFile& dir) {
  if (!dir.directory) return -ENOTDIR;
  cwd_ = dir.guest_path;
  return 0;
}

}  // namespace torov
