// Guest memory: the RAM mapping, the application's address space (its VMAs
// and the page tables that enforce them), and the one accessor through which
// every guest pointer is translated.
//
//   0            RT_LIMIT (0x10000)                       app_high          ram_size
//   | runtime    | application: image, brk ->   <- mmap   stack | page-table pool |
//
// Guest virtual == guest physical. The monitor keeps its own list of what the
// application has mapped (VMAs) and derives the page tables from it; it never
// trusts the page tables, only that list.
#pragma once

#include <pthread.h>
#include <sys/mman.h>

#include <cstdint>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace torov {

class FileSnapshot;

// A file the guest maps MAP_SHARED: the host fd the mapping is made from
// (again when mremap moves it), whether that fd was opened for writing
// (Linux's VM_MAYWRITE: mprotect may add PROT_WRITE only then), and what
// keeps the fd open while the guest maps it (its open file description,
// as a mapping holds the file on Linux after close).
struct SharedFile {
  int fd = -1;
  bool writable = false;
  std::shared_ptr<const void> owner;
};

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t PageDown(uint64_t a) { return a & ~(kPageSize - 1); }
// Round up; callers check for overflow where the value is guest-controlled.
constexpr uint64_t PageUp(uint64_t a) { return (a + kPageSize - 1) & ~(kPageSize - 1); }
// Linux's TASK_SIZE_MAX: no user range reaches past it.
constexpr uint64_t kTaskSizeMax = (uint64_t{1} << 47) - kPageSize;
// Linux's access_ok(): [addr, addr+len) neither wraps nor leaves user space.
// Checked on the whole length a caller names, before any clamping, so that
// read(fd, buf, (size_t)-1) is EFAULT here as it is there.
constexpr bool AccessOk(uint64_t addr, uint64_t len) {
  return len <= kTaskSizeMax && addr <= kTaskSizeMax - len;
}

// The host mapping that backs guest RAM: private, anonymous, MAP_NORESERVE,
// so only pages the guest touches cost resident memory.
class GuestRam {
 public:
  explicit GuestRam(uint64_t bytes);
  ~GuestRam();
  GuestRam(const GuestRam&) = delete;
  GuestRam& operator=(const GuestRam&) = delete;

  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }
  // Raw access for the monitor's own structures (runtime, page tables).
  // Bounds-checked against RAM; returns nullptr outside it.
  uint8_t* Phys(uint64_t gpa, uint64_t len) const;
  // Give pages back to the host: they read as zero afterwards, and KVM drops
  // its mappings of them (through the host's MMU notifier).
  void Discard(uint64_t gpa, uint64_t len);
  // MADV_DONTNEED as Linux does it for private pages: those of the
  // program's segments read the program again, the others read zero.
  void Forget(uint64_t gpa, uint64_t len);
  // Moves len bytes of pages from `from` to `to` (page-aligned, apart) by
  // moving their mappings (mremap); `from` reads zero after. False when the
  // host would not: the caller copies instead.
  bool Move(uint64_t from, uint64_t to, uint64_t len);
  // The loader's copy of the program (native/snapshot.h), held as long as
  // the guest's memory maps it.
  void SetProgram(std::shared_ptr<const FileSnapshot> program) { program_ = std::move(program); }
  // Backs [gpa, gpa+len) with a private (copy-on-write) mapping of the
  // program's copy from `offset`, as exec maps a program's segments: VMs of
  // the same program share its pages until they write them. gpa, len and
  // offset page-aligned; false where the copy does not hold those pages.
  bool MapProgram(uint64_t gpa, uint64_t len, uint64_t offset);
  // The same for a copy of a file the guest maps (hypercalls/memory.cc),
  // held as long as this RAM lives. Under AddressSpace's lock.
  bool MapFile(uint64_t gpa, uint64_t len, const std::shared_ptr<const FileSnapshot>& file, uint64_t offset);
  // Backs [gpa, gpa+len) with the file itself, MAP_SHARED from `offset`:
  // the guest's writes reach the host's page cache, and so the file and
  // every other mapping of it. Host-writable only when the file is. False
  // past kMaxFileMaps (the caller answers ENOMEM, as Linux past
  // vm.max_map_count) or where the host refuses. Under AddressSpace's lock.
  bool MapShared(uint64_t gpa, uint64_t len, const SharedFile& file, uint64_t offset);
  // Whether the guest maps any file shared (a KVM_RUN that fails with
  // EFAULT is then its access past such a file's end: SIGBUS).
  bool has_shared() const { return has_shared_.load(std::memory_order_acquire); }
  // Faults the monitor met, and survived, in this RAM's shared file pages
  // past the file's end (memory.cc's "surviving a shared file's end"): how
  // many so far, and whether the calling thread met one since there were
  // `before` (then its call answers EFAULT).
  uint64_t shared_faults() const;
  bool FaultedSince(uint64_t before) const;
  // Whether pages were zeroed since the last TakeZeroed; the pages, each
  // once (`all`: more than were remembered, so every shared page).
  bool zeroed_pending() const { return shared_faults() != zeroed_taken_.load(std::memory_order_acquire); }
  std::vector<uint64_t> TakeZeroed(bool* all);
  // Whether taking [lo, hi) out of the file-backed ranges would split one
  // in two while the guest is at kMaxFileMaps (munmap and the like then
  // answer ENOMEM, as Linux past vm.max_map_count): each range is a host
  // mapping, and a guest must not multiply them by punching holes.
  bool Splits(uint64_t lo, uint64_t hi) const;
  // fork: this (new, untouched) RAM gets the contents of `parent`'s: every
  // page the parent has (present or swapped, as /proc/self/pagemap says
  // through `pagemap`, an fd of it; -1: every page that is not all zero),
  // and the whole of each range a private file copy backs (its pages read
  // the copy until touched). Ranges a file backs shared are left for the
  // caller to map again. Under the parent's AddressSpace lock, held
  // exclusively. False when the sizes differ or the host would not read.
  bool CopyFrom(const GuestRam& parent, int pagemap);
  // Copies len bytes of the program's copy from `offset` to gpa; false
  // outside RAM or the copy.
  bool CopyProgram(uint64_t gpa, uint64_t offset, uint64_t len);
  // Make KVM drop its mappings of a range whose guest page-table entries lost
  // permissions. PVM shadows guest page tables and does not see writes made
  // from the host, nor does a CR3 reload refresh them; changing the host
  // protection of the pages goes through the MMU notifier, which zaps the
  // shadow (and, on VT-x/AMD-V, the EPT/NPT entries and TLB) for exactly them.
  void Zap(uint64_t gpa, uint64_t len) const;

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  std::shared_ptr<const FileSnapshot> program_;
  // The copies of files the guest mapped: what the cache shares with other
  // VMs while some VM holds it (a kernel mapping alone would not keep it).
  std::vector<std::shared_ptr<const FileSnapshot>> mapped_files_;
  uint64_t mapped_file_bytes_ = 0;
  static constexpr size_t kMaxFileMaps = 512;
  // Ranges backed by a file (start -> end): a private copy (discarding
  // them must give zeros, which MADV_DONTNEED would not: it would read the
  // copy again), or the file itself, shared.
  struct Backing {
    uint64_t end;
    bool shared;
  };
  std::map<uint64_t, Backing> file_backed_;
  struct Piece {
    uint64_t lo, hi;
    bool shared;
  };
  // Takes [lo, hi) out of file_backed_; returns the pieces of it that were there.
  std::vector<Piece> Untrack(uint64_t lo, uint64_t hi);
  std::atomic<bool> has_shared_{false};
  std::atomic<int> guard_slot_{-1};  // this RAM's slot in the fault handler's table
  std::atomic<uint64_t> zeroed_taken_{0};  // faults whose pages TakeZeroed gave out
};

enum class VmaKind : uint8_t { kImage, kBrk, kStack, kAnon, kFile };
const char* VmaKindName(VmaKind kind);

struct Vma {
  uint64_t start;  // page aligned
  uint64_t end;    // page aligned, exclusive
  int prot;        // PROT_READ | PROT_WRITE | PROT_EXEC
  VmaKind kind;
  std::string name;  // the image's file name, a mapped file's path, or empty
  // MAP_SHARED of a file: the file, and the offset in it that `start` maps.
  std::shared_ptr<const SharedFile> shared;
  uint64_t offset = 0;
};

enum class Access { kRead, kWrite };

// A readers-writer lock that lets a thread that reads take it again for
// reading (glibc's reader-preferring rwlock): the monitor holds it around a
// write into guest memory and the accessor, inside, takes it too.
class RwLock {
 public:
  RwLock();
  ~RwLock() { pthread_rwlock_destroy(&lock_); }
  RwLock(const RwLock&) = delete;
  RwLock& operator=(const RwLock&) = delete;
  void LockShared() const { pthread_rwlock_rdlock(&lock_); }
  void Lock() const { pthread_rwlock_wrlock(&lock_); }
  void Unlock() const { pthread_rwlock_unlock(&lock_); }

 private:
  mutable pthread_rwlock_t lock_;
};

// Holds an RwLock (shared or exclusive) for its lifetime.
class [[nodiscard]] RwHold {
 public:
  RwHold(const RwLock& lock, bool exclusive) : lock_(&lock) { exclusive ? lock.Lock() : lock.LockShared(); }
  ~RwHold() {
    if (lock_) lock_->Unlock();
  }
  RwHold(RwHold&& other) noexcept : lock_(other.lock_) { other.lock_ = nullptr; }
  RwHold(const RwHold&) = delete;
  RwHold& operator=(const RwHold&) = delete;

 private:
  const RwLock* lock_;
};

// The application's address space. Its threads' vCPUs share it: the calls
// that change it take its lock exclusively, the accessor shares it. A
// pointer the accessor returned stays inside guest RAM whatever happens
// next, but another thread may take the page's write access away meanwhile
// (Zap makes host pages read-only for an instant): the monitor writes into
// guest memory only while it holds Hold().
class AddressSpace {
 public:
  // Builds the page-table skeleton at the top of RAM and maps the runtime.
  // `user_slots`: the hypercall slots are writable from user mode (where
  // the syscall stub runs there, PVM), else only from CPL 0.
  AddressSpace(GuestRam& ram, bool user_slots);

  uint64_t app_low() const;
  uint64_t app_high() const { return app_high_; }
  uint64_t pml4() const { return pml4_; }
  // Where top-down mmap allocation starts (just below the stack's guard gap).
  void set_mmap_top(uint64_t top) { mmap_top_ = top; }

  // The one accessor. A host pointer to [addr, addr+len) when the whole range
  // lies in application mappings that allow `access`; nullptr otherwise
  // (the caller returns -EFAULT). Never reaches the runtime or page tables.
  uint8_t* User(uint64_t addr, uint64_t len, Access access) const;
  // How many bytes from `addr` (up to `len`) are accessible: a read or write
  // that runs off the end of a mapping is short, as on Linux.
  uint64_t UserExtent(uint64_t addr, uint64_t len, Access access) const;
  // A NUL-terminated guest string of at most `max` bytes (not counting NUL).
  // Returns false with *err = EFAULT or ENAMETOOLONG.
  bool UserString(uint64_t addr, size_t max, std::string* out, int* err) const;

  // Keeps the address space as it is (shared with the accessor's other
  // users) while the caller writes through pointers it got.
  RwHold Hold() const { return RwHold(lock_, false); }
  // The process has more than one thread: pages are never moved by
  // remapping them (GuestRam::Move leaves a hole for an instant).
  void set_threaded() { threaded_ = true; }
  // Bytes mapped in all (sysinfo).
  uint64_t MappedBytes() const;

  // --- set-up (loader) ---
  // Maps [start, end) for the application. The range must be free and inside
  // the application area; returns false otherwise.
  bool AddMapping(uint64_t start, uint64_t end, int prot, VmaKind kind, std::string name = {});
  void SetBrk(uint64_t start);

  // --- emulated memory hypercalls: each returns a result or -errno ---
  int64_t Brk(uint64_t addr);
  int64_t MmapAnon(uint64_t addr, uint64_t len, int prot, int flags, VmaKind kind = VmaKind::kAnon,
                   std::string name = {});
  // A private mapping of a file's copy (native/snapshot.h) from `offset`
  // (page-aligned): its pages are the copy's, shared, until written; what
  // lies past the copy's end reads zero.
  int64_t MmapFile(uint64_t addr, uint64_t len, int prot, int flags, std::string name,
                   const std::shared_ptr<const FileSnapshot>& file, uint64_t offset);
  // A shared mapping of the file itself (GuestRam::MapShared) from `offset`.
  int64_t MmapShared(uint64_t addr, uint64_t len, int prot, int flags, std::string name,
                     const std::shared_ptr<const SharedFile>& file, uint64_t offset);
  // Maps the file again where the fault handler put zero pages in a
  // shared mapping (after a fault the monitor survived), one page at a
  // time, each an atomic replacement: valid pages never read zero.
  void RemapShared();
  int64_t Munmap(uint64_t addr, uint64_t len);
  int64_t Mprotect(uint64_t addr, uint64_t len, int prot);
  int64_t Mremap(uint64_t old_addr, uint64_t old_len, uint64_t new_len, int flags, uint64_t new_addr);
  int64_t Madvise(uint64_t addr, uint64_t len, int advice);

  // Debugger page guards (watchpoints): permissions taken away from a page
  // on top of its mapping's, kept through mprotect and mmap. `mask` 0
  // removes the guard. A page whose access it reduces is zapped.
  void SetGuard(uint64_t page, int mask);
  int Guard(uint64_t page) const;
  bool has_guards() const { return !guards_.empty(); }
  const std::map<uint64_t, int>& guards() const { return guards_; }
  // A copy of the mapping that holds `addr`; false when none does.
  bool VmaAt(uint64_t addr, Vma* out) const;
  // The debugger's access (ptrace's FOLL_FORCE): any mapped application
  // byte, whatever its protection. Bytes accessible from `addr` (up to len).
  // Writes stop at a shared mapping the guest may not write: as ptrace's,
  // a forced write reaches only private pages (and would not reach the file).
  uint64_t DebuggerExtent(uint64_t addr, uint64_t len, Access access = Access::kRead) const;
  GuestRam& ram() const { return ram_; }

  std::vector<Vma> vmas() const;
  // fork: this new address space becomes a copy of `parent`'s, its RAM
  // too (GuestRam::CopyFrom); shared file mappings map the same file again,
  // so both see each other's writes. The debugger's guards are the
  // parent's alone. False (and the child must not run) when the host
  // would not give the memory.
  bool ForkFrom(const AddressSpace& parent, int pagemap);
  uint64_t brk() const { return brk_cur_; }
  uint64_t brk_start() const { return brk_start_; }

 private:
  // MmapAnon's work, under lock_ held for writing.
  int64_t Reserve(uint64_t addr, uint64_t len, int prot, int flags, VmaKind kind, std::string name,
                  const std::shared_ptr<const SharedFile>& shared = nullptr, uint64_t offset = 0);
  const Vma* FindVma(uint64_t addr) const;
  uint64_t* Pte(uint64_t addr) const;
  void SetPtes(uint64_t start, uint64_t end, int prot, bool user);
  // Removes [start, end) from the VMA list and the page tables, and discards
  // the pages: whatever maps them next reads zeros.
  void Unmap(uint64_t start, uint64_t end);
  bool IsFree(uint64_t start, uint64_t end) const;
  bool InApp(uint64_t start, uint64_t end) const;
  uint64_t FindFree(uint64_t len, uint64_t below) const;
  // Splits the VMA containing `addr` so that a VMA starts at `addr`.
  void SplitAt(uint64_t addr);
  void Insert(uint64_t start, uint64_t end, int prot, VmaKind kind, std::string name,
              const std::shared_ptr<const SharedFile>& shared = nullptr, uint64_t offset = 0);

  GuestRam& ram_;
  uint64_t pml4_ = 0;
  uint64_t pt_base_ = 0;  // page table for 2 MiB region i is at pt_base_ + i*4096
  uint64_t app_high_ = 0;
  uint64_t mmap_top_ = 0;
  uint64_t brk_start_ = 0;
  uint64_t brk_cur_ = 0;
  std::map<uint64_t, Vma> vmas_;  // keyed by start
  std::map<uint64_t, int> guards_;  // page -> PROT_* bits taken away
  RwLock lock_;
  std::atomic<bool> threaded_{false};
};

}  // namespace torov
