#include "memfds.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "memory.h"

namespace torov {

MemfdBudget::MemfdBudget(uint64_t limit) : state_(std::make_shared<State>(limit)) { Device(); }

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

uint64_t MemfdBudget::limit() const { return state_->limit; }

uint64_t MemfdBudget::Used() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->total + state_->reserved;
}

size_t MemfdBudget::Tracked() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->index.size() + state_->kept.size();
}

void MemfdBudget::State::SetBytes(const std::shared_ptr<MemfdUse>& m, uint64_t bytes,
                                  std::vector<std::shared_ptr<MemfdUse>>* dropped) {
  total = total - m->bytes + bytes;
  m->bytes = bytes;
  if (m->sent && bytes && !m->kept) {
    m->kept = true;
    kept.push_back(m);
    if (kept.size() >= prune_at) {
      // Those that hold nothing cost nothing: drop them (a received one
      // is tracked again). They are released by the caller, after the
      // lock, as their release takes it.
      auto empty = std::stable_partition(kept.begin(), kept.end(), [](const auto& u) { return u->bytes != 0; });
      for (auto it = empty; it != kept.end(); ++it) {
        (*it)->kept = false;
        dropped->push_back(std::move(*it));
      }
      kept.erase(empty, kept.end());
      prune_at = std::max<size_t>(64, 2 * kept.size());
    }
  }
}

bool MemfdBudget::Measure(int fd, struct stat* st, uint64_t* bytes) {
  if (fstat(fd, st) != 0) {
    st->st_size = 0;
    return false;
  }
  *bytes = static_cast<uint64_t>(st->st_blocks) * 512;
  return true;
}

std::shared_ptr<MemfdUse> MemfdBudget::Track(const struct stat& st) {
  const dev_t dev = Device();
  if (dev == 0 || st.st_dev != dev || !S_ISREG(st.st_mode)) return nullptr;
  const uint64_t bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  std::vector<std::shared_ptr<MemfdUse>> dropped;
  std::shared_ptr<MemfdUse> use;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    auto& slot = state_->index[{st.st_dev, st.st_ino}];
    use = slot.lock();
    if (!use) {
      // When the last guest fd (and the budget, if it keeps it) lets go,
      // what it held leaves the total.
      std::weak_ptr<State> weak = state_;
      use = std::shared_ptr<MemfdUse>(new MemfdUse, [weak](MemfdUse* u) {
        if (auto s = weak.lock()) {
          std::lock_guard<std::mutex> lock(s->mutex);
          s->total -= u->bytes;
          auto it = s->index.find({u->dev, u->ino});
          if (it != s->index.end() && it->second.expired()) s->index.erase(it);
        }
        delete u;
      });
      use->dev = st.st_dev;
      use->ino = st.st_ino;
      slot = use;
      state_->SetBytes(use, bytes, &dropped);
    }
    // A use already followed keeps its count: `st` was measured before the
    // lock and may be older than what a call stored since.
  }
  return use;
}

void MemfdBudget::Update(const std::shared_ptr<MemfdUse>& m, int fd) {
  std::vector<std::shared_ptr<MemfdUse>> dropped;
  std::lock_guard<std::mutex> lock(state_->mutex);
  struct stat st;
  uint64_t bytes;
  if (Measure(fd, &st, &bytes)) state_->SetBytes(m, bytes, &dropped);
}

void MemfdBudget::Sent(const std::shared_ptr<MemfdUse>& m) {
  std::vector<std::shared_ptr<MemfdUse>> dropped;
  std::lock_guard<std::mutex> lock(state_->mutex);
  m->sent = true;
  state_->SetBytes(m, m->bytes, &dropped);
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

MemfdBudget::Grant MemfdBudget::Room(const std::shared_ptr<MemfdUse>& m, int fd, bool at_position, uint64_t offset,
                                     uint64_t len) {
  if (len == 0) return Grant(0);
  std::vector<std::shared_ptr<MemfdUse>> dropped;
  std::lock_guard<std::mutex> lock(state_->mutex);
  State& s = *state_;
  // Measured under the lock: a measure taken before it could be older than
  // the one a finishing call stored meanwhile, and would undo its count.
  struct stat st;
  uint64_t bytes = 0;
  if (Measure(fd, &st, &bytes)) s.SetBytes(m, bytes, &dropped);
  const uint64_t used = s.total + s.reserved;
  const uint64_t room = used >= s.limit ? 0 : s.limit - used;
  auto grant = [&](uint64_t n, uint64_t reserve) {
    s.reserved += reserve;
    return Grant(static_cast<int64_t>(n), state_, m, fd, reserve);
  };
  if (at_position) {
    // Where it writes is the file position now, unless another thread
    // moves it before the write (lseek on a shared description): then the
    // write may start inside a page where this expected a page boundary,
    // one page more than reserved, per call in flight. Pages already there
    // are no excuse here: after a move they may not be the ones written.
    const int fl = fcntl(fd, F_GETFL);
    const off_t pos = fl >= 0 && (fl & O_APPEND) ? st.st_size : lseek(fd, 0, SEEK_CUR);
    const uint64_t start = fl >= 0 && pos >= 0 ? static_cast<uint64_t>(pos) : kPageSize - 1;  // unknown: the worst start
    const uint64_t touched = PageUp(start + len) - PageDown(start);
    if (touched <= room) return grant(len, touched);
    const uint64_t end = PageDown(start) + PageDown(room);
    if (end <= start) return Grant(-ENOSPC);
    return grant(end - start, PageDown(room));
  }
  // At an offset this call holds: at most every page it touches is new;
  // only when those do not fit does it matter which are there already.
  // Either way every page it touches stays reserved until it has run, so
  // that a hole another thread punches meanwhile cannot be spent twice.
  const uint64_t touched = PageUp(offset + len) - PageDown(offset);
  if (touched <= room) return grant(len, touched);
  uint64_t hole;
  if (AllAllocated(fd, offset, len, &hole)) return grant(len, touched);
  const uint64_t end = PageDown(hole) + PageDown(room);
  if (end <= offset) return Grant(-ENOSPC);
  const uint64_t n = std::min(len, end - offset);
  return grant(n, PageUp(offset + n) - PageDown(offset));
}

MemfdBudget::Grant MemfdBudget::Allocate(const std::shared_ptr<MemfdUse>& m, int fd, uint64_t offset, uint64_t len) {
  struct stat st;
  uint64_t bytes = 0;
  const bool measured = Measure(fd, &st, &bytes);
  std::vector<std::shared_ptr<MemfdUse>> dropped;
  std::lock_guard<std::mutex> lock(state_->mutex);
  State& s = *state_;
  if (measured) s.SetBytes(m, bytes, &dropped);
  const uint64_t used = s.total + s.reserved;
  const uint64_t room = used >= s.limit ? 0 : s.limit - used;
  const uint64_t touched = PageUp(offset + len) - PageDown(offset);
  uint64_t hole;
  if (touched > room && !AllAllocated(fd, offset, len, &hole)) return Grant(-ENOSPC);
  s.reserved += touched;
  return Grant(static_cast<int64_t>(len), state_, m, fd, touched);
}

MemfdBudget::Grant::Grant(Grant&& other) noexcept
    : room(other.room),
      state_(std::move(other.state_)),
      use_(std::move(other.use_)),
      fd_(other.fd_),
      reserved_(other.reserved_) {
  other.reserved_ = 0;
}

MemfdBudget::Grant::~Grant() {
  if (!state_) return;
  // Measured, under the lock, before the reservation ends: at no moment
  // does neither count.
  std::vector<std::shared_ptr<MemfdUse>> dropped;
  std::lock_guard<std::mutex> lock(state_->mutex);
  struct stat st;
  uint64_t bytes = 0;
  if (Measure(fd_, &st, &bytes)) state_->SetBytes(use_, bytes, &dropped);
  state_->reserved -= reserved_;
}

}  // namespace torov
