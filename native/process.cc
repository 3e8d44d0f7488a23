#include "process.h"

#include "teardown.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace torov {

namespace {

// A /proc or /sys file's text ("" when it cannot be read), at most 1 MiB.
std::string ReadSmallFile(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[16384];
  ssize_t n;
  while (out.size() < (1u << 20) && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

}  // namespace

Process::Process(const GuestConfig& cfg)
    : config(cfg), ram(cfg.memory_bytes), mm(ram, cfg.user_slots), memfds(cfg.memory_bytes / 2), paths(cfg.root, cfg.mounts) {
  paths.set_exe(cfg.exe);
  paths.set_stop(&stop_request);
  pid = cfg.newpid ? 1 : getpid();
  ppid = cfg.newpid ? 0 : getppid();
  sid = cfg.newpid ? 0 : getsid(0);
  pgid = cfg.newpid ? 1 : getpgrp();
  uid_t u[3];
  gid_t gr[3];
  getresuid(&u[0], &u[1], &u[2]);
  getresgid(&gr[0], &gr[1], &gr[2]);
  uid = u[0], euid = u[1], suid = u[2];
  gid = gr[0], egid = gr[1], sgid = gr[2];
  const char* copy = getenv("TOROV_COPY_FILE_MAPPINGS");
  copy_file_mappings = copy && std::strcmp(copy, "1") == 0;
  host_cpuinfo = ReadSmallFile("/proc/cpuinfo");
  host_cpus_online = ReadSmallFile("/sys/devices/system/cpu/online");
  while (!host_cpus_online.empty() && host_cpus_online.back() == '\n') host_cpus_online.pop_back();
  if (host_cpus_online.empty()) host_cpus_online = "0";
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

Process::Process(Process& parent, int child_pid, ForkTag)
    : config(parent.config), ram(parent.config.memory_bytes), mm(ram, parent.config.user_slots),
      memfds(parent.config.memory_bytes / 2), paths(parent.paths, Paths::kFork) {
  paths.set_stop(&stop_request);
  pid = child_pid;
  ppid = parent.pid;
  pgid = parent.pgid.load();
  sid = parent.sid.load();
  host_cpuinfo = parent.host_cpuinfo;
  host_cpus_online = parent.host_cpus_online;
  copy_file_mappings = parent.copy_file_mappings;
  sockets_of_root = parent.sockets_of_root;
  {
    std::lock_guard<std::mutex> lock(parent.mutex);
    uid = parent.uid.load(), euid = parent.euid.load(), suid = parent.suid.load();
    gid = parent.gid.load(), egid = parent.egid.load(), sgid = parent.sgid.load();
    rlimits = parent.rlimits;
  }
  {
    // Dispositions are inherited; pending signals are not (Linux clears
    // the child's).
    std::lock_guard<std::mutex> lock(parent.signal_mutex);
    sigactions = parent.sigactions;
  }
  {
    std::lock_guard<std::mutex> lock(parent.lent_mutex_);
    lent_ = parent.lent_;
  }
  fds.CopyFrom(parent.fds);
}

Process::~Process() {
  // Its files go now, whatever thread lets the guest go (Node's, often):
  // released elsewhere, lingering turned off (native/teardown.h).
  ReleaseGuestFiles(fds.TakeAll());
}

}  // namespace torov
