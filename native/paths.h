// Guest path names resolve inside the application's MountPoint.
//
// Every lookup is one openat2(root, absolute-guest-path, RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS): the kernel treats `root` as "/", so `..` stops at
// it and absolute symlinks are followed inside it. No privilege is needed.
// Relative paths are joined to the guest's cwd (or a directory fd's path)
// first, because resolving them from a directory fd with RESOLVE_IN_ROOT
// would clamp `..` at that directory instead of at the root.
//
// Operations on a name in a directory (mkdir, unlink, rename, symlink...)
// open the parent confined the same way and act on the last component, which
// is never "." or ".." (callers refuse those) and never contains '/'.
#pragma once

#include <sys/types.h>

#include <string>

#include "fd.h"
#include "fdtable.h"

namespace torov {

class Paths {
 public:
  // `host_root` empty: the guest has no file system, only the virtual devices.
  explicit Paths(const std::string& host_root);

  bool has_root() const { return static_cast<bool>(root_); }
  const std::string& cwd() const { return cwd_; }
  // The host file the guest sees as /proc/self/exe.
  void set_exe(const std::string& host_path) { exe_ = host_path; }

  // The absolute guest path for `path` relative to `dirfd` (AT_FDCWD or a
  // guest directory fd). 0 or -errno (ENOENT for "", EBADF, ENOTDIR).
  int Join(const FdTable& fds, int64_t dirfd, const std::string& path, std::string* out) const;

  // Opens an absolute guest path: a virtual device, /proc/self/exe, or a file
  // inside the root. Returns a host fd (O_CLOEXEC) or -errno.
  int Open(const std::string& abs, int flags, mode_t mode) const;
  // Opens the directory holding the last component of `abs` and returns that
  // component in *name (empty for "/"). 0 or -errno.
  int Parent(const std::string& abs, Fd* dir, std::string* name) const;
  // Sets the cwd to the directory at `abs`. 0 or -errno.
  int Chdir(const std::string& abs);
  int Fchdir(const OpenFile& dir);

  // The guest path of a host fd for a file inside the root; 0 or -ENOENT.
  int GuestPathOf(int host_fd, std::string* out) const;

  static bool IsDots(const std::string& name) { return name.empty() || name == "." || name == ".."; }
  // Lexical normalisation ("//", ".", ".."): used only to recognise the
  // virtual paths below, never to resolve real ones.
  static std::string Normalize(const std::string& abs);
  // Which guest stdio fd a path names (/dev/stdin, /dev/fd/1...), or -1.
  static int StdioAlias(const std::string& normalized);

 private:
  Fd root_;
  std::string root_real_;
  std::string cwd_ = "/";
  std::string exe_;
};

}  // namespace torov
