#include "fdtable.h"

#include <cerrno>

namespace torov {

int FdTable::Install(std::shared_ptr<OpenFile> file, bool cloexec, int min) {
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
  if (fd < 0 || fd >= limit_) return -EBADF;
  if (fd >= static_cast<int>(slots_.size())) slots_.resize(fd + 1);
  // The old description (if no other fd shares it) closes here.
  slots_[fd] = Slot{std::move(file), cloexec};
  return fd;
}

OpenFile* FdTable::Get(int64_t fd) const {
  if (fd < 0 || fd >= static_cast<int64_t>(slots_.size())) return nullptr;
  return slots_[fd].file.get();
}

std::shared_ptr<OpenFile> FdTable::Ref(int64_t fd) const {
  if (fd < 0 || fd >= static_cast<int64_t>(slots_.size())) return nullptr;
  return slots_[fd].file;
}

int FdTable::Close(int64_t fd) {
  if (!Get(fd)) return -EBADF;
  slots_[fd] = Slot{};
  while (!slots_.empty() && !slots_.back().file) slots_.pop_back();
  return 0;
}

}  // namespace torov
