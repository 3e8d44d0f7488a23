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
// Mounts (the manifest's, and what torov lends a dynamic program's loader)
// are more roots, each seen at its target path. With any, a lookup is first
// one openat2 from the deepest mount the path is under, with symlinks
// refused (RESOLVE_NO_SYMLINKS); a path with ".." or a symlink in it is then
// walked a component at a time (Walk): each step is again one openat2 from a
// mount's root, never from a directory found before, ".." is taken in the
// guest's view (the path resolved so far loses its last part), and a
// symlink's text is resolved from the guest's "/" or the link's folder in
// that view. So nothing resolves outside a mount's source, however the
// guest changes its files meanwhile. A read-only mount is a detached bind
// mount the kernel made read-only (open_tree, mount_setattr), made as root
// or, unprivileged, by a helper process in a user namespace of its own:
// every write through it fails with EROFS in the kernel, whichever call
// tries.
//
// When privileged, Confine() also puts the vCPU thread in its own mount
// namespace, chrooted to the root: after it, the thread reaches the few
// things outside (the shared devices, the program, its own fds' magic
// links) only through directory fds opened before.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fd.h"
#include "fdtable.h"

namespace torov {

// One mount as the manifest gives it (src/vmm/manifest.ts MountSpec).
struct MountConfig {
  std::string source;  // host path, absolute
  std::string target;  // guest path: absolute, normalised, not "/"
  bool read_only = true;
};

class Paths {
 public:
  // `host_root` empty: the guest has no file system, only the virtual
  // devices (and no mounts: the manifest refuses them without a root).
  explicit Paths(const std::string& host_root, const std::vector<MountConfig>& mounts = {});

  // A forked process's: the parent's view (the same fds), and a copy of
  // its cwd, which is the child's own from here on.
  enum ForkTag { kFork };
  Paths(const Paths& parent, ForkTag);
  bool has_root() const { return static_cast<bool>(v_->root); }
  // A copy: another thread may chdir meanwhile.
  std::string cwd() const {
    std::lock_guard<std::mutex> lock(cwd_mutex_);
    return cwd_;
  }
  // The host file the guest sees as /proc/self/exe.
  void set_exe(const std::string& host_path) { v_->exe = host_path; }
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
  // When the name is a mount's target, returns `covered` instead (EBUSY for
  // unlink or rename, EEXIST for mkdir...): it is not the directory's to change.
  // *where (may be null): the folder's guest path, symlinks resolved.
  int Parent(const std::string& abs, Fd* dir, std::string* name, int covered = -EBUSY,
             std::string* where = nullptr) const;
  // Whether two resolved guest paths are in the same mount (or both in the
  // MountPoint's own tree).
  bool SameMount(const std::string& a, const std::string& b) const {
    std::string rest;
    return MountOf(Normalize(a), &rest) == MountOf(Normalize(b), &rest);
  }
  // Sets the cwd to the directory at `abs`. 0 or -errno.
  int Chdir(const std::string& abs);
  int Fchdir(const OpenFile& dir);

  // The guest path of a host fd for a file inside the root; 0 or -ENOENT.
  int GuestPathOf(int host_fd, std::string* out) const;

  // On the vCPU thread, after set-up: opens the handles above, then (when
  // the thread may) unshares its mount namespace and chroots to the root.
  // Returns why it could not chroot, or "" when it did.
  std::string Confine();
  bool chrooted() const { return v_->chrooted; }
  // The directory fds the calls below go through (-1: absent): what the
  // vCPU thread's seccomp filter lets openat2, openat and readlinkat start
  // from.
  int root_fd() const { return v_->root.get(); }
  int dev_fd() const { return v_->dev_dir.get(); }
  int exe_dir_fd() const { return v_->exe_dir.get(); }
  int proc_fds_fd() const { return v_->proc_fds.get(); }
  // The mounts' roots, for the same rules.
  std::vector<int> mount_fds() const;
  size_t mount_count() const { return v_->mounts.size(); }
  // Who made the detached mounts: "root", "user namespace" ("" for none).
  const std::string& mounts_made_by() const { return v_->mounts_made_by; }
  // Our own fds' magic links (/proc/self/fd) as a directory fd and a name:
  // for calls that must act on exactly the file a confined lookup found.
  struct MagicLink {
    int dir;
    std::string name;
  };
  MagicLink Magic(int host_fd) const {
    if (v_->proc_fds) return {v_->proc_fds.get(), FdName(host_fd)};
    return {AT_FDCWD, "/proc/self/fd/" + FdName(host_fd)};
  }
  static std::string FdName(int host_fd) { return std::to_string(host_fd); }
  // The host path a socket call should name for the guest path `abs`:
  // bind creates `name` in the confined parent `dir`; connect names the
  // socket a confined lookup found (`target`).
  int SocketPath(const std::string& abs, bool bind, Fd* hold, std::string* out) const;

  // The deepest mount at or above normalised guest path `n` (nullptr: the
  // MountPoint) and the rest of the path below it ("" at its root).
  struct Mount;
  const Mount* MountOf(const std::string& n, std::string* rest) const;

  static bool IsDots(const std::string& name) { return name.empty() || name == "." || name == ".."; }
  // Lexical normalisation ("//", ".", ".."): used only to recognise the
  // virtual paths below, never to resolve real ones.
  static std::string Normalize(const std::string& abs);
  // Which guest stdio fd a path names (/dev/stdin, /dev/fd/1...), or -1.
  static int StdioAlias(const std::string& normalized);

 private:
  // One lookup in the guest's view across the mounts, from "/" (see the top).
  // Opens the last component with `flags`; *canonical (may be null) is the
  // guest path found, symlinks resolved.
  int Walk(const std::string& abs, int flags, mode_t mode, std::string* canonical) const;
  // Opens normalised guest path `n` (no symlinks in it) from its mount.
  int OpenResolved(const std::string& n, bool trailing_slash, int flags, mode_t mode) const;
  // Whether normalised `n` is above a mount's target ("/usr" for "/usr/lib").
  bool AboveMount(const std::string& n) const;
  // Whether a folder on normalised `n`'s way (not `n`) is above a mount.
  bool AboveAnyPart(const std::string& n) const;
  int Lookup(const std::string& abs, int flags, mode_t mode, std::string* canonical) const;

  // What every process of the guest sees alike: the roots, the mounts and
  // the directory fds the vCPU threads' seccomp filter names by number, so
  // a forked process must use these very fds, not copies. Set up by the
  // first process (its constructor and Confine) before the guest runs, and
  // only read after.
  struct View {
    Fd root;
    std::string root_real;
    std::vector<Mount> mounts;  // deepest target first
    std::string mounts_made_by;
    std::string exe;
    Fd dev_dir;    // /dev, for the shared devices
    Fd exe_dir;    // the program's folder, for /proc/self/exe
    std::string exe_name;
    Fd proc_fds;   // /proc/self/fd
    bool chrooted = false;
  };
  std::shared_ptr<View> v_;
  // The process's cwd, shared by its threads (CLONE_FS): under cwd_mutex_.
  mutable std::mutex cwd_mutex_;
  std::string cwd_ = "/";
  const std::atomic<int>* stop_ = nullptr;
};

struct Paths::Mount {
  std::string target;  // normalised guest path
  Fd fd;               // O_PATH: its root (for a file mount, its folder's)
  // What readlink of /proc/self/fd names files below it from: "" for a
  // detached mount (the kernel names them from its root), else the source.
  std::string host_prefix;
  bool read_only = true;
  bool file = false;
  // A file mount: `fd` is a mount of its folder, `name` the file in it,
  // dev and ino the file's (GuestPathOf).
  std::string name;
  dev_t dev = 0;
  ino_t ino = 0;
};

}  // namespace torov
