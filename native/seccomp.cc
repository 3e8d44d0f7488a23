#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/socket.h>

#include <cstring>
#include <thread>

namespace torov {

const std::vector<unsigned long>& ForwardedIoctls() {
  static const std::vector<unsigned long> requests = {TCGETS,     TCSETS,   TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ,
                                                      TIOCGPGRP, FIONREAD, FIONBIO, TCFLSH,  TCXONC,     TCSBRK};
  return requests;
}

namespace {

sock_filter Stmt(uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return sock_filter{code, jt, jf, k}; }

constexpr uint32_t kArg0 = offsetof(seccomp_data, args[0]);  // low 32 bits on x86-64
constexpr uint32_t kArg1 = offsetof(seccomp_data, args[1]);

}  // namespace

std::string InstallSeccomp(const std::vector<int>& syscalls, const std::vector<int>& own_fds) {
  const uint32_t allow = SECCOMP_RET_ALLOW;
  const uint32_t deny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  std::vector<sock_filter> f;
  // Only x86-64 system calls, and not the x32 ones.
  f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  f.push_back(Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  f.push_back(Jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));
  f.push_back(Stmt(BPF_RET | BPF_K, deny));
  // Each allowed number: "equal? allow : next". ioctl goes to its own check.
  bool ioctl = false;
  for (int nr : syscalls) {
    if (nr == SYS_ioctl) {
      ioctl = true;
      continue;
    }
    f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1));
    f.push_back(Stmt(BPF_RET | BPF_K, allow));
  }
  if (ioctl) {
    f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 1, 0));
    f.push_back(Stmt(BPF_RET | BPF_K, deny));
    // The VM's own fds take any request (KVM_RUN, registers...).
    f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, kArg0));
    for (int fd : own_fds) {
      f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(fd), 0, 1));
      f.push_back(Stmt(BPF_RET | BPF_K, allow));
    }
    // Other fds: the terminal requests the ioctl hypercall forwards.
    f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, kArg1));
    for (unsigned long req : ForwardedIoctls()) {
      f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(req), 0, 1));
      f.push_back(Stmt(BPF_RET | BPF_K, allow));
    }
  }
  f.push_back(Stmt(BPF_RET | BPF_K, deny));

  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return std::string("no_new_privs: ") + std::strerror(errno);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) return std::string("seccomp: ") + std::strerror(errno);
  return "";
}

SeccompProbe ProbeSeccomp(const std::vector<int>& syscalls) {
  SeccompProbe p;
  // The filter stays with the thread: a thread of its own, gone after.
  std::thread t([&] {
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    p.installed = InstallSeccomp(syscalls, {});
    auto err = [](long r) { return r < 0 ? errno : 0; };
    p.socket_errno = err(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0));
    p.open_errno = err(syscall(SYS_open, "/", O_RDONLY | O_DIRECTORY));
    char c = 0;
    p.ioctl_errno = err(syscall(SYS_ioctl, devnull, TIOCSTI, &c));
    p.getpid_errno = err(syscall(SYS_getpid));
    termios tio;
    p.tcgets_errno = err(syscall(SYS_ioctl, devnull, TCGETS, &tio));
    if (devnull >= 0) close(devnull);
  });
  t.join();
  return p;
}

}  // namespace torov
