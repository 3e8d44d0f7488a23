#include "process.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace torov {

Process::Process(const GuestConfig& cfg)
    : config(cfg), ram(cfg.memory_bytes), mm(ram, cfg.user_slots), memfds(cfg.memory_bytes / 2), paths(cfg.root) {
  paths.set_exe(cfg.exe);
  paths.set_stop(&stop_request);
  pid = cfg.newpid ? 1 : getpid();
  ppid = cfg.newpid ? 0 : getppid();
  sid = cfg.newpid ? 0 : getsid(0);
  getresuid(&uid, &euid, &suid);
  getresgid(&gid, &egid, &sgid);
  for (int r = 0; r < RLIM_NLIMITS; r++) getrlimit(r, &rlimits[r]);
  rlimits[RLIMIT_AS] = {cfg.memory_bytes, cfg.memory_bytes};
  rlimits[RLIMIT_NOFILE] = {FdTable::kDefaultLimit, FdTable::kDefaultLimit};

  // Guest fds 0, 1, 2 share the monitor's stdio descriptions (or those the
  // embedder chose), through duplicates: the guest closing its fd 1 must not
  // close Node's.
  for (int fd = 0; fd < 3; fd++) {
    if (cfg.stdio[fd] < 0) continue;
    int host = fcntl(cfg.stdio[fd], F_DUPFD_CLOEXEC, 3);
    if (host < 0) continue;
    auto file = std::make_shared<OpenFile>();
    file->host.Reset(host);
    // Blocking, as a program started from a shell finds its stdio, whatever
    // Node has done to the shared description (it makes pipes non-blocking).
    file->nonblock = false;
    file->borrowed = true;
    struct stat st;
    if (fstat(host, &st) == 0) Lend(st.st_dev, st.st_ino);
    fds.InstallAt(fd, std::move(file), false);
  }
}

Process::~Process() {
  // Its sockets close now, on whatever thread lets the guest go (Node's,
  // often). A socket set to linger (SO_LINGER) would hold that thread until
  // its data is acknowledged, for as long as the guest asked; Linux does not
  // linger for a process that exits either: the data still goes, in the
  // background.
  const linger off{0, 0};
  for (int fd = 0; fd < fds.used(); fd++) {
    const std::shared_ptr<OpenFile> f = fds.Get(fd);
    struct stat st;
    if (f && fstat(f->host.get(), &st) == 0 && S_ISSOCK(st.st_mode))
      setsockopt(f->host.get(), SOL_SOCKET, SO_LINGER, &off, sizeof off);
  }
}

}  // namespace torov
