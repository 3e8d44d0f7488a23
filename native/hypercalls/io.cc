// Reading and writing guest file descriptors: read/write and their p- and
// v- variants, lseek, sendfile, sync, and the ioctls whose argument layout
// the monitor knows. Buffers are clamped to what the guest has mapped, so a
// transfer that runs off a mapping is short and one that starts outside is
// -EFAULT, as on Linux.
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <asm/termbits.h>
#include <climits>
#include <vector>

#include "hypercalls.h"
#include "iovec.h"

namespace torov {

namespace {

int64_t Read(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  uint8_t* p;
  size_t n;
  if (!GuestBuffer(g, a[1], a[2], Access::kWrite, &p, &n)) return -EFAULT;
  return HostIo(t, *f, POLLIN, [&] { return ::read(f->host.get(), p, n); });
}

// Memfds take what their budget has room for (MemfdRoom): the rest of a
// vector is left out, as a short write leaves it.
void TrimIovecs(std::vector<iovec>* iov, uint64_t n) {
  for (size_t i = 0; i < iov->size(); i++) {
    if ((*iov)[i].iov_len >= n) {
      (*iov)[i].iov_len = n;
      iov->resize(n ? i + 1 : i);
      return;
    }
    n -= (*iov)[i].iov_len;
  }
}

uint64_t IovecsLength(const std::vector<iovec>& iov) {
  uint64_t n = 0;
  for (const iovec& v : iov) n += v.iov_len;
  return n;
}

int64_t Write(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  uint8_t* p;
  size_t n;
  if (!GuestBuffer(g, a[1], a[2], Access::kRead, &p, &n)) return -EFAULT;
  const MemfdBudget::Grant grant = MemfdRoom(g, *f, true, 0, n);
  if (grant.room < 0) return grant.room;
  n = static_cast<size_t>(grant.room);
  return HostIo(t, *f, POLLOUT, [&] { return ::write(f->host.get(), p, n); });
}

int64_t Pread64(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  uint8_t* p;
  size_t n;
  if (!GuestBuffer(g, a[1], a[2], Access::kWrite, &p, &n)) return -EFAULT;
  return HostIo(t, *f, POLLIN, [&] { return ::pread(f->host.get(), p, n, static_cast<off_t>(a[3])); });
}

int64_t Pwrite64(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  uint8_t* p;
  size_t n;
  if (!GuestBuffer(g, a[1], a[2], Access::kRead, &p, &n)) return -EFAULT;
  if (static_cast<int64_t>(a[3]) < 0) return -EINVAL;
  const MemfdBudget::Grant grant = MemfdRoom(g, *f, false, a[3], n);
  if (grant.room < 0) return grant.room;
  n = static_cast<size_t>(grant.room);
  return HostIo(t, *f, POLLOUT, [&] { return ::pwrite(f->host.get(), p, n, static_cast<off_t>(a[3])); });
}

int64_t Readv(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  std::vector<iovec> iov;
  if (int r = GuestIovecs(g, a[1], a[2], Access::kWrite, &iov); r < 0) return r;
  return HostIo(t, *f, POLLIN, [&] { return ::readv(f->host.get(), iov.data(), static_cast<int>(iov.size())); });
}

int64_t Writev(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  std::vector<iovec> iov;
  if (int r = GuestIovecs(g, a[1], a[2], Access::kRead, &iov); r < 0) return r;
  const MemfdBudget::Grant grant = MemfdRoom(g, *f, true, 0, IovecsLength(iov));
  if (grant.room < 0) return grant.room;
  TrimIovecs(&iov, static_cast<uint64_t>(grant.room));
  return HostIo(t, *f, POLLOUT, [&] { return ::writev(f->host.get(), iov.data(), static_cast<int>(iov.size())); });
}

// preadv/pwritev pass the offset split in two registers (pos_l, pos_h).
int64_t Preadv(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  std::vector<iovec> iov;
  if (int r = GuestIovecs(g, a[1], a[2], Access::kWrite, &iov); r < 0) return r;
  return HostIo(t, *f, POLLIN, [&] {
    return ::preadv(f->host.get(), iov.data(), static_cast<int>(iov.size()), static_cast<off_t>(a[3]));
  });
}

int64_t Pwritev(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  std::vector<iovec> iov;
  if (int r = GuestIovecs(g, a[1], a[2], Access::kRead, &iov); r < 0) return r;
  if (static_cast<int64_t>(a[3]) < 0) return -EINVAL;
  const MemfdBudget::Grant grant = MemfdRoom(g, *f, false, a[3], IovecsLength(iov));
  if (grant.room < 0) return grant.room;
  TrimIovecs(&iov, static_cast<uint64_t>(grant.room));
  return HostIo(t, *f, POLLOUT, [&] {
    return ::pwritev(f->host.get(), iov.data(), static_cast<int>(iov.size()), static_cast<off_t>(a[3]));
  });
}

int64_t Lseek(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return HostResult(::lseek(f->host.get(), static_cast<off_t>(a[1]), static_cast<int>(a[2])));
}

int64_t Sendfile(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> out = g.fds.Get(a[0]);
  const std::shared_ptr<OpenFile> in = g.fds.Get(a[1]);
  if (!out || !in) return -EBADF;
  off_t off = 0;
  if (a[2] && !CopyIn(g, a[2], &off)) return -EFAULT;
  size_t count = a[3] > kMaxRw ? kMaxRw : a[3];
  int64_t r;
  {
    const MemfdBudget::Grant grant = MemfdRoom(g, *out, true, 0, count);
    if (grant.room < 0) return grant.room;
    count = static_cast<size_t>(grant.room);
    r = HostIoBetween(t, *in, *out, [&] { return ::sendfile(out->host.get(), in->host.get(), a[2] ? &off : nullptr, count); });
  }
  if (r >= 0 && a[2] && !CopyOut(g, a[2], off)) return -EFAULT;
  return r;
}

// splice/tee/copy_file_range move data between two guest fds inside the
// host kernel; the offsets are copied in and out by the monitor.
int64_t SpliceLike(Process& g, Task& t, const Args& a, long nr) {
  const std::shared_ptr<OpenFile> in = g.fds.Get(a[0]);
  const std::shared_ptr<OpenFile> out = g.fds.Get(a[2]);
  if (!in || !out) return -EBADF;
  loff_t off_in = 0, off_out = 0;
  if (a[1] && !CopyIn(g, a[1], &off_in)) return -EFAULT;
  if (a[3] && !CopyIn(g, a[3], &off_out)) return -EFAULT;
  size_t len = a[4] > kMaxRw ? kMaxRw : a[4];
  // A negative offset is the kernel's EINVAL; no grant is needed for it.
  const bool bad_offset = a[3] && off_out < 0;
  const bool nonblock = nr == SYS_splice && (a[5] & SPLICE_F_NONBLOCK);
  int64_t r;
  {
    const MemfdBudget::Grant grant =
        bad_offset ? MemfdBudget::Grant(static_cast<int64_t>(len)) : MemfdRoom(g, *out, !a[3], static_cast<uint64_t>(off_out), len);
    if (grant.room < 0) return grant.room;
    len = static_cast<size_t>(grant.room);
    r = HostIoBetween(
        t, *in, *out,
        [&] {
          return syscall(nr, in->host.get(), a[1] ? &off_in : nullptr, out->host.get(), a[3] ? &off_out : nullptr, len,
                         static_cast<unsigned>(a[5]));
        },
        nonblock);
  }
  if (r >= 0 && a[1] && !CopyOut(g, a[1], off_in)) return -EFAULT;
  if (r >= 0 && a[3] && !CopyOut(g, a[3], off_out)) return -EFAULT;
  return r;
}
int64_t Splice(Process& g, Task& t, const Args& a) { return SpliceLike(g, t, a, SYS_splice); }
int64_t CopyFileRange(Process& g, Task& t, const Args& a) { return SpliceLike(g, t, a, SYS_copy_file_range); }

int64_t Tee(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> in = g.fds.Get(a[0]);
  const std::shared_ptr<OpenFile> out = g.fds.Get(a[1]);
  if (!in || !out) return -EBADF;
  const size_t len = a[2] > kMaxRw ? kMaxRw : a[2];
  return HostIoBetween(
      t, *in, *out, [&] { return ::tee(in->host.get(), out->host.get(), len, static_cast<unsigned>(a[3])); },
      a[3] & SPLICE_F_NONBLOCK);
}

int64_t Readahead(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return HostResult(::readahead(f->host.get(), static_cast<off64_t>(a[1]), a[2]));
}

int64_t SyncFileRange(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return HostResult(sync_file_range(f->host.get(), static_cast<off64_t>(a[1]), static_cast<off64_t>(a[2]), static_cast<unsigned>(a[3])));
}

int64_t Fsync(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return HostResult(::fsync(f->host.get()));
}

int64_t Fdatasync(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return HostResult(::fdatasync(f->host.get()));
}

int64_t Fadvise64(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  int r = posix_fadvise(f->host.get(), static_cast<off_t>(a[1]), static_cast<off_t>(a[2]), static_cast<int>(a[3]));
  return -r;
}

// Only requests whose argument layout is known are forwarded: the monitor
// copies the argument in or out itself, so no guest address ever reaches the
// host kernel. Anything else is -ENOTTY, as for a file that has no such ioctl.
int64_t Ioctl(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  const int host = f->host.get();
  const unsigned long req = a[1];
  const uint64_t arg = a[2];
  switch (req) {
    case TCGETS: {
      struct termios t;  // the kernel's struct termios (asm/termbits.h)
      if (ioctl(host, TCGETS, &t) < 0) return -errno;
      return CopyOut(g, arg, t) ? 0 : -EFAULT;
    }
    case TCSETS:
    case TCSETSW:
    case TCSETSF: {
      struct termios t;
      if (!CopyIn(g, arg, &t)) return -EFAULT;
      return HostResult(ioctl(host, req, &t));
    }
    case TIOCGWINSZ: {
      winsize w;
      if (ioctl(host, TIOCGWINSZ, &w) < 0) return -errno;
      return CopyOut(g, arg, w) ? 0 : -EFAULT;
    }
    case TIOCSWINSZ: {
      winsize w;
      if (!CopyIn(g, arg, &w)) return -EFAULT;
      return HostResult(ioctl(host, TIOCSWINSZ, &w));
    }
    case TIOCGPGRP: {
      pid_t pgrp;
      if (ioctl(host, TIOCGPGRP, &pgrp) < 0) return -errno;
      return CopyOut(g, arg, pgrp) ? 0 : -EFAULT;
    }
    case FIONREAD: {
      int n;
      if (ioctl(host, FIONREAD, &n) < 0) return -errno;
      return CopyOut(g, arg, n) ? 0 : -EFAULT;
    }
    case FIONBIO: {
      int on;
      if (!CopyIn(g, arg, &on)) return -EFAULT;
      if (ioctl(host, FIONBIO, &on) < 0) return -errno;
      f->nonblock = on != 0;
      return 0;
    }
    case FIOCLEX:
    case FIONCLEX:
      g.fds.set_cloexec(static_cast<int>(a[0]), req == FIOCLEX);
      return 0;
    case TCFLSH:
    case TCXONC:
    case TCSBRK:
      return HostResult(ioctl(host, req, static_cast<unsigned long>(arg)));
    default:
      return -ENOTTY;
  }
}

}  // namespace

int GuestIovecs(const Process& g, uint64_t addr, uint64_t count, Access access, std::vector<iovec>* out) {
  if (count > IOV_MAX) return -EINVAL;
  out->clear();
  if (count == 0) return 0;
  const uint8_t* raw = g.mm.User(addr, count * sizeof(iovec), Access::kRead);
  if (!raw) return -EFAULT;
  uint64_t total = 0;
  bool stopped = false;  // a segment ran into a fault: later ones only checked
  for (uint64_t i = 0; i < count; i++) {
    uint64_t base, len;
    std::memcpy(&base, raw + i * 16, 8);
    std::memcpy(&len, raw + i * 16 + 8, 8);
    // As Linux's import_iovec: negative lengths are EINVAL, each segment
    // must pass access_ok, and the total is clamped to MAX_RW_COUNT.
    if (len > static_cast<uint64_t>(SSIZE_MAX)) return -EINVAL;
    if (!AccessOk(base, len)) return -EFAULT;
    len = std::min(len, kMaxRw - total);
    total += len;
    if (len == 0 || stopped) continue;
    const uint64_t n = g.mm.UserExtent(base, len, access);
    if (n == 0) {
      if (out->empty()) return -EFAULT;
      stopped = true;  // the transfer stops at the first fault, as on Linux
      continue;
    }
    out->push_back(iovec{g.mm.User(base, n, access), n});
    if (n < len) stopped = true;
  }
  return 0;
}

void RegisterIoHypercalls(HypercallTable& table) {
  table.handlers[SYS_read] = Read;
  table.handlers[SYS_write] = Write;
  table.handlers[SYS_pread64] = Pread64;
  table.handlers[SYS_pwrite64] = Pwrite64;
  table.handlers[SYS_readv] = Readv;
  table.handlers[SYS_writev] = Writev;
  table.handlers[SYS_preadv] = Preadv;
  table.handlers[SYS_pwritev] = Pwritev;
  table.handlers[SYS_lseek] = Lseek;
  table.handlers[SYS_sendfile] = Sendfile;
  table.handlers[SYS_fsync] = Fsync;
  table.handlers[SYS_fdatasync] = Fdatasync;
  table.handlers[SYS_fadvise64] = Fadvise64;
  table.handlers[SYS_splice] = Splice;
  table.handlers[SYS_tee] = Tee;
  table.handlers[SYS_copy_file_range] = CopyFileRange;
  table.handlers[SYS_readahead] = Readahead;
  table.handlers[SYS_sync_file_range] = SyncFileRange;
  table.handlers[SYS_ioctl] = Ioctl;
}

}  // namespace torov
