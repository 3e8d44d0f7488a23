#include "snapshot.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "errors.h"

namespace torov {

struct FileSnapshot::Key {
  dev_t dev;
  ino_t ino;
  off_t size;
  int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
  std::vector<Range> ranges;

  auto Tie() const { return std::tie(dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns, ranges); }
  bool operator<(const Key& o) const { return Tie() < o.Tie(); }
  bool operator==(const Key& o) const { return Tie() == o.Tie(); }
};

namespace {

using Key = FileSnapshot::Key;

// How long before a copy its file must have last changed for the copy to be
// shared: longer than the coarsest file times (FAT keeps two seconds).
constexpr int64_t kSettledSeconds = 3;

// Never destroyed: VMs (and their copies) may outlive static destructors.
std::mutex& CacheMutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::map<Key, std::weak_ptr<const FileSnapshot>>& Cache() {
  static auto* c = new std::map<Key, std::weak_ptr<const FileSnapshot>>;
  return *c;
}

Key KeyOf(const struct stat& st, const std::vector<FileSnapshot::Range>& ranges) {
  return Key{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
             st.st_ctim.tv_sec, st.st_ctim.tv_nsec, ranges};
}

bool Settled(const struct stat& st) {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return st.st_ctim.tv_sec + kSettledSeconds < now.tv_sec;
}

}  // namespace

std::shared_ptr<const FileSnapshot> FileSnapshot::Take(int fd, std::vector<Range> ranges, bool only_shared) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<Range> merged;
  for (const Range& r : ranges) {
    if (r.end <= r.start) continue;
    if (!merged.empty() && r.start <= merged.back().end) merged.back().end = std::max(merged.back().end, r.end);
    else merged.push_back(r);
  }
  struct stat before;
  if (fstat(fd, &before) < 0) throw SystemError("EBINARY", "cannot read it");
  const bool shareable = S_ISREG(before.st_mode);
  if (only_shared && (!shareable || !Settled(before))) return nullptr;
  Key key = KeyOf(before, merged);
  if (shareable) {
    std::lock_guard<std::mutex> lock(CacheMutex());
    auto it = Cache().find(key);
    if (it != Cache().end()) {
      if (auto found = it->second.lock()) return found;
    }
  }

  std::shared_ptr<FileSnapshot> snap(new FileSnapshot());
  const int mfd = memfd_create("torov-program", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) throw SystemError("EMEMORY", "no memory for a copy of the program");
  snap->fd_.Reset(mfd);
  snap->size_ = merged.empty() ? 0 : merged.back().end;
  if (snap->size_) {
    // Its size: the end of the last range (pwrite below makes it so too).
    if (ftruncate(mfd, static_cast<off_t>(snap->size_)) < 0) throw SystemError("EMEMORY", "no memory for a copy of the program");
    // Through a buffer, with pread and pwrite: no memory shows as an error
    // (ENOSPC) here, never as a signal, and the vCPU thread, which copies
    // the files a guest maps, needs no shared mapping of its own.
    std::vector<uint8_t> buf(1 << 16);
    for (const Range& r : merged) {
      uint64_t at = r.start;
      while (at < r.end) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), r.end - at));
        const ssize_t n = pread(fd, buf.data(), want, static_cast<off_t>(at));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw SystemError("EBINARY", "cannot read it");
        if (n == 0) throw Error("EBINARY", "it ended before its segments did (it changed while being loaded)");
        for (ssize_t put = 0; put < n;) {
          const ssize_t w = pwrite(mfd, buf.data() + put, static_cast<size_t>(n - put), static_cast<off_t>(at + put));
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) throw SystemError("EMEMORY", "no memory for a copy of the program");
          put += w;
        }
        at += static_cast<uint64_t>(n);
      }
    }
  }
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    throw SystemError("EMEMORY", "cannot seal the copy of the program");

  struct stat after;
  if (!shareable || fstat(fd, &after) < 0 || !(KeyOf(after, merged) == key) || !Settled(after)) return snap;
  std::lock_guard<std::mutex> lock(CacheMutex());
  std::weak_ptr<const FileSnapshot>& slot = Cache()[key];
  if (auto other = slot.lock()) return other;  // made meanwhile by another machine
  slot = snap;
  snap->key_ = std::make_unique<Key>(std::move(key));
  return snap;
}

FileSnapshot::~FileSnapshot() {
  if (!key_) return;
  std::lock_guard<std::mutex> lock(CacheMutex());
  auto it = Cache().find(*key_);
  if (it != Cache().end() && it->second.expired()) Cache().erase(it);
}

}  // namespace torov
