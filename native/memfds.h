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
//
// Threads. Every vCPU thread of the process checks and writes memfds at
// once: all of the budget's state is under one mutex (State::mutex), and a
// call's check and its write are one step against the others: the room a
// call is given (a Grant) is reserved until the call has run and its memfd
// has been measured again, so two threads cannot both spend the same room.
// The running total makes a check O(1), whatever the number of memfds. A
// write at the file position is checked at the position it sees; a thread
// that moves the position meanwhile can make it allocate one page more than
// it reserved, so the bound is half of Memory plus a page per call in
// flight; such a write is not let through on the strength of pages that
// are there already (a positional write, at an offset only it holds, is).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace torov {

// One memfd (an inode: every fd for it shares this). Its fields are the
// budget's, under its mutex.
struct MemfdUse {
  dev_t dev = 0;
  ino_t ino = 0;
  uint64_t bytes = 0;  // allocated, as st_blocks says
  bool sent = false;   // passed in SCM_RIGHTS
  bool kept = false;   // sent and holding pages: the budget keeps it to the end
};

class MemfdBudget {
  struct State;

 public:
  // Room a call was given in one memfd: `room` bytes it may write (or
  // -ENOSPC), reserved against every other call until this is destroyed,
  // after the call, when the memfd is measured again and the reservation
  // ends. For a file that is not a memfd it reserves nothing.
  class Grant {
   public:
    explicit Grant(int64_t room) : room(room) {}
    Grant(Grant&& other) noexcept;
    Grant& operator=(Grant&&) = delete;
    Grant(const Grant&) = delete;
    ~Grant();
    const int64_t room;

   private:
    friend class MemfdBudget;
    Grant(int64_t room, std::shared_ptr<State> state, std::shared_ptr<MemfdUse> use, int fd, uint64_t reserved)
        : room(room), state_(std::move(state)), use_(std::move(use)), fd_(fd), reserved_(reserved) {}
    std::shared_ptr<State> state_;
    std::shared_ptr<MemfdUse> use_;
    int fd_ = -1;
    uint64_t reserved_ = 0;
  };

  explicit MemfdBudget(uint64_t limit);

  uint64_t limit() const;
  // What the guest's memfds hold now, with the room calls in progress hold.
  uint64_t Used() const;
  // How many memfds the budget follows (the tests: this must stay bounded).
  size_t Tracked() const;
  // The use of the file `st` describes when it is a memfd, else nullptr.
  std::shared_ptr<MemfdUse> Track(const struct stat& st);
  // The room for a call that writes up to `len` bytes into memfd `m` (open
  // as `fd`) at `offset`, or at the file position when `at_position`.
  Grant Room(const std::shared_ptr<MemfdUse>& m, int fd, bool at_position, uint64_t offset, uint64_t len);
  // fallocate (mode 0 or KEEP_SIZE) of [offset, offset+len): all of `len`,
  // or -ENOSPC.
  Grant Allocate(const std::shared_ptr<MemfdUse>& m, int fd, uint64_t offset, uint64_t len);
  // After a call that may have changed what `m` holds.
  void Update(const std::shared_ptr<MemfdUse>& m, int fd);
  // `m` was passed in SCM_RIGHTS: it counts to the end while it holds pages.
  void Sent(const std::shared_ptr<MemfdUse>& m);

  // The device memfds live on (the kernel's internal tmpfs): learnt once per
  // process, on the first Process's construction (the vCPU thread's filter
  // may not admit memfd_create).
  static dev_t Device();

 private:
  // State outlives the budget while a use or a grant still refers to it
  // (an OpenFile can be released after its Process's budget).
  struct State {
    explicit State(uint64_t limit) : limit(limit) {}
    mutable std::mutex mutex;
    const uint64_t limit;
    uint64_t total = 0;     // bytes of every live use (guest-held or kept)
    uint64_t reserved = 0;  // room that Grants hold
    // Live uses by inode; a use leaves when its last holder drops it.
    std::map<std::pair<dev_t, ino_t>, std::weak_ptr<MemfdUse>> index;
    // Sent uses that hold pages, kept to the end. Pruned of those that hold
    // none when it doubles, so it holds at most total / 4 KiB that do.
    std::vector<std::shared_ptr<MemfdUse>> kept;
    size_t prune_at = 64;
    // What `m` holds now (under mutex): the total follows it.
    void SetBytes(const std::shared_ptr<MemfdUse>& m, uint64_t bytes, std::vector<std::shared_ptr<MemfdUse>>* dropped);
  };
  // Measures `fd`: st_blocks in bytes, and its stat. Callers hold the mutex,
  // so that no older measure overwrites a newer one.
  static bool Measure(int fd, struct stat* st, uint64_t* bytes);
  // Whether [offset, offset+len) of `fd` has no page still to allocate.
  static bool AllAllocated(int fd, uint64_t offset, uint64_t len, uint64_t* first_hole);

  std::shared_ptr<State> state_;
};

}  // namespace torov
