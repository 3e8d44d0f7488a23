#include "fdtable.h"

#include <algorithm>
#include <cerrno>

namespace torov {

// A description that no fd shares any more closes when its last holder lets
// it go: never under the table's lock (closing a socket may wait), so the
// old one is moved out first and dropped after the lock.

int FdTable::Install(std::shared_ptr<OpenFile> file, bool cloexec, int min) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (min < 0 || min >= limit_) return -EINVAL;
  for (int fd = min; fd < limit_; fd++) {
    if (fd >= static_cast<int>(slots_.size())) slots_.resize(fd + 1);
    if (!slots_[fd].file) {
      slots_[fd] = Slot{std::move(file), cloexec};
      return fd;
    }
  }
  return -EMFILE;
}

int FdTable::InstallAt(int fd, std::shared_ptr<OpenFile> file, bool cloexec) {
  std::shared_ptr<OpenFile> old;
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd < 0 || fd >= limit_) return -EBADF;
  if (fd >= static_cast<int>(slots_.size())) slots_.resize(fd + 1);
  old = std::move(slots_[fd].file);
  slots_[fd] = Slot{std::move(file), cloexec};
  return fd;
}

std::shared_ptr<OpenFile> FdTable::Get(int64_t fd) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd < 0 || fd >= static_cast<int64_t>(slots_.size())) return nullptr;
  return slots_[fd].file;
}

int FdTable::Close(int64_t fd) {
  std::shared_ptr<OpenFile> old;
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd < 0 || fd >= static_cast<int64_t>(slots_.size()) || !slots_[fd].file) return -EBADF;
  old = std::move(slots_[fd].file);
  slots_[fd] = Slot{};
  while (!slots_.empty() && !slots_.back().file) slots_.pop_back();
  return 0;
}

std::vector<std::shared_ptr<OpenFile>> FdTable::TakeAll() {
  std::vector<std::shared_ptr<OpenFile>> files;
  std::lock_guard<std::mutex> lock(mutex_);
  for (Slot& s : slots_)
    if (s.file && std::find(files.begin(), files.end(), s.file) == files.end()) files.push_back(std::move(s.file));
  slots_.clear();
  return files;
}

bool FdTable::cloexec(int fd) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fd >= 0 && fd < static_cast<int>(slots_.size()) && slots_[fd].file && slots_[fd].cloexec;
}

bool FdTable::set_cloexec(int fd, bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd < 0 || fd >= static_cast<int>(slots_.size()) || !slots_[fd].file) return false;
  slots_[fd].cloexec = on;
  return true;
}

}  // namespace torov
