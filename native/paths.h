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
//
// When privileged, Confine() also puts the vCPU thread in its own mount
// namespace, chrooted to the root: after it, the thread reaches the few
// things outside (the shared devices, the program, its own fds' magic
// links) only through directory fds opened before.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <string>

#include "fd.h"
#include "fdtable.h"

namespace torov {

class Paths {
 public:
  // `host_root` empty: the guest has no file system, only the virtual devices.
  explicit Paths(const std::string& host_root);

  bool has_root() const { return static_cast<bool>(root_); }
  // A copy: another thread may chdir meanwhile.
  std::string cwd() const {
    std::lock_guard<std::mutex> lock(cwd_mutex_);
    return cwd_;
  }
  // The host file the guest sees as /proc/self/exe.
  void set_exe(const std::string& host_path) { exe_ = host_path; }
  // Non-zero while a stop is requested (Process::stop_request): a blocking
  // open gives up (EINTR) instead of starting over.
  void set_stop(const std::atomic<int>* stop) { stop_ = stop; }

  // The absolute guest path for `path` relative to `dirfd` (AT_FDCWD or a
  // guest directory fd). 0 or -errno (ENOENT for "", EBADF, ENOTDIR).
  int Join(const FdTable& fds, int64_t dirfd, const std::string& path, std::string* out) const;

  // Opens an absolute guest path: a virtual device, /proc/self/exe, or a file
  // inside the root. Returns a host fd (O_CLOEXEC) or -errno.
  int Open(const std::string& abs, int flags, mode_t mode) const;
  // Whether Open(abs) gives a file from outside the root (a shared device,
  // /proc/self/exe): one the guest may use but never change (OpenFile::borrowed).
  bool Borrowed(const std::string& abs) const;
  // Whether normalised `n` goes on below one of those (a file, not a directory).
  bool UnderVirtualFile(const std::string& n) const;
  // Opens the directory holding the last component of `abs` and returns that
  // component in *name (empty for "/"). 0 or -errno.
  int Parent(const std::string& abs, Fd* dir, std::string* name) const;
  // Sets the cwd to the directory at `abs`. 0 or -errno.
  int Chdir(const std::string& abs);
  int Fchdir(const OpenFile& dir);

  // The guest path of a host fd for a file inside the root; 0 or -ENOENT.
  int GuestPathOf(int host_fd, std::string* out) const;

  // On the vCPU thread, after set-up: opens the handles above, then (when
  // the thread may) unshares its mount namespace and chroots to the root.
  // Returns why it could not chroot, or "" when it did.
  std::string Confine();
  bool chrooted() const { return chrooted_; }
  // The directory fds the calls below go through (-1: absent): what the
  // vCPU thread's seccomp filter lets openat2, openat and readlinkat start
  // from.
  int root_fd() const { return root_.get(); }
  int dev_fd() const { return dev_dir_.get(); }
  int exe_dir_fd() const { return exe_dir_.get(); }
  int proc_fds_fd() const { return proc_fds_.get(); }
  // Our own fds' magic links (/proc/self/fd) as a directory fd and a name:
  // for calls that must act on exactly the file a confined lookup found.
  struct MagicLink {
    int dir;
    std::string name;
  };
  MagicLink Magic(int host_fd) const {
    if (proc_fds_) return {proc_fds_.get(), FdName(host_fd)};
    return {AT_FDCWD, "/proc/self/fd/" + FdName(host_fd)};
  }
  static std::string FdName(int host_fd) { return std::to_string(host_fd); }
  // The host path a socket call should name for the guest path `abs`:
  // bind creates `name` in the confined parent `dir`; connect names the
  // socket a confined lookup found (`target`).
  int SocketPath(const std::string& abs, bool bind, Fd* hold, std::string* out) const;

  static bool IsDots(const std::string& name) { return name.empty() || name == "." || name == ".."; }
  // Lexical normalisation ("//", ".", ".."): used only to recognise the
  // virtual paths below, never to resolve real ones.
  static std::string Normalize(const std::string& abs);
  // Which guest stdio fd a path names (/dev/stdin, /dev/fd/1...), or -1.
  static int StdioAlias(const std::string& normalized);

 private:
  Fd root_;
  std::string root_real_;
  // The guest's cwd, shared by its threads (CLONE_FS): under cwd_mutex_.
  // Everything else here is set before the guest runs and only read after.
  mutable std::mutex cwd_mutex_;
  std::string cwd_ = "/";
  std::string exe_;
  Fd dev_dir_;    // /dev, for the shared devices
  Fd exe_dir_;    // the program's folder, for /proc/self/exe
  std::string exe_name_;
  const std::atomic<int>* stop_ = nullptr;
  Fd proc_fds_;   // /proc/self/fd
  bool chrooted_ = false;
};

}  // namespace torov
