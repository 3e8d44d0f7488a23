#include "memfds.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "memory.h"

namespace torov {

MemfdBudget::MemfdBudget(uint64_t limit) : limit_(limit) { Device(); }

dev_t MemfdBudget::Device() {
  static const dev_t dev = [] {
    dev_t d = 0;
    const int fd = memfd_create("torov-probe", MFD_CLOEXEC);
    if (fd >= 0) {
      struct stat st;
      if (fstat(fd, &st) == 0) d = st.st_dev;
      close(fd);
    }
    return d;
  }();
  return dev;
}

uint64_t MemfdBudget::Used() {
  // A use only this list holds is a memfd the guest has closed for good.
  std::erase_if(uses_, [](const std::shared_ptr<MemfdUse>& u) { return u.use_count() == 1 && !u->sent; });
  uint64_t total = 0;
  for (const auto& u : uses_) total += u->bytes;
  return total;
}

std::shared_ptr<MemfdUse> MemfdBudget::Track(const struct stat& st) {
  const dev_t dev = Device();
  if (dev == 0 || st.st_dev != dev || !S_ISREG(st.st_mode)) return nullptr;
  const uint64_t bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  for (auto& u : uses_) {
    if (u->dev == st.st_dev && u->ino == st.st_ino) {
      u->bytes = bytes;
      return u;
    }
  }
  auto u = std::make_shared<MemfdUse>();
  u->dev = st.st_dev;
  u->ino = st.st_ino;
  u->bytes = bytes;
  uses_.push_back(u);
  return u;
}

void MemfdBudget::Update(MemfdUse& m, int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0) m.bytes = static_cast<uint64_t>(st.st_blocks) * 512;
}

uint64_t MemfdBudget::RoomFor(MemfdUse& m, int fd, struct stat* st) {
  if (fstat(fd, st) == 0) m.bytes = static_cast<uint64_t>(st->st_blocks) * 512;
  else st->st_size = 0;
  const uint64_t used = Used();
  return used >= limit_ ? 0 : limit_ - used;
}

bool MemfdBudget::AllAllocated(int fd, uint64_t offset, uint64_t len, uint64_t* first_hole) {
  *first_hole = offset;
  if (offset > static_cast<uint64_t>(LLONG_MAX)) return false;
  // SEEK_HOLE moves the file position: it is put back at once. (Another
  // process sharing the description could see it move, as it could if the
  // guest called lseek itself.)
  const off_t pos = lseek(fd, 0, SEEK_CUR);
  if (pos < 0) return false;
  const off_t hole = lseek(fd, static_cast<off_t>(offset), SEEK_HOLE);
  lseek(fd, pos, SEEK_SET);
  if (hole < 0) return false;  // ENXIO: at or past the end, where nothing is allocated
  *first_hole = std::max(offset, static_cast<uint64_t>(hole));
  return static_cast<uint64_t>(hole) >= offset + len;
}

int64_t MemfdBudget::Room(MemfdUse& m, int fd, bool at_position, uint64_t offset, uint64_t len) {
  if (len == 0) return 0;
  struct stat st;
  const uint64_t room = RoomFor(m, fd, &st);
  uint64_t start = offset;
  if (at_position) {
    const int fl = fcntl(fd, F_GETFL);
    const off_t pos = fl >= 0 && (fl & O_APPEND) ? st.st_size : lseek(fd, 0, SEEK_CUR);
    if (fl < 0 || pos < 0) {
      // Where it would write is unknown: as if every page it could touch
      // were to allocate, one more for a start inside a page.
      if (PageUp(len) + kPageSize <= room) return static_cast<int64_t>(len);
      return room >= 2 * kPageSize ? static_cast<int64_t>(PageDown(room) - kPageSize) : -ENOSPC;
    }
    start = static_cast<uint64_t>(pos);
  }
  // At most every page it touches is new; only when those do not fit does
  // it matter which are there already.
  if (PageUp(start + len) - PageDown(start) <= room) return static_cast<int64_t>(len);
  uint64_t hole;
  if (AllAllocated(fd, start, len, &hole)) return static_cast<int64_t>(len);
  const uint64_t end = PageDown(hole) + PageDown(room);
  if (end <= start) return -ENOSPC;
  return static_cast<int64_t>(std::min(len, end - start));
}

bool MemfdBudget::FitsAllocate(MemfdUse& m, int fd, uint64_t offset, uint64_t len) {
  struct stat st;
  const uint64_t room = RoomFor(m, fd, &st);
  if (len <= room && PageUp(offset + len) - PageDown(offset) <= room) return true;
  uint64_t hole;
  return AllAllocated(fd, offset, len, &hole);
}

}  // namespace torov
