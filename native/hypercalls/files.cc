// Files and directories: open, stat, directory listing, names (mkdir,
// unlink, rename, link, symlink), metadata, the fd table (dup, fcntl,
// close), pipes and the cwd.
//
// Containment rule for this file: a host call never resolves a guest path by
// itself. Either the path was opened confined (Paths::Open, ResolvePath) and
// the call acts on that fd, or the call acts on one component in a confined
// parent directory and never follows a final symlink (Paths::Parent). Calls
// that must follow a final symlink and take no fd (chmod, utimensat) go
// through /proc/self/fd/N of a confined O_PATH fd (Paths::Magic): that magic
// link names exactly the file that was opened.
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "hypercalls.h"

namespace torov {

namespace {

constexpr int64_t kFdCwd = AT_FDCWD;

int64_t OpenAt(Process& g, int64_t dirfd, uint64_t path_addr, int flags, mode_t mode) {
  std::string path, abs;
  if (int r = GuestPath(g, path_addr, &path); r < 0) return r;
  if (int r = g.paths.Join(g.fds, dirfd, path, &abs); r < 0) return r;
  const std::string n = Paths::Normalize(abs);
  const int alias = Paths::StdioAlias(n);
  if (alias >= 0) {
    // /dev/stdout, /dev/fd/N: the same open file as guest fd N.
    auto file = g.fds.Get(alias);
    if (!file) return -ENOENT;
    return g.fds.Install(std::move(file), (flags & O_CLOEXEC) != 0);
  }
  if (const int proc = OpenProcFile(g, n, flags); proc != kNotProcFile) {
    if (proc < 0) return proc;
    return InstallHostFd(g, proc, flags, true);  // lent: its mode and size are not the guest's to change
  }
  const int host = g.paths.Open(abs, flags, mode);
  if (host < 0) return host;
  // A lent file is marked before its fd exists: another thread could
  // otherwise fchmod or close it between the two.
  const bool borrowed = g.paths.Borrowed(abs);
  if (borrowed) {
    struct stat st;
    if (fstat(host, &st) == 0) g.Lend(st.st_dev, st.st_ino);
  }
  return InstallHostFd(g, host, flags, borrowed);
}

int64_t Open(Process& g, Task& t, const Args& a) {
  return OpenAt(g, kFdCwd, a[0], static_cast<int>(a[1]), static_cast<mode_t>(a[2]));
}
int64_t Openat(Process& g, Task& t, const Args& a) {
  return OpenAt(g, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]), static_cast<mode_t>(a[3]));
}
int64_t Creat(Process& g, Task& t, const Args& a) {
  return OpenAt(g, kFdCwd, a[0], O_CREAT | O_WRONLY | O_TRUNC, static_cast<mode_t>(a[1]));
}

int64_t Close(Process& g, Task& t, const Args& a) { return g.fds.Close(a[0]); }

int64_t CloseRange(Process& g, Task& t, const Args& a) {
  const uint64_t first = a[0], last = a[1], flags = a[2];
  if (first > last || (flags & ~uint64_t{CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC})) return -EINVAL;
  const uint64_t end = std::min<uint64_t>(last, static_cast<uint64_t>(g.fds.used()) - 1);
  for (uint64_t fd = first; g.fds.used() > 0 && fd <= end; fd++) {
    if (!g.fds.Get(fd)) continue;
    if (flags & CLOSE_RANGE_CLOEXEC)
      g.fds.set_cloexec(static_cast<int>(fd), true);
    else
      g.fds.Close(fd);
  }
  return 0;
}

// ---- stat family

int64_t StatAt(Process& g, int64_t dirfd, uint64_t path, uint64_t buf, int flags) {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)) return -EINVAL;
  Fd fd;
  if (int r = ResolvePath(g, dirfd, path, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH, &fd); r < 0) return r;
  struct stat st;
  if (fstatat(fd.get(), "", &st, AT_EMPTY_PATH) < 0) return -errno;
  return CopyOut(g, buf, st) ? 0 : -EFAULT;
}

int64_t Stat(Process& g, Task& t, const Args& a) { return StatAt(g, kFdCwd, a[0], a[1], 0); }
int64_t Lstat(Process& g, Task& t, const Args& a) { return StatAt(g, kFdCwd, a[0], a[1], AT_SYMLINK_NOFOLLOW); }
int64_t Newfstatat(Process& g, Task& t, const Args& a) {
  return StatAt(g, static_cast<int>(a[0]), a[1], a[2], static_cast<int>(a[3]));
}

int64_t Fstat(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  struct stat st;
  if (fstat(f->host.get(), &st) < 0) return -errno;
  return CopyOut(g, a[1], st) ? 0 : -EFAULT;
}

int64_t Statx(Process& g, Task& t, const Args& a) {
  const int flags = static_cast<int>(a[2]);
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)) return -EINVAL;
  Fd fd;
  if (int r = ResolvePath(g, static_cast<int>(a[0]), a[1], flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH, &fd);
      r < 0)
    return r;
  struct statx stx;
  if (statx(fd.get(), "", AT_EMPTY_PATH | (flags & AT_STATX_SYNC_TYPE), static_cast<unsigned>(a[3]), &stx) < 0)
    return -errno;
  return CopyOut(g, a[4], stx) ? 0 : -EFAULT;
}

int64_t AccessAt(Process& g, int64_t dirfd, uint64_t path, int mode, int flags) {
  if (mode & ~(F_OK | R_OK | W_OK | X_OK)) return -EINVAL;
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH)) return -EINVAL;
  Fd fd;
  if (int r = ResolvePath(g, dirfd, path, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH, &fd); r < 0) return r;
  return HostResult(syscall(SYS_faccessat2, fd.get(), "", mode, AT_EMPTY_PATH | (flags & AT_EACCESS)));
}

int64_t AccessCall(Process& g, Task& t, const Args& a) { return AccessAt(g, kFdCwd, a[0], static_cast<int>(a[1]), 0); }
int64_t Faccessat(Process& g, Task& t, const Args& a) {
  return AccessAt(g, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]), 0);
}
int64_t Faccessat2(Process& g, Task& t, const Args& a) {
  return AccessAt(g, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]), static_cast<int>(a[3]));
}

// Extended attributes: the guest's files have none, as on a file system
// that keeps none: a get finds nothing (ENODATA), a list is empty, a set
// or remove is refused (EOPNOTSUPP). The path or fd is looked up first, so
// ENOENT, ENOTDIR and EBADF come as Linux gives them. The host's own
// attributes (security labels, ACLs, file capabilities) stay the host's.
int64_t XattrAt(Process& g, uint64_t path, bool nofollow, int64_t answer) {
  Fd fd;
  if (int r = ResolvePath(g, kFdCwd, path, nofollow, false, &fd); r < 0) return r;
  return answer;
}
int64_t XattrOfFd(Process& g, uint64_t fd, int64_t answer) { return g.fds.Get(fd) ? answer : -EBADF; }
int64_t Getxattr(Process& g, Task& t, const Args& a) { return XattrAt(g, a[0], false, -ENODATA); }
int64_t Lgetxattr(Process& g, Task& t, const Args& a) { return XattrAt(g, a[0], true, -ENODATA); }
int64_t Fgetxattr(Process& g, Task& t, const Args& a) { return XattrOfFd(g, a[0], -ENODATA); }
int64_t Listxattr(Process& g, Task& t, const Args& a) { return XattrAt(g, a[0], false, 0); }
int64_t Llistxattr(Process& g, Task& t, const Args& a) { return XattrAt(g, a[0], true, 0); }
int64_t Flistxattr(Process& g, Task& t, const Args& a) { return XattrOfFd(g, a[0], 0); }
int64_t Setxattr(Process& g, Task& t, const Args& a) { return XattrAt(g, a[0], false, -EOPNOTSUPP); }
int64_t Lsetxattr(Process& g, Task& t, const Args& a) { return XattrAt(g, a[0], true, -EOPNOTSUPP); }
int64_t Fsetxattr(Process& g, Task& t, const Args& a) { return XattrOfFd(g, a[0], -EOPNOTSUPP); }
int64_t Removexattr(Process& g, Task& t, const Args& a) { return XattrAt(g, a[0], false, -EOPNOTSUPP); }
int64_t Lremovexattr(Process& g, Task& t, const Args& a) { return XattrAt(g, a[0], true, -EOPNOTSUPP); }
int64_t Fremovexattr(Process& g, Task& t, const Args& a) { return XattrOfFd(g, a[0], -EOPNOTSUPP); }

int64_t Getdents64(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  const uint64_t len = std::min<uint64_t>(a[2], 1 << 20);
  const uint64_t n = g.mm.UserExtent(a[1], len, Access::kWrite);
  if (len && !n) return -EFAULT;
  return HostResult(syscall(SYS_getdents64, f->host.get(), g.mm.User(a[1], n, Access::kWrite), n));
}

// The old getdents: linux_dirent records, which the host writes directly.
int64_t Getdents(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  const uint64_t len = std::min<uint64_t>(a[2], 1 << 20);
  const uint64_t n = g.mm.UserExtent(a[1], len, Access::kWrite);
  if (len && !n) return -EFAULT;
  return HostResult(syscall(SYS_getdents, f->host.get(), g.mm.User(a[1], n, Access::kWrite), n));
}

int64_t Statfs(Process& g, Task& t, const Args& a) {
  Fd fd;
  if (int r = ResolvePath(g, kFdCwd, a[0], false, false, &fd); r < 0) return r;
  struct statfs st;
  if (fstatfs(fd.get(), &st) < 0) return -errno;
  return CopyOut(g, a[1], st) ? 0 : -EFAULT;
}

int64_t Fstatfs(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  struct statfs st;
  if (fstatfs(f->host.get(), &st) < 0) return -errno;
  return CopyOut(g, a[1], st) ? 0 : -EFAULT;
}

// ---- names in directories

// The confined parent directory of (dirfd, path) and the last component;
// `covered` when that names a mount's target (native/paths.h).
int ParentOf(Process& g, int64_t dirfd, uint64_t path_addr, Fd* dir, std::string* name, int covered,
             std::string* where = nullptr) {
  std::string path, abs;
  if (int r = GuestPath(g, path_addr, &path); r < 0) return r;
  if (int r = g.paths.Join(g.fds, dirfd, path, &abs); r < 0) return r;
  return g.paths.Parent(abs, dir, name, covered, where);
}

int64_t MkdirAt(Process& g, int64_t dirfd, uint64_t path, mode_t mode) {
  Fd dir;
  std::string name;
  if (int r = ParentOf(g, dirfd, path, &dir, &name, -EEXIST); r < 0) return r;
  if (Paths::IsDots(name)) return -EEXIST;
  return HostResult(mkdirat(dir.get(), name.c_str(), mode));
}
int64_t Mkdir(Process& g, Task& t, const Args& a) { return MkdirAt(g, kFdCwd, a[0], static_cast<mode_t>(a[1])); }
int64_t Mkdirat(Process& g, Task& t, const Args& a) {
  return MkdirAt(g, static_cast<int>(a[0]), a[1], static_cast<mode_t>(a[2]));
}

int64_t Mknodat(Process& g, int64_t dirfd, uint64_t path, mode_t mode, dev_t dev) {
  // Only what an unprivileged process may make: FIFOs, sockets, regular files.
  const mode_t type = mode & S_IFMT;
  if (type != S_IFIFO && type != S_IFSOCK && type != S_IFREG && type != 0) return -EPERM;
  Fd dir;
  std::string name;
  if (int r = ParentOf(g, dirfd, path, &dir, &name, -EEXIST); r < 0) return r;
  if (Paths::IsDots(name)) return -EEXIST;
  return HostResult(mknodat(dir.get(), name.c_str(), type | NoSetId(mode & 07777, false), dev));
}
int64_t Mknod(Process& g, Task& t, const Args& a) {
  return Mknodat(g, kFdCwd, a[0], static_cast<mode_t>(a[1]), static_cast<dev_t>(a[2]));
}
int64_t MknodatCall(Process& g, Task& t, const Args& a) {
  return Mknodat(g, static_cast<int>(a[0]), a[1], static_cast<mode_t>(a[2]), static_cast<dev_t>(a[3]));
}

int64_t UnlinkAt(Process& g, int64_t dirfd, uint64_t path, int flags) {
  if (flags & ~AT_REMOVEDIR) return -EINVAL;
  Fd dir;
  std::string name;
  if (int r = ParentOf(g, dirfd, path, &dir, &name, -EBUSY); r < 0) return r;
  if (Paths::IsDots(name)) {
    if (!(flags & AT_REMOVEDIR)) return -EISDIR;
    return name == ".." ? -ENOTEMPTY : (name.empty() ? -EBUSY : -EINVAL);
  }
  return HostResult(unlinkat(dir.get(), name.c_str(), flags));
}
int64_t Unlink(Process& g, Task& t, const Args& a) { return UnlinkAt(g, kFdCwd, a[0], 0); }
int64_t Rmdir(Process& g, Task& t, const Args& a) { return UnlinkAt(g, kFdCwd, a[0], AT_REMOVEDIR); }
int64_t Unlinkat(Process& g, Task& t, const Args& a) {
  return UnlinkAt(g, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]));
}

int64_t RenameAt(Process& g, int64_t olddir, uint64_t oldpath, int64_t newdir, uint64_t newpath, unsigned flags) {
  if (flags & ~unsigned{RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT}) return -EINVAL;
  Fd odir, ndir;
  std::string oname, nname, oat, nat;
  const int ro = ParentOf(g, olddir, oldpath, &odir, &oname, 1, &oat);
  if (ro < 0) return ro;
  const int rn = ParentOf(g, newdir, newpath, &ndir, &nname, 1, &nat);
  if (rn < 0) return rn;
  // A mount's target (1): as Linux, a rename across mounts is EXDEV first.
  if (ro > 0 || rn > 0) return g.paths.SameMount(oat, nat) ? -EBUSY : -EXDEV;
  if (Paths::IsDots(oname) || Paths::IsDots(nname)) return -EBUSY;
  return HostResult(renameat2(odir.get(), oname.c_str(), ndir.get(), nname.c_str(), flags));
}
int64_t Rename(Process& g, Task& t, const Args& a) { return RenameAt(g, kFdCwd, a[0], kFdCwd, a[1], 0); }
int64_t Renameat(Process& g, Task& t, const Args& a) {
  return RenameAt(g, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]), a[3], 0);
}
int64_t Renameat2(Process& g, Task& t, const Args& a) {
  return RenameAt(g, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]), a[3], static_cast<unsigned>(a[4]));
}

int64_t LinkAt(Process& g, int64_t olddir, uint64_t oldpath, int64_t newdir, uint64_t newpath, int flags) {
  if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  Fd ndir;
  std::string nname, nat;
  const int rn = ParentOf(g, newdir, newpath, &ndir, &nname, 1, &nat);
  if (rn < 0) return rn;
  if (rn > 0 && (flags & (AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))) return -EEXIST;  // a mount's target
  if (Paths::IsDots(nname)) return -EEXIST;
  if (flags & (AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) {
    // Following a symlink must stay confined: link the file a confined
    // lookup found, through its magic link.
    Fd src;
    bool borrowed;
    if (int r = ResolvePath(g, olddir, oldpath, false, flags & AT_EMPTY_PATH, &src, &borrowed); r < 0) return r;
    if (borrowed) return -EXDEV;  // not in the guest's file system
    const auto link = g.paths.Magic(src.get());
    return HostResult(linkat(link.dir, link.name.c_str(), ndir.get(), nname.c_str(), AT_SYMLINK_FOLLOW));
  }
  Fd odir;
  std::string oname, oat;
  if (int r = ParentOf(g, olddir, oldpath, &odir, &oname, -EXDEV, &oat); r < 0) return r;
  // Onto a mount's target: across mounts EXDEV first, as Linux.
  if (rn > 0) return g.paths.SameMount(oat, nat) ? -EEXIST : -EXDEV;
  if (Paths::IsDots(oname)) return -EPERM;
  return HostResult(linkat(odir.get(), oname.c_str(), ndir.get(), nname.c_str(), 0));
}
int64_t Link(Process& g, Task& t, const Args& a) { return LinkAt(g, kFdCwd, a[0], kFdCwd, a[1], 0); }
int64_t Linkat(Process& g, Task& t, const Args& a) {
  return LinkAt(g, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]), a[3], static_cast<int>(a[4]));
}

int64_t SymlinkAt(Process& g, uint64_t target_addr, int64_t newdir, uint64_t linkpath) {
  std::string target;
  if (int r = GuestPath(g, target_addr, &target); r < 0) return r;
  if (target.empty()) return -ENOENT;
  Fd dir;
  std::string name;
  if (int r = ParentOf(g, newdir, linkpath, &dir, &name, -EEXIST); r < 0) return r;
  if (Paths::IsDots(name)) return -EEXIST;
  // The target is only text; resolving it later is confined like any path.
  return HostResult(symlinkat(target.c_str(), dir.get(), name.c_str()));
}
int64_t Symlink(Process& g, Task& t, const Args& a) { return SymlinkAt(g, a[0], kFdCwd, a[1]); }
int64_t Symlinkat(Process& g, Task& t, const Args& a) { return SymlinkAt(g, a[0], static_cast<int>(a[1]), a[2]); }

int64_t ReadlinkAt(Process& g, uint64_t nr, int64_t dirfd, uint64_t path_addr, uint64_t buf, uint64_t size) {
  if (static_cast<int64_t>(size) <= 0) return -EINVAL;
  std::string path, abs;
  if (int r = GuestPath(g, path_addr, &path); r < 0) return r;
  std::string target;
  if (!path.empty() && g.paths.Join(g.fds, dirfd, path, &abs) == 0 && Paths::Normalize(abs) == "/proc/self/exe") {
    target = "/" + g.config.exe_name;
  } else if (!g.Allowed(nr)) {
    // The gate let this call through because the path read
    // "/proc/self/exe" then (IsSelfExeReadlink); another thread has
    // changed it since. What the policy denies never reaches the host.
    return -EPERM;
  } else {
    Fd fd;
    if (int r = ResolvePath(g, dirfd, path_addr, true, true, &fd); r < 0) return r;
    char tmp[PATH_MAX];
    ssize_t n = readlinkat(fd.get(), "", tmp, sizeof tmp);
    if (n < 0) return errno == ENOENT ? -EINVAL : -errno;  // "" on a non-link
    target.assign(tmp, static_cast<size_t>(n));
  }
  const uint64_t n = std::min<uint64_t>(size, target.size());
  if (!CopyOutBytes(g, buf, target.data(), n)) return -EFAULT;
  return static_cast<int64_t>(n);
}
int64_t Readlink(Process& g, Task& t, const Args& a) { return ReadlinkAt(g, SYS_readlink, kFdCwd, a[0], a[1], a[2]); }
int64_t Readlinkat(Process& g, Task& t, const Args& a) {
  return ReadlinkAt(g, SYS_readlinkat, static_cast<int>(a[0]), a[1], a[2], a[3]);
}

// ---- metadata

int64_t ChmodAt(Process& g, int64_t dirfd, uint64_t path, mode_t mode, int flags) {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  Fd fd;
  bool borrowed;
  if (int r = ResolvePath(g, dirfd, path, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH, &fd, &borrowed); r < 0)
    return r;
  if (borrowed) return -EPERM;
  struct stat st;
  if (fstatat(fd.get(), "", &st, AT_EMPTY_PATH) < 0) return -errno;
  if (S_ISLNK(st.st_mode)) return -EOPNOTSUPP;
  const auto link = g.paths.Magic(fd.get());
  return HostResult(fchmodat(link.dir, link.name.c_str(), NoSetId(mode, S_ISDIR(st.st_mode)), 0));
}
int64_t Chmod(Process& g, Task& t, const Args& a) { return ChmodAt(g, kFdCwd, a[0], static_cast<mode_t>(a[1]), 0); }
int64_t Fchmodat(Process& g, Task& t, const Args& a) {
  return ChmodAt(g, static_cast<int>(a[0]), a[1], static_cast<mode_t>(a[2]), 0);
}
int64_t Fchmod(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  if (f->borrowed) return -EPERM;
  struct stat st;
  if (fstat(f->host.get(), &st) < 0) return -errno;
  return HostResult(fchmod(f->host.get(), NoSetId(static_cast<mode_t>(a[1]), S_ISDIR(st.st_mode))));
}

int64_t ChownAt(Process& g, int64_t dirfd, uint64_t path, uint64_t uid, uint64_t gid, int flags) {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  Fd fd;
  bool borrowed;
  if (int r = ResolvePath(g, dirfd, path, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH, &fd, &borrowed); r < 0)
    return r;
  if (borrowed) return -EPERM;
  return HostResult(fchownat(fd.get(), "", static_cast<uid_t>(uid), static_cast<gid_t>(gid), AT_EMPTY_PATH));
}
int64_t Chown(Process& g, Task& t, const Args& a) { return ChownAt(g, kFdCwd, a[0], a[1], a[2], 0); }
int64_t Lchown(Process& g, Task& t, const Args& a) { return ChownAt(g, kFdCwd, a[0], a[1], a[2], AT_SYMLINK_NOFOLLOW); }
int64_t Fchownat(Process& g, Task& t, const Args& a) {
  return ChownAt(g, static_cast<int>(a[0]), a[1], a[2], a[3], static_cast<int>(a[4]));
}
int64_t Fchown(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  if (f->borrowed) return -EPERM;
  return HostResult(fchown(f->host.get(), static_cast<uid_t>(a[1]), static_cast<gid_t>(a[2])));
}

int64_t UtimesAt(Process& g, int64_t dirfd, uint64_t path, const timespec* tp, int flags) {
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return -EINVAL;
  if (path == 0) {  // futimens: the dirfd itself
    const std::shared_ptr<OpenFile> f = g.fds.Get(dirfd);
    if (!f) return -EBADF;
    if (f->borrowed) return -EPERM;
    return HostResult(futimens(f->host.get(), tp));
  }
  Fd fd;
  bool borrowed;
  if (int r = ResolvePath(g, dirfd, path, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH, &fd, &borrowed); r < 0)
    return r;
  if (borrowed) return -EPERM;
  if (flags & AT_SYMLINK_NOFOLLOW) {
    // A final symlink itself: by its name in its confined parent.
    Fd dir;
    std::string name;
    // A mount's root (1) is no symlink: its times are the file's, below.
    const int r = ParentOf(g, dirfd, path, &dir, &name, 1);
    if (r < 0) return r;
    if (r == 0 && !Paths::IsDots(name)) return HostResult(utimensat(dir.get(), name.c_str(), tp, AT_SYMLINK_NOFOLLOW));
  }
  const auto link = g.paths.Magic(fd.get());
  return HostResult(utimensat(link.dir, link.name.c_str(), tp, 0));
}

int64_t Utimensat(Process& g, Task& t, const Args& a) {
  timespec times[2];
  if (a[2] && !CopyIn(g, a[2], &times)) return -EFAULT;
  return UtimesAt(g, static_cast<int>(a[0]), a[1], a[2] ? times : nullptr, static_cast<int>(a[3]));
}

// utimes/futimesat take two timevals; utime a utimbuf of two time_t.
int64_t FutimesatImpl(Process& g, int64_t dirfd, uint64_t path, uint64_t tv_addr) {
  if (!path) return -EFAULT;
  timeval tv[2];
  timespec ts[2];
  if (tv_addr) {
    if (!CopyIn(g, tv_addr, &tv)) return -EFAULT;
    for (int i = 0; i < 2; i++) {
      if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000) return -EINVAL;
      ts[i] = {tv[i].tv_sec, tv[i].tv_usec * 1000};
    }
  }
  return UtimesAt(g, dirfd, path, tv_addr ? ts : nullptr, 0);
}
int64_t Utimes(Process& g, Task& t, const Args& a) { return FutimesatImpl(g, kFdCwd, a[0], a[1]); }
int64_t Futimesat(Process& g, Task& t, const Args& a) { return FutimesatImpl(g, static_cast<int>(a[0]), a[1], a[2]); }
int64_t Utime(Process& g, Task& t, const Args& a) {
  if (!a[0]) return -EFAULT;
  time_t times[2];
  timespec ts[2];
  if (a[1]) {
    if (!CopyIn(g, a[1], &times)) return -EFAULT;
    ts[0] = {times[0], 0};
    ts[1] = {times[1], 0};
  }
  return UtimesAt(g, kFdCwd, a[0], a[1] ? ts : nullptr, 0);
}

// sync(2) would flush every file system of the host; syncfs of the
// MountPoint is what the guest's writes need.
int64_t Sync(Process& g, Task& t, const Args&) {
  int fd = g.paths.Open("/", O_RDONLY | O_DIRECTORY, 0);
  if (fd < 0) return 0;
  Fd root(fd);
  syncfs(root.get());
  return 0;
}

int64_t Syncfs(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return HostResult(syncfs(f->host.get()));
}

int64_t Truncate(Process& g, Task& t, const Args& a) {
  std::string path, abs;
  if (int r = GuestPath(g, a[0], &path); r < 0) return r;
  if (int r = g.paths.Join(g.fds, kFdCwd, path, &abs); r < 0) return r;
  int host = g.paths.Open(abs, O_WRONLY, 0);
  if (host < 0) return host;
  Fd fd(host);
  return HostResult(ftruncate(fd.get(), static_cast<off_t>(a[1])));
}

int64_t Ftruncate(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  if (f->borrowed) return -EPERM;
  const int64_t r = HostResult(ftruncate(f->host.get(), static_cast<off_t>(a[1])));
  MemfdUsed(g, *f);  // a memfd cut short holds less; a longer one, no more
  return r;
}

int64_t Fallocate(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  if (f->borrowed) return -EPERM;
  const int mode = static_cast<int>(a[1]);
  const int64_t off = static_cast<int64_t>(a[2]), len = static_cast<int64_t>(a[3]);
  // Allocating in a memfd past its budget is ENOSPC, all or nothing, as on
  // a full tmpfs. Punching holes frees; other modes, and bad offsets and
  // lengths, get the kernel's answer.
  if (f->memfd && (mode & ~FALLOC_FL_KEEP_SIZE) == 0 && off >= 0 && len > 0 && off <= INT64_MAX - len) {
    const MemfdBudget::Grant grant = g.memfds.Allocate(f->memfd, f->host.get(), static_cast<uint64_t>(off), static_cast<uint64_t>(len));
    if (grant.room < 0) return grant.room;
    return HostResult(fallocate(f->host.get(), mode, off, len));
  }
  const int64_t r = HostResult(fallocate(f->host.get(), mode, off, len));
  MemfdUsed(g, *f);
  return r;
}

int64_t Flock(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  // A lock held elsewhere: LOCK_NB answers EWOULDBLOCK at once; without it
  // the host call itself waits (and a kill's signal cuts it short).
  return HostIo(t, *f, POLLIN, [&] { return ::flock(f->host.get(), static_cast<int>(a[1])); }, a[1] & LOCK_NB);
}

int64_t Umask(Process&, Task&, const Args& a) {
  // The vCPU thread has its own fs context (unshare(CLONE_FS)): this umask
  // is the guest's alone, and the host applies it to files the guest creates.
  return umask(static_cast<mode_t>(a[0] & 0777));
}

// ---- the fd table

int64_t Dup(Process& g, Task& t, const Args& a) {
  auto file = g.fds.Get(a[0]);
  if (!file) return -EBADF;
  return g.fds.Install(std::move(file), false);
}

int64_t Dup3Impl(Process& g, uint64_t oldfd, uint64_t newfd, bool cloexec) {
  auto file = g.fds.Get(oldfd);
  if (!file) return -EBADF;
  if (newfd >= static_cast<uint64_t>(g.fds.limit())) return -EBADF;
  return g.fds.InstallAt(static_cast<int>(newfd), std::move(file), cloexec);
}
int64_t Dup2(Process& g, Task& t, const Args& a) {
  if (a[0] == a[1]) return g.fds.Get(a[0]) ? static_cast<int64_t>(a[1]) : -EBADF;
  return Dup3Impl(g, a[0], a[1], false);
}
int64_t Dup3(Process& g, Task& t, const Args& a) {
  if (a[2] & ~uint64_t{O_CLOEXEC}) return -EINVAL;
  if (a[0] == a[1]) return -EINVAL;
  return Dup3Impl(g, a[0], a[1], a[2] & O_CLOEXEC);
}

// The largest pipe buffer a guest may ask for: a new pipe's.
constexpr uint64_t kMaxPipeBuffer = 16 * kPageSize;

int64_t Fcntl(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  const int fd = static_cast<int>(a[0]);
  const int host = f->host.get();
  const uint64_t arg = a[2];
  switch (static_cast<int>(a[1])) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      if (arg >= static_cast<uint64_t>(g.fds.limit())) return -EINVAL;
      return g.fds.Install(f, a[1] == F_DUPFD_CLOEXEC, static_cast<int>(arg));  // the file held, not the fd again
    case F_GETFD:
      return g.fds.cloexec(fd) ? FD_CLOEXEC : 0;
    case F_SETFD:
      g.fds.set_cloexec(fd, arg & FD_CLOEXEC);
      return 0;
    case F_GETFL: {
      int fl = fcntl(host, F_GETFL);
      if (fl < 0) return -errno;
      return (fl & ~O_NONBLOCK) | (f->nonblock ? O_NONBLOCK : 0);
    }
    case F_SETFL: {
      const int want = static_cast<int>(arg) & (O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK);
      if (fcntl(host, F_SETFL, want) < 0) return -errno;
      f->nonblock = want & O_NONBLOCK;
      return 0;
    }
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW: {
      struct flock lk;
      if (!CopyIn(g, arg, &lk)) return -EFAULT;
      const int cmd = static_cast<int>(a[1]);
      // F_SETLK's conflict is EAGAIN (or EACCES): an answer, not a wait.
      const bool waits = cmd == F_SETLKW || cmd == F_OFD_SETLKW;
      int64_t r = HostIo(t, *f, POLLIN, [&] { return fcntl(host, cmd, &lk); }, !waits);
      if (r < 0) return r;
      if ((cmd == F_GETLK || cmd == F_OFD_GETLK) && !CopyOut(g, arg, lk)) return -EFAULT;
      return r;
    }
    case F_SETPIPE_SZ: {
      // A pipe's buffer is host memory the guest pins outside its Memory: it
      // gets no larger than a new pipe's (16 pages), as if the host's
      // pipe-max-size were that. Linux's rounding and answers: EINVAL past
      // 2^31, EPERM for a larger buffer without CAP_SYS_RESOURCE.
      // Shrinking one that is larger already (a pipe from the host) is allowed.
      const int now = fcntl(host, F_GETPIPE_SZ);
      if (now < 0) return -errno;  // EBADF: not a pipe
      const uint64_t size = static_cast<uint32_t>(arg);
      if (size > (uint64_t{1} << 31)) return -EINVAL;
      uint64_t rounded = kPageSize;
      while (rounded < size) rounded <<= 1;
      if (rounded > kMaxPipeBuffer && rounded > static_cast<uint64_t>(now)) return -EPERM;
      return HostResult(fcntl(host, F_SETPIPE_SZ, static_cast<int>(size)));
    }
    case F_GETPIPE_SZ:
    case F_GET_SEALS:
    case F_ADD_SEALS:
      return HostResult(fcntl(host, static_cast<int>(a[1]), static_cast<int>(arg)));
    default:
      return -EINVAL;
  }
}

int64_t Pipe2Impl(Process& g, uint64_t out, int flags) {
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return -EINVAL;
  if (!g.mm.User(out, 8, Access::kWrite)) return -EFAULT;
  int host[2];
  if (pipe2(host, (flags & ~O_CLOEXEC) | O_CLOEXEC) < 0) return -errno;
  Fd rd(host[0]), wr(host[1]);
  int64_t r0 = InstallHostFd(g, rd.Release(), flags);
  if (r0 < 0) return r0;
  int64_t r1 = InstallHostFd(g, wr.Release(), flags);
  if (r1 < 0) {
    g.fds.Close(r0);
    return r1;
  }
  const int fds[2] = {static_cast<int>(r0), static_cast<int>(r1)};
  CopyOut(g, out, fds);
  return 0;
}
int64_t Pipe(Process& g, Task& t, const Args& a) { return Pipe2Impl(g, a[0], 0); }
int64_t Pipe2(Process& g, Task& t, const Args& a) { return Pipe2Impl(g, a[0], static_cast<int>(a[1])); }

// ---- the cwd

int64_t Getcwd(Process& g, Task& t, const Args& a) {
  const std::string& cwd = g.paths.cwd();
  if (a[1] < cwd.size() + 1) return -ERANGE;
  if (!CopyOutBytes(g, a[0], cwd.c_str(), cwd.size() + 1)) return -EFAULT;
  return static_cast<int64_t>(cwd.size() + 1);
}

int64_t Chdir(Process& g, Task& t, const Args& a) {
  std::string path, abs;
  if (int r = GuestPath(g, a[0], &path); r < 0) return r;
  if (int r = g.paths.Join(g.fds, kFdCwd, path, &abs); r < 0) return r;
  return g.paths.Chdir(abs);
}

int64_t Fchdir(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return g.paths.Fchdir(*f);
}

}  // namespace

bool IsSelfExeReadlink(const Process& g, uint64_t nr, const Args& a) {
  if (nr != SYS_readlink && nr != SYS_readlinkat) return false;
  const int64_t dirfd = nr == SYS_readlink ? kFdCwd : static_cast<int64_t>(a[0]);
  std::string path, abs;
  if (GuestPath(g, nr == SYS_readlink ? a[0] : a[1], &path) < 0 || path.empty()) return false;
  return g.paths.Join(g.fds, dirfd, path, &abs) == 0 && Paths::Normalize(abs) == "/proc/self/exe";
}

void RegisterFileHypercalls(HypercallTable& table) {
  table.handlers[SYS_open] = Open;
  table.handlers[SYS_openat] = Openat;
  table.handlers[SYS_creat] = Creat;
  table.handlers[SYS_close] = Close;
  table.handlers[SYS_close_range] = CloseRange;
  table.handlers[SYS_stat] = Stat;
  table.handlers[SYS_lstat] = Lstat;
  table.handlers[SYS_fstat] = Fstat;
  table.handlers[SYS_newfstatat] = Newfstatat;
  table.handlers[SYS_statx] = Statx;
  table.handlers[SYS_access] = AccessCall;
  table.handlers[SYS_faccessat] = Faccessat;
  table.handlers[SYS_faccessat2] = Faccessat2;
  table.handlers[SYS_getdents64] = Getdents64;
  table.handlers[SYS_getxattr] = Getxattr;
  table.handlers[SYS_lgetxattr] = Lgetxattr;
  table.handlers[SYS_fgetxattr] = Fgetxattr;
  table.handlers[SYS_listxattr] = Listxattr;
  table.handlers[SYS_llistxattr] = Llistxattr;
  table.handlers[SYS_flistxattr] = Flistxattr;
  table.handlers[SYS_setxattr] = Setxattr;
  table.handlers[SYS_lsetxattr] = Lsetxattr;
  table.handlers[SYS_fsetxattr] = Fsetxattr;
  table.handlers[SYS_removexattr] = Removexattr;
  table.handlers[SYS_lremovexattr] = Lremovexattr;
  table.handlers[SYS_fremovexattr] = Fremovexattr;
  table.handlers[SYS_statfs] = Statfs;
  table.handlers[SYS_fstatfs] = Fstatfs;
  table.handlers[SYS_mkdir] = Mkdir;
  table.handlers[SYS_mkdirat] = Mkdirat;
  table.handlers[SYS_mknod] = Mknod;
  table.handlers[SYS_mknodat] = MknodatCall;
  table.handlers[SYS_unlink] = Unlink;
  table.handlers[SYS_unlinkat] = Unlinkat;
  table.handlers[SYS_rmdir] = Rmdir;
  table.handlers[SYS_rename] = Rename;
  table.handlers[SYS_renameat] = Renameat;
  table.handlers[SYS_renameat2] = Renameat2;
  table.handlers[SYS_link] = Link;
  table.handlers[SYS_linkat] = Linkat;
  table.handlers[SYS_symlink] = Symlink;
  table.handlers[SYS_symlinkat] = Symlinkat;
  table.handlers[SYS_readlink] = Readlink;
  table.handlers[SYS_readlinkat] = Readlinkat;
  table.handlers[SYS_chmod] = Chmod;
  table.handlers[SYS_fchmod] = Fchmod;
  table.handlers[SYS_fchmodat] = Fchmodat;
  table.handlers[SYS_chown] = Chown;
  table.handlers[SYS_lchown] = Lchown;
  table.handlers[SYS_fchown] = Fchown;
  table.handlers[SYS_fchownat] = Fchownat;
  table.handlers[SYS_utimensat] = Utimensat;
  table.handlers[SYS_utimes] = Utimes;
  table.handlers[SYS_futimesat] = Futimesat;
  table.handlers[SYS_utime] = Utime;
  table.handlers[SYS_getdents] = Getdents;
  table.handlers[SYS_sync] = Sync;
  table.handlers[SYS_syncfs] = Syncfs;
  table.handlers[SYS_truncate] = Truncate;
  table.handlers[SYS_ftruncate] = Ftruncate;
  table.handlers[SYS_fallocate] = Fallocate;
  table.handlers[SYS_flock] = Flock;
  table.handlers[SYS_umask] = Umask;
  table.handlers[SYS_dup] = Dup;
  table.handlers[SYS_dup2] = Dup2;
  table.handlers[SYS_dup3] = Dup3;
  table.handlers[SYS_fcntl] = Fcntl;
  table.handlers[SYS_pipe] = Pipe;
  table.handlers[SYS_pipe2] = Pipe2;
  table.handlers[SYS_getcwd] = Getcwd;
  table.handlers[SYS_chdir] = Chdir;
  table.handlers[SYS_fchdir] = Fchdir;
}

}  // namespace torov
