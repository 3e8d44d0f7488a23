// The vCPU thread's privileges: after set-up (the chroot needs them), the
// thread that serves the guest keeps no capability, so that a monitor run as
// root acts for the guest with an ordinary user's rights only. Capabilities
// belong to each thread on Linux: Node's threads keep theirs.
#pragma once

#include <string>

namespace torov {

// Drops every capability of the calling thread (effective, permitted,
// inheritable, ambient and bounding sets) and locks the securebits so that
// uid 0 never brings them back. First, when it may and `root` (the
// MountPoint's fd) is given, the thread takes the MountPoint owner's ids
// for file access (fsuid, fsgid; no supplementary groups): the guest then
// reaches files, and owns what it creates and its sockets, as that user,
// not as root. Returns "" when the thread holds no capability afterwards
// (also when it held none before), else why not.
std::string DropCapabilities(int root);

}  // namespace torov
