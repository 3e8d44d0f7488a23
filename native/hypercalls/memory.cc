// Memory: brk and mmap and friends are emulated over guest RAM by the
// AddressSpace. A private file mapping maps a sealed copy of the file
// (native/snapshot.h), copy-on-write: VMs in one process that map the same
// unchanged library share its clean pages, and a page a VM writes is its
// own. Files larger than kShareMax, files that changed in the last few
// seconds (FileSnapshot::Take's only_shared) and mappings past the caps in
// GuestRam::MapFile are copied into the guest's memory instead, only the
// range mapped. A shared mapping of a regular file maps the file itself
// (GuestRam::MapShared): writes reach the file and every other mapping of
// it, and msync writes them back. What happens past the file's end is in
// memory.cc ("surviving a shared file's end").
#include <fcntl.h>
#include <linux/mman.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../errors.h"
#include "../snapshot.h"
#include "hypercalls.h"

#include <new>

namespace torov {

namespace {

// The largest file a mapping shares a whole copy of (a library is a few
// MiB; a mapped data file may be anything).
constexpr uint64_t kShareMax = 64ull << 20;

int64_t Brk(Process& g, Task& t, const Args& a) { return g.mm.Brk(a[0]); }

// MAP_SHARED|MAP_ANONYMOUS: memory a fork's child shares with its parent.
// It is a host memfd of its own, mapped shared (as Linux backs it with a
// shmem file), so that the child's mapping of it is the same pages. It
// takes the guest RAM it covers, so the host memory it can hold is no more
// than that RAM's.
int64_t MmapSharedAnon(Process& g, uint64_t addr, uint64_t len, int prot, int flags) {
  if (len == 0) return -EINVAL;
  if (len > g.ram.size()) return -ENOMEM;
  const int fd = memfd_create("torov-shared", MFD_CLOEXEC);
  if (fd < 0) return -ENOMEM;
  auto owner = std::make_shared<OpenFile>();
  owner->host.Reset(fd);
  if (ftruncate(fd, static_cast<off_t>(PageUp(len))) < 0) return -ENOMEM;
  auto file = std::make_shared<const SharedFile>(SharedFile{fd, true, owner});
  // What Linux's /proc/self/maps names it.
  return g.mm.MmapShared(addr, len, prot, flags & ~MAP_ANONYMOUS, "/dev/zero (deleted)", file, 0);
}

int64_t Mmap(Process& g, Task& t, const Args& a) {
  const uint64_t addr = a[0], len = a[1], off = a[5];
  const int prot = static_cast<int>(a[2]);
  const int flags = static_cast<int>(a[3]);
  const int type = flags & MAP_TYPE;
  if (type != MAP_PRIVATE && type != MAP_SHARED && type != MAP_SHARED_VALIDATE) return -EINVAL;
  if ((flags & MAP_ANONYMOUS) && type != MAP_PRIVATE) return MmapSharedAnon(g, addr, len, prot, flags);
  if (flags & MAP_ANONYMOUS) return g.mm.MmapAnon(addr, len, prot, flags);

  if (off & (kPageSize - 1)) return -EINVAL;
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[4]);
  if (!f) return -EBADF;
  const int fl = fcntl(f->host.get(), F_GETFL);
  if (fl < 0) return -errno;
  if ((fl & O_ACCMODE) == O_WRONLY || (fl & O_PATH)) return -EACCES;
  struct stat st;
  if (fstat(f->host.get(), &st) < 0) return -errno;
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) return -ENODEV;
  std::string name;
  g.paths.GuestPathOf(f->host.get(), &name);
  const bool writable = (fl & O_ACCMODE) == O_RDWR;
  if (type != MAP_PRIVATE && (prot & PROT_WRITE) && !writable) return -EACCES;
  if (type != MAP_PRIVATE && S_ISREG(st.st_mode)) {
    // A memfd's pages are host memory its budget counts at each call
    // (native/memfds.h); writes through a shared mapping would allocate
    // them with no call at all. So a memfd is mapped shared only where the
    // mapping can never be written.
    if (f->memfd && writable) return -ENODEV;
    auto file = std::make_shared<const SharedFile>(SharedFile{f->host.get(), writable, f});
    return g.mm.MmapShared(addr, len, prot, flags, std::move(name), file, off);
  }
  // A block device shared for reading, or a private mapping: a copy.
  if (type != MAP_PRIVATE && (prot & PROT_WRITE)) return -ENODEV;
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) <= kShareMax && !g.copy_file_mappings) {
    std::shared_ptr<const FileSnapshot> copy;
    try {
      copy = FileSnapshot::Take(f->host.get(), {{0, static_cast<uint64_t>(st.st_size)}}, true);
    } catch (const Error&) {
      // It changed while being copied (or memory ran out): the copy below.
    } catch (const std::bad_alloc&) {
    }
    if (copy) return g.mm.MmapFile(addr, len, prot, flags, name, copy, off);
  }
  const int64_t start = g.mm.MmapAnon(addr, len, prot, flags, VmaKind::kFile, name);
  if (start < 0) return start;
  // Fill the copy from the file; the part past its end stays zero.
  uint8_t* dst = g.ram.Phys(static_cast<uint64_t>(start), len);
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = pread(f->host.get(), dst + done, len - done, static_cast<off_t>(off + done));
    if (n < 0 && errno == EINTR && !t.interrupted()) continue;
    if (n < 0) {
      const int err = errno;
      g.mm.Munmap(static_cast<uint64_t>(start), len);
      return -err;
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  return start;
}

int64_t Munmap(Process& g, Task& t, const Args& a) { return g.mm.Munmap(a[0], a[1]); }
int64_t Mprotect(Process& g, Task& t, const Args& a) { return g.mm.Mprotect(a[0], a[1], static_cast<int>(a[2])); }
int64_t Mremap(Process& g, Task& t, const Args& a) {
  return g.mm.Mremap(a[0], a[1], a[2], static_cast<int>(a[3]), a[4]);
}
int64_t Madvise(Process& g, Task& t, const Args& a) { return g.mm.Madvise(a[0], a[1], static_cast<int>(a[2])); }

// The range must be mapped; there is nothing to lock (the monitor's memory
// is never swapped for the guest's sake).
int64_t RangeMapped(Process& g, uint64_t addr, uint64_t len) {
  if (addr & (kPageSize - 1)) return -EINVAL;
  if (len == 0) return 0;
  return g.mm.UserExtent(addr, len, Access::kRead) == len ? 0 : -ENOMEM;
}

// Shared file pages go back to the file: the host's msync over the same
// range (its other pages are guest RAM, for which msync does nothing).
int64_t Msync(Process& g, Task& t, const Args& a) {
  const uint64_t addr = a[0], len = PageUp(a[1]);
  const int flags = static_cast<int>(a[2]);
  if (flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) return -EINVAL;
  if ((flags & MS_ASYNC) && (flags & MS_SYNC)) return -EINVAL;
  if (len < a[1]) return -ENOMEM;
  if (addr & (kPageSize - 1)) return -EINVAL;
  // Mapped, whatever its protection (PROT_NONE included), as on Linux.
  if (len && g.mm.DebuggerExtent(addr, len) != len) return -ENOMEM;
  if (len == 0 || !g.ram.has_shared()) return 0;
  uint8_t* host = g.ram.Phys(addr, len);
  if (!host) return -ENOMEM;
  return msync(host, len, flags) < 0 ? -errno : 0;
}
int64_t Mlock(Process& g, Task& t, const Args& a) { return RangeMapped(g, PageDown(a[0]), a[1] + (a[0] & 4095)); }
int64_t Nothing(Process&, Task&, const Args&) { return 0; }

int64_t Mincore(Process& g, Task& t, const Args& a) {
  if (a[0] & (kPageSize - 1)) return -EINVAL;
  const uint64_t pages = PageUp(a[1]) / kPageSize;
  if (g.mm.UserExtent(a[0], a[1], Access::kRead) != a[1]) return -ENOMEM;
  // Written by the monitor: held, so that another thread's mprotect cannot
  // make the host pages read-only (GuestRam::Zap) under the memset.
  const auto hold = g.mm.Hold();
  uint8_t* vec = g.mm.User(a[2], pages, Access::kWrite);
  if (!vec && pages) return -EFAULT;
  if (pages) std::memset(vec, 1, pages);  // everything counts as resident
  return 0;
}

}  // namespace

void RegisterMemoryHypercalls(HypercallTable& table) {
  table.handlers[SYS_brk] = Brk;
  table.handlers[SYS_mmap] = Mmap;
  table.handlers[SYS_munmap] = Munmap;
  table.handlers[SYS_mprotect] = Mprotect;
  table.handlers[SYS_mremap] = Mremap;
  table.handlers[SYS_madvise] = Madvise;
  table.handlers[SYS_msync] = Msync;
  table.handlers[SYS_mlock] = Mlock;
  table.handlers[SYS_munlock] = Mlock;
  table.handlers[SYS_mlockall] = Nothing;
  table.handlers[SYS_munlockall] = Nothing;
  table.handlers[SYS_mincore] = Mincore;
}

}  // namespace torov
