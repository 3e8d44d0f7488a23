#include "paths.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "errors.h"
#include "mounts.h"

namespace torov {

namespace {

// The flags open(2) defines; openat2 rejects unknown bits that open ignores.
constexpr int kOpenFlags = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK |
                           O_DSYNC | FASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW |
                           O_NOATIME | O_CLOEXEC | O_SYNC | O_PATH | O_TMPFILE;

// Character devices every container runtime provides; harmless to share.
const char* const kDevices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};

int OpenInRoot(int root, const std::string& abs, int flags, mode_t mode, const std::atomic<int>* stop = nullptr) {
  open_how how{};
  how.flags = static_cast<uint64_t>((flags & kOpenFlags) | O_CLOEXEC);
  // Never a set-user-ID or set-group-ID file from the guest (NoSetId).
  if (flags & (O_CREAT | O_TMPFILE)) how.mode = mode & (0777 | S_ISVTX);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd;
  // Opening a FIFO waits for the other end: a stop request (a kill, a
  // debugger's Ctrl-C) must end that wait, not restart it.
  do fd = syscall(SYS_openat2, root, abs.c_str(), &how, sizeof how);
  while (fd < 0 && errno == EINTR && !(stop && stop->load(std::memory_order_relaxed)));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

// Paths::Walk's bound on components taken (".." and those of symlinks'
// texts included): Linux's PATH_MAX of one-letter names, twice.
constexpr int kMaxWalkSteps = 4096;

// Its parts, "" and "." left out (".." kept: only a walk may take it).
std::deque<std::string> Split(const std::string& path) {
  std::deque<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i && !(j - i == 1 && path[i] == '.')) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

// Whether the path's last part must be a folder: it ends in "/" or "/."
// ("file/." is ENOTDIR, as "file/"), "/" itself aside.
bool NamesFolder(const std::string& path) {
  if (path.size() <= 1) return false;
  if (path.back() == '/') return true;
  return path.size() >= 2 && path.compare(path.size() - 2, 2, "/.") == 0;
}

bool HasDotDot(const std::string& path) {
  for (const std::string& p : Split(path))
    if (p == "..") return true;
  return false;
}

// Whether normalised `n` is `target` or below it.
bool AtOrBelow(const std::string& n, const std::string& target) {
  return n.compare(0, target.size(), target) == 0 && (n.size() == target.size() || n[target.size()] == '/');
}

}  // namespace

Paths::Paths(const std::string& host_root, const std::vector<MountConfig>& mounts) : v_(std::make_shared<View>()) {
  if (host_root.empty()) return;
  int fd = open(host_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw SystemError("EMOUNT", "MountPoint " + host_root);
  v_->root.Reset(fd);
  char real[PATH_MAX];
  if (!realpath(host_root.c_str(), real)) throw SystemError("EMOUNT", "MountPoint " + host_root);
  v_->root_real = real;
  for (const MountConfig& m : mounts) {
    Mount mount;
    mount.target = Normalize(m.target);
    mount.read_only = m.read_only;
    struct stat st;
    if (stat(m.source.c_str(), &st) < 0) throw SystemError("EMOUNT", "mount " + m.source);
    mount.file = !S_ISDIR(st.st_mode);
    // A file is lent as its name in a mount of its folder: opened by that
    // one name (never a symlink), so no lookup reopens it through a link.
    std::string dir = m.source;
    if (mount.file) {
      const size_t slash = m.source.rfind('/');
      if (slash == std::string::npos || slash + 1 == m.source.size()) throw Error("EMOUNT", "mount " + m.source + ": not an absolute file name");
      dir = slash == 0 ? "/" : m.source.substr(0, slash);
      mount.name = m.source.substr(slash + 1);
      mount.dev = st.st_dev;
      mount.ino = st.st_ino;
    }
    std::string how;
    const int tree = DetachedMount(dir, m.read_only, &how);
    if (tree >= 0) {
      mount.fd.Reset(tree);
      v_->mounts_made_by = how;
    } else if (!m.read_only) {
      // Writable: a plain fd does (the kernel's own checks are the same).
      const int plain = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (plain < 0) throw SystemError("EMOUNT", "mount " + m.source);
      mount.fd.Reset(plain);
      if (!realpath(dir.c_str(), real)) throw SystemError("EMOUNT", "mount " + m.source);
      mount.host_prefix = real;
    } else {
      // Never a read-only mount the kernel does not enforce.
      throw SystemError("EMOUNT",
                        "mount " + m.source + " at " + m.target +
                            " cannot be made read-only on this host (a detached bind mount needs root, or user "
                            "namespaces for an unprivileged user)",
                        -tree);
    }
    std::string pseudo;
    if (PseudoFileSystem(mount.fd.get(), &pseudo))
      throw Error("EMOUNT", "mount " + m.source + " at " + m.target + " is the host's " + pseudo +
                                " file system, which torov never lends: it describes the host, not files");
    v_->mounts.push_back(std::move(mount));
  }
  std::stable_sort(v_->mounts.begin(), v_->mounts.end(),
                   [](const Mount& a, const Mount& b) { return a.target.size() > b.target.size(); });
}

std::vector<int> Paths::mount_fds() const {
  std::vector<int> fds;
  for (const Mount& m : v_->mounts) fds.push_back(m.fd.get());
  return fds;
}

const Paths::Mount* Paths::MountOf(const std::string& n, std::string* rest) const {
  for (const Mount& m : v_->mounts) {
    if (AtOrBelow(n, m.target)) {
      *rest = n.substr(m.target.size());
      return &m;
    }
  }
  *rest = n;
  return nullptr;
}

bool Paths::AboveAnyPart(const std::string& n) const {
  for (size_t slash = n.find('/', 1); slash != std::string::npos; slash = n.find('/', slash + 1))
    if (AboveMount(n.substr(0, slash))) return true;
  return false;
}

bool Paths::AboveMount(const std::string& n) const {
  for (const Mount& m : v_->mounts)
    if (m.target.size() > n.size() && AtOrBelow(m.target, n)) return true;
  return false;
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
    base = cwd();
  } else {
    const std::shared_ptr<OpenFile> dir = fds.Get(dirfd);
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
      const int how = (flags & (O_ACCMODE | O_NONBLOCK | O_PATH | O_NOFOLLOW | O_DIRECTORY)) | O_CLOEXEC;
      int fd = v_->dev_dir ? openat(v_->dev_dir.get(), dev + 5, how) : open(dev, how);
      return fd < 0 ? -errno : fd;
    }
  }
  if (n == "/proc/self/exe" && !v_->exe.empty()) {
    if ((flags & O_ACCMODE) != O_RDONLY) return -EACCES;
    const int how = O_RDONLY | O_CLOEXEC | (flags & O_PATH);
    int fd = v_->exe_dir ? openat(v_->exe_dir.get(), v_->exe_name.c_str(), how) : open(v_->exe.c_str(), how);
    return fd < 0 ? -errno : fd;
  }
  if (UnderVirtualFile(n)) return -ENOTDIR;  // "/dev/null/x", as Linux answers
  if (!v_->root) return -ENOENT;
  return Lookup(abs, flags, mode, nullptr);
}

int Paths::Lookup(const std::string& abs, int flags, mode_t mode, std::string* canonical) const {
  if (v_->mounts.empty()) return OpenInRoot(v_->root.get(), abs, flags, mode, stop_);
  if (!HasDotDot(abs)) {
    // No "..": the path as written is the path in the guest's view, unless
    // a symlink is on it (ELOOP here: then the walk, which also passes the
    // folders that exist only on the way to a mount).
    const std::string n = Normalize(abs);
    const int fd = OpenResolved(n, NamesFolder(abs), flags, mode);
    if (fd != -ELOOP && !(fd == -ENOENT && AboveAnyPart(n))) {
      if (fd >= 0 && canonical) *canonical = n;
      return fd;
    }
  }
  return Walk(abs, flags, mode, canonical);
}

int Paths::OpenResolved(const std::string& n, bool trailing_slash, int flags, mode_t mode) const {
  std::string rest;
  const Mount* m = MountOf(n, &rest);
  if (m && m->file && !rest.empty()) return -ENOTDIR;
  const int dir = m ? m->fd.get() : v_->root.get();
  // `rest` is "" or "/" at the mount's root, else "/x/y"; a file mount's
  // root is its name in its folder's mount.
  std::string rel = m && m->file ? m->name : rest.size() <= 1 ? "." : rest.substr(1);
  if (trailing_slash && rel != ".") rel += "/";
  // A folder that is there only on the way to a mount is not the layer
  // below's to create as a file.
  if ((flags & O_CREAT) && !(m && rest.empty()) && AboveMount(n)) return -EISDIR;
  open_how how{};
  how.flags = static_cast<uint64_t>((flags & kOpenFlags) | O_CLOEXEC);
  if (flags & (O_CREAT | O_TMPFILE)) how.mode = mode & (0777 | S_ISVTX);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd;
  do fd = syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how);
  while (fd < 0 && errno == EINTR && !(stop_ && stop_->load(std::memory_order_relaxed)));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

int Paths::Walk(const std::string& abs, int flags, mode_t mode, std::string* canonical) const {
  std::deque<std::string> todo = Split(abs);
  bool trailing = NamesFolder(abs);
  std::string at;  // the guest path resolved so far, "" for "/"
  int links = 0;
  // Each step resolves the path so far again from a mount's root: a bound
  // on steps (as on symlinks) keeps one call from costing seconds.
  int steps = 0;
  auto path_of = [](const std::string& p) { return p.empty() ? std::string("/") : p; };
  while (true) {
    if (++steps > kMaxWalkSteps) return -ELOOP;
    if (stop_ && stop_->load(std::memory_order_relaxed)) return -EINTR;
    if (todo.empty()) {
      // "/" itself, or a path that ended in ".." or ".".
      const int fd = OpenResolved(path_of(at), trailing, flags, mode);
      if (fd >= 0 && canonical) *canonical = path_of(at);
      return fd;
    }
    const std::string part = todo.front();
    todo.pop_front();
    if (part == "..") {
      // In the guest's view: the parent of the path resolved so far, which
      // is a directory (each step below checked it).
      const size_t slash = at.rfind('/');
      at = slash == std::string::npos ? "" : at.substr(0, slash);
      continue;
    }
    if (part.size() > NAME_MAX) return -ENAMETOOLONG;
    const std::string next = at + "/" + part;
    const bool last = todo.empty();
    if (last) {
      const int fd = OpenResolved(next, trailing, flags, mode);
      // O_NOFOLLOW keeps a last symlink, unless a "/" after it asks for its folder.
      if (fd != -ELOOP || ((flags & O_NOFOLLOW) && !trailing)) {
        if (fd >= 0 && canonical) *canonical = next;
        return fd;
      }
    }
    // A folder on the way (or a last part that may be a symlink): what is it?
    std::string rest;
    const Mount* m = MountOf(next, &rest);
    if (m && rest.empty()) {
      // A mount's root is never a symlink (the kernel resolved its source).
      if (m->file && !last) return -ENOTDIR;
      at = next;
      continue;
    }
    const int fd = OpenResolved(next, false, O_PATH | O_NOFOLLOW, 0);
    if (fd == -ENOENT && !last && AboveMount(next)) {
      at = next;  // a folder only on the way to a mount
      continue;
    }
    if (fd < 0) return fd;
    Fd node(fd);
    struct stat st;
    if (fstat(node.get(), &st) < 0) return -errno;
    if (S_ISLNK(st.st_mode)) {
      if (++links > 40) return -ELOOP;
      char target[PATH_MAX];
      const ssize_t n = readlinkat(node.get(), "", target, sizeof target);
      if (n < 0) return -errno;
      if (n == 0) return -ENOENT;
      const std::string text(target, static_cast<size_t>(n));
      std::deque<std::string> parts = Split(text);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      if (text[0] == '/') at.clear();  // from the guest's "/"; else from the link's folder
      if (last && text.back() == '/') trailing = true;
      continue;
    }
    if (last) return -ELOOP;  // the kernel's own ELOOP, not a symlink of ours
    if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
    at = next;
  }
}


bool Paths::UnderVirtualFile(const std::string& n) const {
  auto under = [&n](const std::string& file) { return n.size() > file.size() && n.compare(0, file.size(), file) == 0 && n[file.size()] == '/'; };
  for (const char* dev : kDevices)
    if (under(dev)) return true;
  return !v_->exe.empty() && under("/proc/self/exe");
}

bool Paths::Borrowed(const std::string& abs) const {
  const std::string n = Normalize(abs);
  for (const char* dev : kDevices)
    if (n == dev) return true;
  return n == "/proc/self/exe" && !v_->exe.empty();
}

int Paths::Parent(const std::string& abs, Fd* dir, std::string* name, int covered, std::string* where) const {
  if (!v_->root) return -ENOENT;
  size_t end = abs.size();
  while (end > 1 && abs[end - 1] == '/') end--;  // "a/b/" names "b"
  const size_t slash = abs.rfind('/', end - 1);
  const std::string parent = slash == 0 ? "/" : abs.substr(0, slash);
  *name = abs.substr(slash + 1, end - slash - 1);
  if (name->size() > NAME_MAX) return -ENAMETOOLONG;
  if (UnderVirtualFile(Normalize(abs))) return -ENOTDIR;
  std::string at;
  int fd = Lookup(parent, O_PATH | O_DIRECTORY, 0, &at);
  if (fd < 0) return fd;
  dir->Reset(fd);
  if (where) *where = v_->mounts.empty() ? parent : at;
  if (!v_->mounts.empty() && !IsDots(*name)) {
    // A mount's target (or a folder on the way to one) is not the folder's
    // to change: the mount covers whatever the layer below has there.
    const std::string n = (at == "/" ? "" : at) + "/" + *name;
    std::string rest;
    if ((MountOf(n, &rest) && rest.empty()) || AboveMount(n)) {
      dir->Reset();
      return covered;
    }
  }
  return 0;
}

int Paths::GuestPathOf(int host_fd, std::string* out) const {
  if (!v_->root) return -ENOENT;
  char buf[PATH_MAX + 1];
  ssize_t n;
  if (v_->proc_fds) {
    n = readlinkat(v_->proc_fds.get(), FdName(host_fd).c_str(), buf, PATH_MAX);
  } else {
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", host_fd);
    n = readlink(link, buf, PATH_MAX);
  }
  if (n < 0) return -errno;
  const std::string host(buf, static_cast<size_t>(n));
  if (host.empty() || host[0] != '/' || host.find(" (deleted)") != std::string::npos) return -ENOENT;
  struct stat st;
  if (!v_->mounts.empty() && fstat(host_fd, &st) < 0) return -errno;
  for (const Mount& m : v_->mounts) {
    // A detached mount's files are named from its root; a plain one's by
    // their host path. The name counts only if it leads back to the file.
    if (m.file) {
      if (st.st_dev == m.dev && st.st_ino == m.ino) {
        *out = m.target;
        return 0;
      }
      continue;
    }
    if (!m.host_prefix.empty() && !AtOrBelow(host, m.host_prefix)) continue;
    std::string rel = host.substr(m.host_prefix.size());
    if (rel == "/") rel.clear();
    Fd same;
    if (!rel.empty()) {
      open_how how{};
      how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
      how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
      same.Reset(static_cast<int>(syscall(SYS_openat2, m.fd.get(), rel.c_str() + 1, &how, sizeof how)));
      if (!same) continue;
    }
    struct stat there;
    if (fstat(rel.empty() ? m.fd.get() : same.get(), &there) == 0 && there.st_dev == st.st_dev &&
        there.st_ino == st.st_ino) {
      *out = m.target + rel;
      return 0;
    }
  }
  if (v_->chrooted) {
    // Chrooted, the kernel names files from the root already; but a file
    // outside the root is named from the namespace's root, as if it were
    // inside. The name counts only if it leads back to the same file.
    struct stat mine, there;
    const int found = OpenInRoot(v_->root.get(), host, O_PATH | O_NOFOLLOW, 0);
    if (found < 0) return -ENOENT;
    Fd same(found);
    if (fstat(host_fd, &mine) < 0 || fstat(same.get(), &there) < 0 || mine.st_dev != there.st_dev ||
        mine.st_ino != there.st_ino)
      return -ENOENT;
    *out = host;
    return 0;
  }
  if (host == v_->root_real) {
    *out = "/";
    return 0;
  }
  if (host.size() > v_->root_real.size() && host.compare(0, v_->root_real.size(), v_->root_real) == 0 &&
      host[v_->root_real.size()] == '/') {
    *out = host.substr(v_->root_real.size());
    return 0;
  }
  return -ENOENT;  // moved out of the root from the host side, or deleted
}

int Paths::Chdir(const std::string& abs) {
  if (!v_->root) return -ENOENT;
  std::string path;
  int fd = Lookup(abs, O_PATH | O_DIRECTORY, 0, &path);
  if (fd < 0) return fd;
  Fd dir(fd);
  // Without mounts the kernel resolved it: where it is is the file's name.
  if (v_->mounts.empty()) {
    if (int r = GuestPathOf(dir.get(), &path); r < 0) return r;
  }
  std::lock_guard<std::mutex> lock(cwd_mutex_);
  cwd_ = path;
  return 0;
}

Paths::Paths(const Paths& parent, ForkTag) : v_(parent.v_), cwd_(parent.cwd()) {}

std::string Paths::Confine() {
  v_->dev_dir.Reset(open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC));
  v_->proc_fds.Reset(open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!v_->exe.empty()) {
    const size_t slash = v_->exe.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : v_->exe.substr(0, slash);
    v_->exe_dir.Reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    v_->exe_name = v_->exe.substr(slash + 1);
  }
  if (!v_->proc_fds) return "/proc is not mounted";
  if (!v_->root) return "there is no MountPoint";
  // The thread's own mount namespace (its fs context is its own already),
  // private so that nothing propagates, then the root as "/".
  if (unshare(CLONE_NEWNS) < 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    return std::string("making mounts private: ") + std::strerror(errno);
  if (chroot(v_->root_real.c_str()) < 0) return std::string("chroot: ") + std::strerror(errno);
  if (chdir("/") < 0) return std::string("chdir: ") + std::strerror(errno);
  // The root fd opened before names the old namespace's mount: lookups
  // from it would name files the kernel cannot place under the new root.
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return std::string("reopening the root: ") + std::strerror(errno);
  v_->root.Reset(root);
  v_->chrooted = true;
  return "";
}

int Paths::SocketPath(const std::string& abs, bool bind, Fd* hold, std::string* out) const {
  if (!v_->root) return -ENOENT;
  if (v_->chrooted) {
    // The kernel resolves the name from the root, and cannot leave it; it
    // does not see the mounts (they are detached), so a socket in one has
    // no name it can reach.
    std::string rest;
    if (MountOf(Normalize(abs), &rest)) return -EACCES;
    *out = abs;
    return 0;
  }
  if (bind) {
    // A new name in a confined directory: bind never follows a last symlink.
    std::string name;
    if (int r = Parent(abs, hold, &name, -EADDRINUSE); r < 0) return r;
    if (IsDots(name)) return -EINVAL;
    *out = "/proc/self/fd/" + FdName(hold->get()) + "/" + name;
    return 0;
  }
  // An existing socket, found confined (symlinks followed inside the root
  // only), named through its own magic link: connect follows a final
  // symlink, so the guest's name must never reach the host.
  int fd = Lookup(abs, O_PATH, 0, nullptr);
  if (fd < 0) return fd;
  hold->Reset(fd);
  *out = "/proc/self/fd/" + FdName(fd);
  return 0;
}

int Paths::Fchdir(const OpenFile& dir) {
  if (!dir.directory) return -ENOTDIR;
  std::lock_guard<std::mutex> lock(cwd_mutex_);
  cwd_ = dir.guest_path;
  return 0;
}

}  // namespace torov
