// A file's bytes as they were when it was loaded or mapped: the program's
// segments (the loader), and the files a guest maps privately (libraries,
// through ld.so's mmap).
//
// exec maps a program's segments from its file, copy-on-write, and Linux
// then refuses to let anyone write to that file while it runs (ETXTBSY).
// Nothing refuses it for a file torov runs: mapped from the file, a rewrite
// would show through in every VM running it, and a page past the end of a
// truncated file raises SIGBUS in whichever thread touches it first (the
// vCPU thread copying guest memory: that ends Node, and every VM in it). So
// guest memory maps a copy instead: a memfd holding the segments' bytes,
// sealed so that nobody, torov included, can write, shrink or grow it.
//
// VMs in one process that load or map the same unchanged file share one
// copy, as processes share a file's page cache: each maps it privately, so
// a page stays the copy's (and every VM's) until a VM writes it. A copy is found again while some
// VM holds it, for a file with the same device, inode, size and times, and
// only when the file had last changed well before the copy was made: a
// change after that gives it a later ctime (ccache trusts a file's times on
// the same condition).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fd.h"

namespace torov {

class FileSnapshot {
 public:
  struct Range {
    uint64_t start, end;  // file offsets
    bool operator<(const Range& o) const { return start != o.start ? start < o.start : end < o.end; }
    bool operator==(const Range& o) const { return start == o.start && end == o.end; }
  };

  // The bytes of `ranges` of the file `fd`, at the same offsets (the rest
  // reads as zeros). Throws Error("EBINARY") when the file ends before a
  // range does: it changed since its headers were read.
  // `only_shared`: none (nullptr) unless the copy can be shared, a regular
  // file that last changed well before now (a guest's mmap: a file it just
  // wrote is copied into its own memory instead, which Memory bounds).
  static std::shared_ptr<const FileSnapshot> Take(int fd, std::vector<Range> ranges, bool only_shared = false);

  FileSnapshot(const FileSnapshot&) = delete;
  FileSnapshot& operator=(const FileSnapshot&) = delete;
  ~FileSnapshot();

  int fd() const { return fd_.get(); }
  // The memfd's size: the end of the last range.
  uint64_t size() const { return size_; }

  struct Key;

 private:
  FileSnapshot() = default;
  Fd fd_;
  uint64_t size_ = 0;
  std::unique_ptr<Key> key_;  // set while the process-wide cache lists it
};

}  // namespace torov
