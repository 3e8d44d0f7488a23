// The few /proc and /sys files programs read while they start, answered
// for this guest, never the host's processes:
//   /proc/self/maps      its own mappings (glibc's pthread_getattr_np finds
//                        the main thread's stack there; Rust's std too)
//   /proc/self/status    its name, ids, threads, memory
//   /proc/meminfo        its Memory, not the host's
//   /proc/cpuinfo        the host's CPUs as the guest's vCPUs see them
//   /sys/devices/system/cpu/online, .../possible   (get_nprocs, sysconf)
// Each open makes the text once, into a sealed memfd the guest reads like
// a file; it is lent (OpenFile::borrowed): the guest cannot change it.
// /proc/<pid>/ and /proc/thread-self/ name the same files for the guest's
// own pid.
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <new>
#include <string>

#include "hypercalls.h"

namespace torov {

namespace {

std::string Hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "%08" PRIx64, v);
  return b;
}

std::string Maps(const Process& g) {
  std::string out;
  for (const Vma& v : g.mm.vmas()) {
    std::string line = Hex(v.start) + "-" + Hex(v.end) + " ";
    line += (v.prot & PROT_READ) ? 'r' : '-';
    line += (v.prot & PROT_WRITE) ? 'w' : '-';
    line += (v.prot & PROT_EXEC) ? 'x' : '-';
    line += v.shared ? "s" : "p";
    line += " 00000000 00:00 0";
    std::string name = v.name;
    if (v.kind == VmaKind::kStack) name = "[stack]";
    if (v.kind == VmaKind::kBrk) name = "[heap]";
    if (v.kind == VmaKind::kImage) name = "/" + g.config.exe_name;
    if (!name.empty()) line += std::string(line.size() < 73 ? 73 - line.size() : 1, ' ') + name;
    out += line + "\n";
  }
  return out;
}

int Threads(Process& g) {
  int n = 0;
  if (g.threads) g.threads->ForEachTask([&n](Task&) { n++; });
  return n ? n : 1;
}

std::string Status(Process& g) {
  const uint64_t kb = g.mm.MappedBytes() >> 10;
  std::string name = g.config.exe_name.substr(0, 15);
  char b[2048];
  std::snprintf(b, sizeof b,
                "Name:\t%s\nUmask:\t0022\nState:\tR (running)\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\n"
                "TracerPid:\t0\nUid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\nFDSize:\t%d\nGroups:\t\n"
                "VmPeak:\t%8" PRIu64 " kB\nVmSize:\t%8" PRIu64 " kB\nVmRSS:\t%8" PRIu64 " kB\nThreads:\t%d\n"
                "SigQ:\t0/0\nCpus_allowed_list:\t%s\n",
                name.c_str(), g.pid, g.pid, g.ppid.load(), g.uid.load(), g.euid.load(), g.suid.load(), g.euid.load(),
                g.gid.load(), g.egid.load(), g.sgid.load(), g.egid.load(), g.fds.limit(), kb, kb, kb, Threads(g),
                g.host_cpus_online.c_str());
  return b;
}

std::string Meminfo(const Process& g) {
  const uint64_t total = g.config.memory_bytes >> 10;
  const uint64_t used = g.mm.MappedBytes() >> 10;
  const uint64_t free = used < total ? total - used : 0;
  char b[512];
  std::snprintf(b, sizeof b,
                "MemTotal:       %8" PRIu64 " kB\nMemFree:        %8" PRIu64 " kB\nMemAvailable:   %8" PRIu64
                " kB\nBuffers:               0 kB\nCached:                0 kB\nSwapTotal:             0 kB\n"
                "SwapFree:              0 kB\n",
                total, free, free);
  return b;
}

// A memfd holding `text`, sealed, at offset 0; or -errno.
int Frozen(const std::string& text) {
  const int fd = static_cast<int>(syscall(SYS_memfd_create, "torov-proc", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd < 0) return -errno;
  Fd file(fd);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -EIO;
    done += static_cast<size_t>(n);
  }
  if (lseek(fd, 0, SEEK_SET) < 0) return -errno;
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return file.Release();
}

}  // namespace

// OpenProcFile's work; std::bad_alloc from a very long text goes up to it.
static int MakeProcFile(Process& g, const std::string& n, int flags);

int OpenProcFile(Process& g, const std::string& n, int flags) {
  try {
    return MakeProcFile(g, n, flags);
  } catch (const std::bad_alloc&) {
    return -ENOMEM;  // a maps text the monitor has no memory for
  }
}

static int MakeProcFile(Process& g, const std::string& n, int flags) {
  std::string rest;
  const std::string pid = "/proc/" + std::to_string(g.pid) + "/";
  for (const std::string& self : {std::string("/proc/self/"), std::string("/proc/thread-self/"), pid}) {
    if (n.compare(0, self.size(), self) == 0) {
      rest = n.substr(self.size());
      break;
    }
  }
  std::string text;
  if (rest == "maps") text = Maps(g);
  else if (rest == "status") text = Status(g);
  else if (n == "/proc/meminfo") text = Meminfo(g);
  else if (n == "/proc/cpuinfo") text = g.host_cpuinfo;
  else if (n == "/sys/devices/system/cpu/online" || n == "/sys/devices/system/cpu/possible") text = g.host_cpus_online + "\n";
  else return kNotProcFile;
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | O_TMPFILE))) return -EACCES;
  if (flags & O_DIRECTORY) return -ENOTDIR;
  // Each copy is a memfd the guest holds: it counts against its memfd
  // budget (half its Memory), and none is made past it.
  if (g.memfds.Used() + PageUp(text.size()) > g.memfds.limit()) return -ENOMEM;
  return Frozen(text);
}

}  // namespace torov
