// The vCPU thread's seccomp filter: after set-up, the thread that runs the
// guest may make only the host system calls its allowed hypercalls need and
// its run loop needs (the list comes from src/vmm/seccomp.ts). Anything else
// fails with EPERM. ioctl is further limited to the VM's own fds and the
// terminal requests the ioctl hypercall forwards. A bug in a hypercall
// handler then still cannot open a socket for a guest that may not, and so
// on. It applies to this thread only; Node's threads are not affected.
#pragma once

#include <string>
#include <vector>

namespace torov {

// Installs the filter on the calling thread. Returns "" when installed,
// else why not (the run goes on without it).
std::string InstallSeccomp(const std::vector<int>& syscalls, const std::vector<int>& own_fds);

// The ioctl requests the filter admits on other fds: those native/hypercalls/io.cc forwards.
const std::vector<unsigned long>& ForwardedIoctls();

// Installs a filter admitting `syscalls` on a scratch thread and tries what
// it must refuse and what it must let through (torov doctor, the tests).
struct SeccompProbe {
  std::string installed;  // "" or why not
  int socket_errno = 0;   // socket(2), not admitted
  int open_errno = 0;     // open(2), a path form never admitted
  int ioctl_errno = 0;    // ioctl(stdin, TIOCSTI), a request not forwarded
  int getpid_errno = 0;   // getpid(2), admitted
  int tcgets_errno = 0;   // ioctl(fd, TCGETS), a forwarded request (ENOTTY on a non-tty)
};
SeccompProbe ProbeSeccomp(const std::vector<int>& syscalls);

}  // namespace torov
