// Host memory a guest holds outside its RAM through memfds (issue 10, hole
// 5). A memfd's pages are the host's memory, allocated as the guest writes
// or fallocates them; Memory bounds guest RAM, and this bounds those: all
// the guest's memfds together hold at most half of Memory, as a tmpfs holds
// at most half of RAM unless told otherwise. A call that would allocate more
// writes what fits (a short count) or fails with ENOSPC, as on a full tmpfs.
// ftruncate stays free, as there: a size allocates nothing.
//
// What a memfd holds is what the kernel says, st_blocks, read after each
// call that may have changed it; before such a call, every page it could
// touch counts, unless lseek(SEEK_HOLE) shows them all allocated already.
// A memfd counts while a guest fd refers to it, and, once the guest has
// sent it in SCM_RIGHTS, until the guest ends: a descriptor in flight, or in
// another process, keeps its pages where no guest fd shows them.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace torov {

// One memfd (an inode: every fd for it shares this).
struct MemfdUse {
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t bytes = 0;  // allocated, as st_blocks says
  bool sent = false;   // passed in SCM_RIGHTS
};

class MemfdBudget {
 public:
  explicit MemfdBudget(uint64_t limit);

  uint64_t limit() const { return limit_; }
  // What the guest's memfds hold now.
  uint64_t Used();
  // The use of the file `st` describes when it is a memfd, else nullptr.
  std::shared_ptr<MemfdUse> Track(const struct stat& st);
  // How many of `len` bytes a call may write into memfd `m` (open as `fd`)
  // at `offset`, or at the file position when `at_position`; -ENOSPC when
  // not one.
  int64_t Room(MemfdUse& m, int fd, bool at_position, uint64_t offset, uint64_t len);
  // Whether fallocate(mode 0 or KEEP_SIZE) of [offset, offset+len) fits.
  bool FitsAllocate(MemfdUse& m, int fd, uint64_t offset, uint64_t len);
  // After a call that may have changed what `m` holds.
  void Update(MemfdUse& m, int fd);

  // The device memfds live on (the kernel's internal tmpfs): learnt once per
  // process, on the first Process's construction (the vCPU thread's filter
  // may not admit memfd_create).
  static dev_t Device();

 private:
  // Room left for `m` (what the others hold counted, `m` read afresh).
  uint64_t RoomFor(MemfdUse& m, int fd, struct stat* st);
  // Whether [offset, offset+len) of `fd` has no page still to allocate.
  static bool AllAllocated(int fd, uint64_t offset, uint64_t len, uint64_t* first_hole);

  uint64_t limit_;
  std::vector<std::shared_ptr<MemfdUse>> uses_;
};

}  // namespace torov
