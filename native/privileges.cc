#include "privileges.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace torov {

namespace {

bool Capabilities(__user_cap_data_struct (&data)[2]) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};  // pid 0: this thread
  return syscall(SYS_capget, &header, data) == 0;
}

std::string Failed(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

std::string DropCapabilities(int root) {
  __user_cap_data_struct data[2]{};
  if (!Capabilities(data)) return Failed("capget");
  const bool setpcap = data[0].effective & (1u << CAP_SETPCAP);
  struct stat owner;
  if (root >= 0 && (data[0].effective & (1u << CAP_SETUID)) && (data[0].effective & (1u << CAP_SETGID)) &&
      fstat(root, &owner) == 0) {
    // Raw calls: they change this thread alone (glibc's wrappers would
    // change every thread of the process).
    if (syscall(SYS_setgroups, 0, nullptr) < 0) return Failed("setgroups");
    syscall(SYS_setfsgid, owner.st_gid);
    syscall(SYS_setfsuid, owner.st_uid);
    if (static_cast<gid_t>(syscall(SYS_setfsgid, -1)) != owner.st_gid ||
        static_cast<uid_t>(syscall(SYS_setfsuid, -1)) != owner.st_uid)
      return "could not take the MountPoint owner's ids";
  }
  if (setpcap) {
    // uid 0 is root by its capabilities only: with these bits, becoming or
    // being uid 0 grants none, and no later call can clear the bits.
    const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) return Failed("PR_SET_SECUREBITS");
    // The bounding set: what an execve could ever grant (no_new_privs and
    // the seccomp filter forbid execve as well).
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return Failed("PR_CAPBSET_DROP");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return Failed("PR_CAP_AMBIENT_CLEAR_ALL");
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct none[2]{};
  if (syscall(SYS_capset, &header, none) < 0) return Failed("capset");
  if (!Capabilities(data)) return Failed("capget");
  for (const auto& d : data)
    if (d.effective || d.permitted || d.inheritable) return "capabilities remain after capset";
  return "";
}

}  // namespace torov
