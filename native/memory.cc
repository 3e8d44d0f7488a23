#include "memory.h"

#include <linux/mman.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>

#include "errors.h"
#include "kvm/runtime.h"
#include "snapshot.h"

namespace torov {

namespace {

constexpr uint64_t kPteP = 1ull << 0;
constexpr uint64_t kPteRw = 1ull << 1;
constexpr uint64_t kPteUs = 1ull << 2;
constexpr uint64_t kPteNx = 1ull << 63;
constexpr uint64_t kTable = kPteP | kPteRw | kPteUs;  // intermediate levels: the leaf decides

constexpr uint64_t k2M = 2ull << 20;
constexpr uint64_t k1G = 1ull << 30;
constexpr uint64_t kMaxRam = 64ull << 30;

constexpr int kProtMask = PROT_READ | PROT_WRITE | PROT_EXEC;

bool AddOverflows(uint64_t a, uint64_t b) { return a + b < a; }

// ---- surviving a shared file's end
//
// A page of a shared file mapping past the file's end faults with SIGBUS
// (another guest thread, another VM or a host process can truncate the
// file at any time). The guest's own access comes back from KVM_RUN as
// EFAULT, and the vCPU ends the guest with SIGBUS (kvm/vcpu.cc). But the
// monitor reads and writes guest memory too (a path, an iovec, a struct),
// and a SIGBUS there would end Node. So a handler, installed with the
// first shared mapping, turns such a fault anywhere in a registered RAM
// into a zero page (anonymous memory over that one page), and the access
// goes on. It records the page and the faulting thread: the call that
// faulted answers EFAULT, as Linux's would (Vcpu::Dispatch,
// AddressSpace::UserString), and before the next call the file is mapped
// on those pages again (AddressSpace::RemapShared), so that the pages
// fault again while the file is short and show it once it has grown. A
// fault anywhere else goes to the handler that was there before, or ends
// the process as it would have.
//
// The handler takes no locks and reads only atomics: each RAM that maps
// files shared has a slot with its host range and a ring of its latest
// faults.

constexpr int kGuardSlots = 256;  // RAMs (VMs) with shared file mappings at once
constexpr uint64_t kRing = 64;    // faults remembered per RAM between two calls
struct GuardSlot {
  std::atomic<bool> used{false};
  std::atomic<uintptr_t> lo{0}, hi{0};  // the RAM's host range; hi 0 while free
  std::atomic<uint64_t> faults{0};      // every fault survived; fault n is at ring[n % kRing]
  std::atomic<uint64_t> page[kRing];    // its guest-physical page, plus one (0: not written yet)
  std::atomic<int> tid[kRing];          // the host thread that faulted
};
GuardSlot guard_slots[kGuardSlots];
struct sigaction previous_bus;
std::once_flag bus_installed;

void OnSharedFault(int sig, siginfo_t* si, void* context) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(si->si_addr);
  if (si->si_code == BUS_ADRERR) {
    for (GuardSlot& slot : guard_slots) {
      const uintptr_t hi = slot.hi.load(std::memory_order_acquire);
      const uintptr_t lo = slot.lo.load(std::memory_order_acquire);
      if (!(lo <= a && a < hi)) continue;
      const int saved = errno;
      const uintptr_t page = a & ~(kPageSize - 1);
      void* p = mmap(reinterpret_cast<void*>(page), kPageSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
      const int tid = static_cast<int>(syscall(SYS_gettid));
      errno = saved;
      if (p == MAP_FAILED) break;
      const uint64_t n = slot.faults.fetch_add(1, std::memory_order_acq_rel);
      slot.tid[n % kRing].store(tid, std::memory_order_release);
      slot.page[n % kRing].store(page - lo + 1, std::memory_order_release);
      return;
    }
  }
  if (previous_bus.sa_flags & SA_SIGINFO) {
    if (previous_bus.sa_sigaction) return previous_bus.sa_sigaction(sig, si, context);
  } else if (previous_bus.sa_handler != SIG_DFL && previous_bus.sa_handler != SIG_IGN) {
    return previous_bus.sa_handler(sig);
  }
  // Not ours, and nobody else's: the default action, as without us.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGBUS, &dfl, nullptr);
  raise(SIGBUS);
}

void InstallFaultHandler() {
  std::call_once(bus_installed, [] {
    // The handler there before is known before ours can run.
    sigaction(SIGBUS, nullptr, &previous_bus);
    struct sigaction sa = {};
    sa.sa_sigaction = OnSharedFault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, nullptr);
  });
}

}  // namespace

// ---------------------------------------------------------------- GuestRam

GuestRam::GuestRam(uint64_t bytes) {
  if (bytes == 0 || bytes % k2M != 0 || bytes > kMaxRam)
    throw Error("EMEMORY", "guest memory must be a multiple of 2 MiB and at most 64 GiB, not " +
                               std::to_string(bytes) + " bytes");
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) throw SystemError("EMEMORY", "cannot reserve " + std::to_string(bytes >> 20) + " MiB of guest memory");
  base_ = static_cast<uint8_t*>(p);
  size_ = bytes;
}

GuestRam::~GuestRam() {
  if (const int slot = guard_slot_.load(); slot >= 0) {
    guard_slots[slot].hi.store(0, std::memory_order_release);
    guard_slots[slot].used.store(false, std::memory_order_release);
  }
  if (base_) munmap(base_, size_);
}

uint64_t GuestRam::shared_faults() const {
  const int slot = guard_slot_.load(std::memory_order_acquire);
  return slot >= 0 ? guard_slots[slot].faults.load(std::memory_order_acquire) : 0;
}

bool GuestRam::FaultedSince(uint64_t before) const {
  const int i = guard_slot_.load(std::memory_order_acquire);
  if (i < 0) return false;
  const GuardSlot& slot = guard_slots[i];
  const uint64_t now = slot.faults.load(std::memory_order_acquire);
  if (now == before) return false;
  if (now - before > kRing) return true;  // more than remembered: it may be among them
  const int me = static_cast<int>(syscall(SYS_gettid));
  for (uint64_t n = before; n < now; n++)
    if (slot.tid[n % kRing].load(std::memory_order_acquire) == me) return true;
  return false;
}

std::vector<uint64_t> GuestRam::TakeZeroed(bool* all) {
  *all = false;
  std::vector<uint64_t> pages;
  const int i = guard_slot_.load(std::memory_order_acquire);
  if (i < 0) return pages;
  GuardSlot& slot = guard_slots[i];
  const uint64_t now = slot.faults.load(std::memory_order_acquire);
  const uint64_t from = zeroed_taken_.exchange(now, std::memory_order_acq_rel);
  if (now - from > kRing) *all = true;
  for (uint64_t n = std::max(from, now > kRing ? now - kRing : 0); n < now && !*all; n++) {
    const uint64_t page = slot.page[n % kRing].exchange(0, std::memory_order_acq_rel);
    if (page == 0) *all = true;  // a fault still being recorded: every page, to be sure
    else pages.push_back(page - 1);
  }
  return pages;
}

uint8_t* GuestRam::Phys(uint64_t gpa, uint64_t len) const {
  if (gpa > size_ || len > size_ - gpa) return nullptr;
  return base_ + gpa;
}

std::vector<GuestRam::Piece> GuestRam::Untrack(uint64_t lo, uint64_t hi) {
  std::vector<Piece> out;
  auto it = file_backed_.upper_bound(lo);
  if (it != file_backed_.begin()) --it;
  while (it != file_backed_.end() && it->first < hi) {
    const uint64_t s = it->first;
    const Backing b = it->second;
    if (b.end <= lo) {
      ++it;
      continue;
    }
    it = file_backed_.erase(it);
    if (s < lo) file_backed_[s] = Backing{lo, b.shared};
    if (hi < b.end) it = file_backed_.emplace(hi, b).first;
    out.push_back(Piece{std::max(s, lo), std::min(b.end, hi), b.shared});
  }
  return out;
}

void GuestRam::Discard(uint64_t gpa, uint64_t len) {
  if (len == 0 || !Phys(gpa, len)) return;
  // Parts backed by a file go back to anonymous memory.
  for (const Piece& p : Untrack(gpa, gpa + len))
    mmap(base_ + p.lo, p.hi - p.lo, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  madvise(base_ + gpa, len, MADV_DONTNEED);
}

void GuestRam::Forget(uint64_t gpa, uint64_t len) {
  if (len == 0 || !Phys(gpa, len)) return;
  madvise(base_ + gpa, len, MADV_DONTNEED);
}

bool GuestRam::Move(uint64_t from, uint64_t to, uint64_t len) {
  if (len == 0 || !Phys(from, len) || !Phys(to, len) || ((from | to | len) & (kPageSize - 1))) return false;
  if (from < to + len && to < from + len) return false;
  // A moved range stays a mapping of its own in the host (it cannot merge
  // with its neighbours), and a process may hold only so many (65530 by
  // default): only ranges of at least 1/1024 of guest RAM (1 MiB at least)
  // move, so a guest holds at most about 1024 of them. Smaller ones copy.
  if (len < std::max<uint64_t>(1 << 20, size_ / 1024)) return false;
  // The source's replacement first, so that a failure leaves nothing to undo.
  void* fresh = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (fresh == MAP_FAILED) return false;
  // The host moves the page-table entries, not the bytes.
  if (mremap(base_ + from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, base_ + to) == MAP_FAILED) {
    munmap(fresh, len);
    return false;
  }
  if (mremap(fresh, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, base_ + from) == MAP_FAILED &&
      mmap(base_ + from, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) ==
          MAP_FAILED)
    std::abort();  // a hole in guest RAM: the host has no mapping left to give
  // Ranges backed by a file move with their pages.
  const auto pieces = Untrack(from, from + len);
  Untrack(to, to + len);
  for (const Piece& p : pieces) file_backed_[p.lo - from + to] = Backing{p.hi - from + to, p.shared};
  return true;
}

bool GuestRam::MapProgram(uint64_t gpa, uint64_t len, uint64_t offset) {
  return program_ && MapFile(gpa, len, program_, offset);
}

bool GuestRam::MapFile(uint64_t gpa, uint64_t len, const std::shared_ptr<const FileSnapshot>& file, uint64_t offset) {
  if (len == 0 || !file || !Phys(gpa, len) || (gpa | len | offset) & (kPageSize - 1)) return false;
  // Only pages the copy has: one past its end would fault (SIGBUS).
  if (offset > PageUp(file->size()) || len > PageUp(file->size()) - offset) return false;
  // Each is a host mapping of its own, and a process may hold only so many
  // (vm.max_map_count, 65530 by default, shared with Node and every VM in
  // it): a guest gets kMaxFileMaps; past them its mappings are copies.
  if (file_backed_.size() >= kMaxFileMaps) return false;
  // The copies it holds stay while it lives: at most its RAM's size of them.
  const bool held = file == program_ || std::find(mapped_files_.begin(), mapped_files_.end(), file) != mapped_files_.end();
  if (!held && mapped_file_bytes_ + file->size() > size_) return false;
  void* p = mmap(base_ + gpa, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, file->fd(),
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED) return false;
  file_backed_[gpa] = Backing{gpa + len, false};
  if (!held) {
    mapped_files_.push_back(file);
    mapped_file_bytes_ += file->size();
  }
  return true;
}

bool GuestRam::Splits(uint64_t lo, uint64_t hi) const {
  if (file_backed_.size() < kMaxFileMaps) return false;
  auto it = file_backed_.upper_bound(lo);
  if (it == file_backed_.begin()) return false;
  --it;
  return it->first < lo && hi < it->second.end;
}

bool GuestRam::MapShared(uint64_t gpa, uint64_t len, const SharedFile& file, uint64_t offset) {
  if (len == 0 || file.fd < 0 || !Phys(gpa, len) || (gpa | len | offset) & (kPageSize - 1)) return false;
  if (offset > static_cast<uint64_t>(INT64_MAX) - len) return false;
  // The range is guest RAM again unless the file maps over it below (a
  // range mapped again counts once against the cap).
  Discard(gpa, len);
  if (file_backed_.size() >= kMaxFileMaps) return false;
  if (guard_slot_.load() < 0) {
    int slot = -1;
    for (int i = 0; i < kGuardSlots && slot < 0; i++) {
      bool expected = false;
      if (guard_slots[i].used.compare_exchange_strong(expected, true)) slot = i;
    }
    if (slot < 0) return false;  // 256 VMs mapping files shared at once: ENOMEM
    GuardSlot& g = guard_slots[slot];
    g.faults.store(0);
    for (uint64_t n = 0; n < kRing; n++) g.page[n].store(0);
    zeroed_taken_.store(0);
    InstallFaultHandler();
    g.lo.store(reinterpret_cast<uintptr_t>(base_), std::memory_order_release);
    g.hi.store(reinterpret_cast<uintptr_t>(base_ + size_), std::memory_order_release);
    guard_slot_.store(slot, std::memory_order_release);
  }
  // The guest's page tables decide what it may do; the host's protection is
  // what the file allows, so that nothing, not even the monitor, writes a
  // file opened read-only.
  const int host_prot = file.writable ? PROT_READ | PROT_WRITE : PROT_READ;
  void* p = mmap(base_ + gpa, len, host_prot, MAP_SHARED | MAP_FIXED, file.fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) {
    // A failed MAP_FIXED may have taken the old pages away: RAM again.
    if (mmap(base_ + gpa, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) ==
        MAP_FAILED)
      std::abort();  // a hole in guest RAM: the host has no mapping left to give
    return false;
  }
  file_backed_[gpa] = Backing{gpa + len, true};
  has_shared_.store(true, std::memory_order_release);
  return true;
}

bool GuestRam::CopyFrom(const GuestRam& parent, int pagemap) {
  if (parent.size_ != size_) return false;
  program_ = parent.program_;
  mapped_files_ = parent.mapped_files_;
  mapped_file_bytes_ = parent.mapped_file_bytes_;
  const uint64_t pages = size_ / kPageSize;
  // What a page is: 0 leave it (zero here too, or shared: the caller's),
  // 1 copy it.
  std::vector<uint8_t> copy(pages, 0);
  bool known = pagemap >= 0;
  if (known) {
    constexpr uint64_t kPresent = uint64_t{1} << 63, kSwapped = uint64_t{1} << 62;
    std::vector<uint64_t> entries(4096);
    const uint64_t first = reinterpret_cast<uintptr_t>(parent.base_) / kPageSize;
    for (uint64_t p = 0; p < pages && known;) {
      const uint64_t n = std::min<uint64_t>(entries.size(), pages - p);
      const ssize_t got = pread(pagemap, entries.data(), n * 8, static_cast<off_t>((first + p) * 8));
      if (got != static_cast<ssize_t>(n * 8)) {
        known = false;
        break;
      }
      for (uint64_t i = 0; i < n; i++) copy[p + i] = (entries[i] & (kPresent | kSwapped)) != 0;
      p += n;
    }
  }
  if (!known) {
    // No page map: what reads other than zero.
    static const uint8_t zero[kPageSize] = {};
    for (uint64_t p = 0; p < pages; p++) copy[p] = std::memcmp(parent.base_ + p * kPageSize, zero, kPageSize) != 0;
  }
  for (const auto& [lo, b] : parent.file_backed_)
    for (uint64_t a = lo; a < b.end; a += kPageSize) copy[a / kPageSize] = b.shared ? 0 : 1;
  for (uint64_t p = 0; p < pages;) {
    if (!copy[p]) {
      p++;
      continue;
    }
    uint64_t q = p;
    while (q < pages && copy[q]) q++;
    std::memcpy(base_ + p * kPageSize, parent.base_ + p * kPageSize, (q - p) * kPageSize);
    p = q;
  }
  return true;
}

bool GuestRam::CopyProgram(uint64_t gpa, uint64_t offset, uint64_t len) {
  uint8_t* dst = Phys(gpa, len);
  if (!dst || !program_ || offset > program_->size() || len > program_->size() - offset) return false;
  uint64_t done = 0;
  while (done < len) {
    const ssize_t n = pread(program_->fd(), dst + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<uint64_t>(n);
  }
  return true;
}

void GuestRam::Zap(uint64_t gpa, uint64_t len) const {
  if (len == 0 || !Phys(gpa, len)) return;
  auto reprotect = [this](uint64_t lo, uint64_t hi) {
    if (lo >= hi) return;
    mprotect(base_ + lo, hi - lo, PROT_READ);
    mprotect(base_ + lo, hi - lo, PROT_READ | PROT_WRITE);
  };
  // A shared file's pages keep their host protection (read-only where the
  // file is): dropping the host's page-table entries for them goes through
  // the MMU notifier as well, and loses nothing (the page cache holds
  // them, dirty or not).
  const uint64_t end = gpa + len;
  uint64_t cur = gpa;
  auto it = file_backed_.upper_bound(gpa);
  if (it != file_backed_.begin()) --it;
  for (; it != file_backed_.end() && it->first < end; ++it) {
    if (!it->second.shared || it->second.end <= cur) continue;
    const uint64_t lo = std::max(it->first, cur), hi = std::min(it->second.end, end);
    reprotect(cur, lo);
    madvise(base_ + lo, hi - lo, MADV_DONTNEED);
    cur = hi;
  }
  reprotect(cur, end);
}

const char* VmaKindName(VmaKind kind) {
  switch (kind) {
    case VmaKind::kImage: return "image";
    case VmaKind::kBrk: return "heap";
    case VmaKind::kStack: return "stack";
    case VmaKind::kAnon: return "anon";
    case VmaKind::kFile: return "file";
  }
  return "?";
}

// ----------------------------------------------------------- AddressSpace

AddressSpace::AddressSpace(GuestRam& ram, bool user_slots) : ram_(ram) {
  const uint64_t size = ram.size();
  const uint64_t regions = size / k2M;           // one page table per 2 MiB
  const uint64_t directories = (size + k1G - 1) / k1G;  // one page directory per GiB
  const uint64_t pool_pages = 2 + directories + regions;
  const uint64_t pool = size - pool_pages * kPageSize;
  if (pool < RT_LIMIT + (1 << 20))
    throw Error("EMEMORY", "guest memory of " + std::to_string(size >> 20) + " MiB is too small");

  pml4_ = pool;
  const uint64_t pdpt = pool + kPageSize;
  const uint64_t pd = pdpt + kPageSize;
  pt_base_ = pd + directories * kPageSize;
  app_high_ = pool;
  mmap_top_ = pool;

  auto* pml4 = reinterpret_cast<uint64_t*>(ram.Phys(pml4_, kPageSize));
  auto* pdpte = reinterpret_cast<uint64_t*>(ram.Phys(pdpt, kPageSize));
  auto* pde = reinterpret_cast<uint64_t*>(ram.Phys(pd, directories * kPageSize));
  pml4[0] = pdpt | kTable;
  for (uint64_t i = 0; i < directories; i++) pdpte[i] = (pd + i * kPageSize) | kTable;
  // Page tables are contiguous, so the entry for page p is at pt_base_ + 8p.
  for (uint64_t r = 0; r < regions; r++) pde[r] = (pt_base_ + r * kPageSize) | kTable;

  // The runtime (runtime.h). Only the syscall stubs, and where the stub runs
  // in user mode (PVM) the hypercall slots, are reachable from user mode: on
  // VT-x/AMD-V no guest thread can write a slot at all.
  auto map = [this](uint64_t addr, uint64_t len, uint64_t flags) {
    for (uint64_t a = addr; a < addr + len; a += kPageSize) *Pte(a) = a | kPteP | flags;
  };
  map(RT_SYSCALL, RT_EXCEPTION - RT_SYSCALL, kPteUs);
  map(RT_EXCEPTION, kPageSize, 0);
  map(RT_HC, RT_GDT - RT_HC, (user_slots ? kPteUs : 0) | kPteRw | kPteNx);
  map(RT_GDT, RT_TASK - RT_GDT, kPteRw | kPteNx);
  map(RT_TASK, RT_END - RT_TASK, kPteRw | kPteNx);
}

uint64_t AddressSpace::app_low() const { return RT_LIMIT; }

uint64_t* AddressSpace::Pte(uint64_t addr) const {
  return reinterpret_cast<uint64_t*>(ram_.base() + pt_base_ + (addr >> 12) * 8);
}

namespace {
uint64_t PteFlags(int prot, bool user) {
  if (!(prot & kProtMask)) return 0;
  uint64_t flags = kPteP | (user ? kPteUs : 0);
  if (prot & PROT_WRITE) flags |= kPteRw;
  if (!(prot & PROT_EXEC)) flags |= kPteNx;
  return flags;
}
}  // namespace

void AddressSpace::SetPtes(uint64_t start, uint64_t end, int prot, bool user) {
  const uint64_t flags = PteFlags(prot, user);
  uint64_t* pte = Pte(start);
  for (uint64_t a = start; a < end; a += kPageSize) *pte++ = flags ? (a | flags) : 0;
  // Pages a debugger guards keep their guard.
  for (auto it = guards_.lower_bound(start); it != guards_.end() && it->first < end; ++it) {
    const uint64_t f = PteFlags(prot & ~it->second, user);
    *Pte(it->first) = f ? (it->first | f) : 0;
  }
}

RwLock::RwLock() {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_READER_NP);
  pthread_rwlock_init(&lock_, &attr);
  pthread_rwlockattr_destroy(&attr);
}

bool AddressSpace::VmaAt(uint64_t addr, Vma* out) const {
  const RwHold hold(lock_, false);
  const Vma* v = FindVma(addr);
  if (v) *out = *v;
  return v != nullptr;
}

std::vector<Vma> AddressSpace::vmas() const {
  const RwHold hold(lock_, false);
  std::vector<Vma> out;
  for (const auto& [start, v] : vmas_) out.push_back(v);
  return out;
}

uint64_t AddressSpace::MappedBytes() const {
  const RwHold hold(lock_, false);
  uint64_t used = 0;
  for (const auto& [start, v] : vmas_) used += v.end - v.start;
  return used;
}

const Vma* AddressSpace::FindVma(uint64_t addr) const {
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return nullptr;
  --it;
  return addr < it->second.end ? &it->second : nullptr;
}

void AddressSpace::SetGuard(uint64_t page, int mask) {
  const RwHold hold(lock_, true);
  page = PageDown(page);
  const auto was = guards_.find(page);
  const int before = was == guards_.end() ? 0 : was->second;
  if (mask) guards_[page] = mask;
  else guards_.erase(page);
  const Vma* v = FindVma(page);
  const uint64_t f = v ? PteFlags(v->prot & ~mask, true) : 0;
  *Pte(page) = f ? (page | f) : 0;
  // Access taken away: KVM drops what it holds of the page (under the
  // lock, as Zap reads the file-backed ranges).
  if (mask & ~before) ram_.Zap(page, kPageSize);
}

bool AddressSpace::ForkFrom(const AddressSpace& parent, int pagemap) {
  const RwHold hold(parent.lock_, true);
  pml4_ = parent.pml4_;
  pt_base_ = parent.pt_base_;
  app_high_ = parent.app_high_;
  mmap_top_ = parent.mmap_top_;
  brk_start_ = parent.brk_start_;
  brk_cur_ = parent.brk_cur_;
  vmas_ = parent.vmas_;
  if (!ram_.CopyFrom(parent.ram_, pagemap)) return false;
  for (const auto& [start, v] : vmas_)
    if (v.shared && !ram_.MapShared(v.start, v.end - v.start, *v.shared, v.offset)) return false;
  // The page tables came with the memory, the parent's guards in them:
  // the child's pages have their mappings' permissions.
  for (const auto& [page, mask] : parent.guards_) {
    const Vma* v = FindVma(page);
    const uint64_t f = v ? PteFlags(v->prot, true) : 0;
    *Pte(page) = f ? (page | f) : 0;
  }
  return true;
}

int AddressSpace::Guard(uint64_t page) const {
  const RwHold hold(lock_, false);
  auto it = guards_.find(PageDown(page));
  return it == guards_.end() ? 0 : it->second;
}

uint64_t AddressSpace::DebuggerExtent(uint64_t addr, uint64_t len, Access access) const {
  if (len == 0) return 0;
  const RwHold hold(lock_, false);
  if (AddOverflows(addr, len)) len = ~addr;
  const uint64_t end = addr + len;
  uint64_t cur = addr;
  while (cur < end) {
    const Vma* v = FindVma(cur);
    if (!v || (access == Access::kWrite && v->shared && !(v->prot & PROT_WRITE))) break;
    cur = v->end;
  }
  return std::min(cur, end) - addr;
}

bool AddressSpace::InApp(uint64_t start, uint64_t end) const {
  return start >= app_low() && start < end && end <= app_high_;
}

bool AddressSpace::IsFree(uint64_t start, uint64_t end) const {
  auto it = vmas_.lower_bound(start);
  if (it != vmas_.end() && it->second.start < end) return false;
  if (it != vmas_.begin() && std::prev(it)->second.end > start) return false;
  return true;
}

uint64_t AddressSpace::FindFree(uint64_t len, uint64_t below) const {
  uint64_t top = std::min(below, app_high_);
  for (auto it = vmas_.rbegin(); it != vmas_.rend(); ++it) {
    const Vma& v = it->second;
    if (v.start >= top) continue;
    if (v.end < top && top - v.end >= len) return top - len;
    top = v.start;
  }
  if (top >= app_low() && top - app_low() >= len) return top - len;
  return 0;
}

void AddressSpace::SplitAt(uint64_t addr) {
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return;
  --it;
  Vma& v = it->second;
  if (v.start < addr && addr < v.end) {
    Vma upper = v;
    upper.start = addr;
    if (upper.shared) upper.offset += addr - v.start;
    v.end = addr;
    vmas_.emplace(addr, std::move(upper));
  }
}

void AddressSpace::Insert(uint64_t start, uint64_t end, int prot, VmaKind kind, std::string name,
                          const std::shared_ptr<const SharedFile>& shared, uint64_t offset) {
  SetPtes(start, end, prot, true);
  // Neighbours merge as on Linux: alike, and if shared, one file's
  // consecutive pages.
  auto same = [&](const Vma& v, uint64_t at) {
    return v.prot == prot && v.kind == kind && v.name == name && v.shared == shared &&
           (!shared || v.offset + (at - v.start) == offset + (at - start));
  };
  auto next = vmas_.lower_bound(start);
  if (next != vmas_.begin()) {
    auto prev = std::prev(next);
    if (prev->second.end == start && same(prev->second, start)) {
      prev->second.end = end;
      if (next != vmas_.end() && next->second.start == end && same(next->second, end)) {
        prev->second.end = next->second.end;
        vmas_.erase(next);
      }
      return;
    }
  }
  if (next != vmas_.end() && next->second.start == end && same(next->second, end)) {
    Vma merged = next->second;
    merged.start = start;
    merged.offset = offset;
    vmas_.erase(next);
    vmas_.emplace(start, std::move(merged));
    return;
  }
  vmas_.emplace(start, Vma{start, end, prot, kind, std::move(name), shared, offset});
}

void AddressSpace::Unmap(uint64_t start, uint64_t end) {
  SplitAt(start);
  SplitAt(end);
  for (auto it = vmas_.lower_bound(start); it != vmas_.end() && it->second.start < end;)
    it = vmas_.erase(it);
  SetPtes(start, end, PROT_NONE, true);
  ram_.Discard(start, end - start);
}

uint8_t* AddressSpace::User(uint64_t addr, uint64_t len, Access access) const {
  if (len == 0) return ram_.base() + RT_LIMIT;  // never dereferenced
  if (AddOverflows(addr, len)) return nullptr;
  const RwHold hold(lock_, false);
  const uint64_t end = addr + len;
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return nullptr;
  --it;
  for (uint64_t cur = addr; cur < end; ++it) {
    if (it == vmas_.end() || it->second.start > cur || it->second.end <= cur) return nullptr;
    const int prot = it->second.prot;
    if (access == Access::kWrite ? !(prot & PROT_WRITE) : !(prot & kProtMask)) return nullptr;
    cur = it->second.end;
  }
  return ram_.base() + addr;
}

uint64_t AddressSpace::UserExtent(uint64_t addr, uint64_t len, Access access) const {
  if (len == 0) return 0;
  if (AddOverflows(addr, len)) len = ~addr;
  const RwHold hold(lock_, false);
  const uint64_t end = addr + len;
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return 0;
  --it;
  uint64_t cur = addr;
  for (; cur < end && it != vmas_.end() && it->second.start <= cur && cur < it->second.end; ++it) {
    const int prot = it->second.prot;
    if (access == Access::kWrite ? !(prot & PROT_WRITE) : !(prot & kProtMask)) break;
    cur = it->second.end;
  }
  return std::min(cur, end) - addr;
}

bool AddressSpace::UserString(uint64_t addr, size_t max, std::string* out, int* err) const {
  out->clear();
  const RwHold hold(lock_, false);
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return *err = EFAULT, false;
  --it;
  uint64_t cur = addr;
  for (; it != vmas_.end() && it->second.start <= cur && cur < it->second.end;) {
    if (!(it->second.prot & kProtMask)) break;
    // A shared file's pages one at a time, as Linux reads no further than
    // the NUL: a page past the file's end faults (see OnSharedFault).
    const bool shared = it->second.shared != nullptr;
    const uint64_t stop = shared ? std::min(it->second.end, PageDown(cur) + kPageSize) : it->second.end;
    const uint8_t* p = ram_.base() + cur;
    const size_t room = max + 1 - out->size();
    const size_t span = static_cast<size_t>(std::min<uint64_t>(stop - cur, room));
    const uint64_t faults = shared ? ram_.shared_faults() : 0;
    // Copied first, then searched: each byte is read from the guest once.
    // Searching guest memory and copying it after would let another guest
    // thread put a NUL inside the copy, so that the checks see one string
    // and the host call (c_str()) a shorter one.
    const size_t before = out->size();
    out->append(reinterpret_cast<const char*>(p), span);
    if (shared && ram_.FaultedSince(faults)) break;  // EFAULT, as Linux
    if (const size_t nul = out->find('\0', before); nul != std::string::npos) {
      out->resize(nul);
      return true;
    }
    if (out->size() > max) return *err = ENAMETOOLONG, false;
    cur = stop;
    if (cur == it->second.end) ++it;  // else the same mapping's next page
  }
  *err = EFAULT;
  return false;
}

bool AddressSpace::AddMapping(uint64_t start, uint64_t end, int prot, VmaKind kind, std::string name) {
  const RwHold hold(lock_, true);
  start = PageDown(start);
  end = PageUp(end);
  if (!InApp(start, end) || !IsFree(start, end)) return false;
  Insert(start, end, prot & kProtMask, kind, std::move(name));
  return true;
}

void AddressSpace::SetBrk(uint64_t start) {
  const RwHold hold(lock_, true);
  brk_start_ = brk_cur_ = start;
}

int64_t AddressSpace::Brk(uint64_t addr) {
  const RwHold hold(lock_, true);
  if (addr < brk_start_) return brk_cur_;
  const uint64_t old_end = PageUp(brk_cur_);
  const uint64_t new_end = PageUp(addr);
  if (new_end < addr) return brk_cur_;  // overflow
  if (new_end > old_end) {
    if (!InApp(old_end, new_end) || !IsFree(old_end, new_end)) return brk_cur_;
    Insert(old_end, new_end, PROT_READ | PROT_WRITE, VmaKind::kBrk, {});
  } else if (new_end < old_end) {
    Unmap(new_end, old_end);
  }
  brk_cur_ = addr;
  return addr;
}

int64_t AddressSpace::MmapAnon(uint64_t addr, uint64_t len, int prot, int flags, VmaKind kind,
                               std::string name) {
  const RwHold hold(lock_, true);
  return Reserve(addr, len, prot, flags, kind, std::move(name));
}

int64_t AddressSpace::MmapFile(uint64_t addr, uint64_t len, int prot, int flags, std::string name,
                               const std::shared_ptr<const FileSnapshot>& file, uint64_t offset) {
  const RwHold hold(lock_, true);
  const int64_t start = Reserve(addr, len, prot, flags, VmaKind::kFile, std::move(name));
  if (start < 0) return start;
  // The whole pages the copy has from `offset`; the rest stays zero, as
  // the part of a last page past a file's end reads on Linux.
  const uint64_t have = offset < PageUp(file->size()) ? PageUp(file->size()) - offset : 0;
  const uint64_t mapped = std::min(PageUp(len), have);
  if (mapped && !ram_.MapFile(static_cast<uint64_t>(start), mapped, file, offset)) {
    // The host would not map it (its limit on mappings): a copy of the bytes.
    uint8_t* dst = ram_.Phys(static_cast<uint64_t>(start), mapped);
    const uint64_t bytes = std::min<uint64_t>(mapped, file->size() - offset);
    uint64_t done = 0;
    while (done < bytes) {
      const ssize_t n = pread(file->fd(), dst + done, bytes - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        Unmap(static_cast<uint64_t>(start), static_cast<uint64_t>(start) + PageUp(len));
        return -EIO;
      }
      done += static_cast<uint64_t>(n);
    }
  }
  return start;
}

int64_t AddressSpace::MmapShared(uint64_t addr, uint64_t len, int prot, int flags, std::string name,
                                 const std::shared_ptr<const SharedFile>& file, uint64_t offset) {
  if ((prot & PROT_WRITE) && !file->writable) return -EACCES;
  const RwHold hold(lock_, true);
  const int64_t start = Reserve(addr, len, prot, flags, VmaKind::kFile, std::move(name), file, offset);
  if (start < 0) return start;
  const uint64_t s = static_cast<uint64_t>(start);
  if (!ram_.MapShared(s, PageUp(len), *file, offset)) {
    Unmap(s, s + PageUp(len));
    return -ENOMEM;
  }
  return start;
}

void AddressSpace::RemapShared() {
  const RwHold hold(lock_, true);
  bool all = false;
  std::vector<uint64_t> pages = ram_.TakeZeroed(&all);
  auto again = [this](const Vma& v, uint64_t lo, uint64_t hi) {
    const int host_prot = v.shared->writable ? PROT_READ | PROT_WRITE : PROT_READ;
    // If the host will not (its mapping count), the zero page stays: the
    // guest reads zeros there, and nothing else is lost.
    mmap(ram_.base() + lo, hi - lo, host_prot, MAP_SHARED | MAP_FIXED, v.shared->fd,
         static_cast<off_t>(v.offset + (lo - v.start)));
  };
  if (all) {
    for (const auto& [start, v] : vmas_)
      if (v.shared) again(v, v.start, v.end);
    return;
  }
  for (const uint64_t page : pages) {
    const Vma* v = FindVma(page);
    // A page no longer mapped shared is guest RAM, as it is now.
    if (v && v->shared) again(*v, page, page + kPageSize);
  }
}

int64_t AddressSpace::Reserve(uint64_t addr, uint64_t len, int prot, int flags, VmaKind kind, std::string name,
                              const std::shared_ptr<const SharedFile>& shared, uint64_t offset) {
  if (len == 0) return -EINVAL;
  const uint64_t alen = PageUp(len);
  if (alen < len || alen > app_high_) return -ENOMEM;
  uint64_t start = 0;
  if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
    if (addr & (kPageSize - 1)) return -EINVAL;
    if (AddOverflows(addr, alen)) return -ENOMEM;
    if (addr < app_low()) return -EPERM;  // below mmap_min_addr, as on Linux
    if (!InApp(addr, addr + alen)) return -ENOMEM;
    if (!(flags & MAP_FIXED) || (flags & MAP_FIXED_NOREPLACE)) {
      if (!IsFree(addr, addr + alen)) return -EEXIST;
    } else {
      if (ram_.Splits(addr, addr + alen)) return -ENOMEM;
      Unmap(addr, addr + alen);
    }
    start = addr;
  } else {
    const uint64_t hint = PageDown(addr);
    if (hint && !AddOverflows(hint, alen) && InApp(hint, hint + alen) && IsFree(hint, hint + alen))
      start = hint;
    else
      start = FindFree(alen, mmap_top_);
    if (!start) return -ENOMEM;
  }
  Insert(start, start + alen, prot & kProtMask, kind, std::move(name), shared, offset);
  return static_cast<int64_t>(start);
}

int64_t AddressSpace::Munmap(uint64_t addr, uint64_t len) {
  if ((addr & (kPageSize - 1)) || len == 0) return -EINVAL;
  const RwHold hold(lock_, true);
  const uint64_t alen = PageUp(len);
  if (alen < len || AddOverflows(addr, alen)) return -EINVAL;
  if (!InApp(addr, addr + alen)) return -EINVAL;
  if (ram_.Splits(addr, addr + alen)) return -ENOMEM;
  Unmap(addr, addr + alen);
  return 0;
}

int64_t AddressSpace::Mprotect(uint64_t addr, uint64_t len, int prot) {
  if (addr & (kPageSize - 1)) return -EINVAL;
  if (prot & ~(kProtMask | PROT_GROWSDOWN | PROT_GROWSUP)) return -EINVAL;
  if (len == 0) return 0;
  const RwHold hold(lock_, true);
  const uint64_t alen = PageUp(len);
  if (alen < len || AddOverflows(addr, alen)) return -ENOMEM;
  const uint64_t end = addr + alen;
  // Every page must be mapped, as on Linux.
  uint64_t cur = addr;
  for (auto it = vmas_.upper_bound(addr); cur < end;) {
    if (it == vmas_.begin()) return -ENOMEM;
    auto v = std::prev(it);
    if (v->second.start > cur || v->second.end <= cur) return -ENOMEM;
    cur = v->second.end;
    it = vmas_.upper_bound(cur);
  }
  // A file mapped shared from a read-only fd never becomes writable.
  if (prot & PROT_WRITE)
    for (auto it = std::prev(vmas_.upper_bound(addr)); it != vmas_.end() && it->second.start < end; ++it)
      if (it->second.shared && !it->second.shared->writable) return -EACCES;
  SplitAt(addr);
  SplitAt(end);
  prot &= kProtMask;
  bool reduced = false;
  for (auto it = vmas_.lower_bound(addr); it != vmas_.end() && it->second.start < end; ++it) {
    if (it->second.prot & ~prot) reduced = true;
    it->second.prot = prot;
  }
  SetPtes(addr, end, prot, true);
  if (reduced) ram_.Zap(addr, alen);
  return 0;
}

int64_t AddressSpace::Mremap(uint64_t old_addr, uint64_t old_len, uint64_t new_len, int flags,
                             uint64_t new_addr) {
  if (old_addr & (kPageSize - 1)) return -EINVAL;
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) return -EINVAL;
  if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) return -EINVAL;
  if (flags & MREMAP_DONTUNMAP) return -EINVAL;  // not emulated
  const uint64_t olen = PageUp(old_len);
  const uint64_t nlen = PageUp(new_len);
  if (olen < old_len || nlen < new_len || nlen == 0 || olen == 0) return -EINVAL;
  if (AddOverflows(old_addr, olen)) return -EFAULT;
  const RwHold hold(lock_, true);
  auto it = vmas_.upper_bound(old_addr);
  if (it == vmas_.begin()) return -EFAULT;
  const Vma src = std::prev(it)->second;
  if (src.start > old_addr || src.end < old_addr + olen) return -EFAULT;

  // Where old_addr lies in a shared file: its pages are the file's, and
  // mapping the file again anywhere shows them.
  const uint64_t file_at = src.offset + (old_addr - src.start);
  auto move_to = [&](uint64_t dst) -> int64_t {
    Insert(dst, dst + nlen, src.prot, src.kind, src.name, src.shared, file_at);
    if (src.shared) {
      if (!ram_.MapShared(dst, nlen, *src.shared, file_at)) {
        Unmap(dst, dst + nlen);
        return -ENOMEM;
      }
      Unmap(old_addr, old_addr + olen);
      return static_cast<int64_t>(dst);
    }
    // Moving the pages costs a page-table update; copying them, a copy.
    const uint64_t keep = std::min(olen, nlen);
    if (threaded_ || !ram_.Move(old_addr, dst, keep)) std::memcpy(ram_.base() + dst, ram_.base() + old_addr, keep);
    Unmap(old_addr, old_addr + olen);
    return static_cast<int64_t>(dst);
  };
  if (flags & MREMAP_FIXED) {
    if ((new_addr & (kPageSize - 1)) || AddOverflows(new_addr, nlen) || !InApp(new_addr, new_addr + nlen))
      return -EINVAL;
    if (new_addr < old_addr + olen && old_addr < new_addr + nlen) return -EINVAL;
    if (ram_.Splits(new_addr, new_addr + nlen) || ram_.Splits(old_addr, old_addr + olen)) return -ENOMEM;
    Unmap(new_addr, new_addr + nlen);
    return move_to(new_addr);
  }
  if (nlen <= olen) {
    if (nlen < olen && ram_.Splits(old_addr + nlen, old_addr + olen)) return -ENOMEM;
    if (nlen < olen) Unmap(old_addr + nlen, old_addr + olen);
    return static_cast<int64_t>(old_addr);
  }
  if (!AddOverflows(old_addr, nlen) && InApp(old_addr + olen, old_addr + nlen) &&
      IsFree(old_addr + olen, old_addr + nlen)) {
    Insert(old_addr + olen, old_addr + nlen, src.prot, src.kind, src.name, src.shared, file_at + olen);
    if (src.shared && !ram_.MapShared(old_addr + olen, nlen - olen, *src.shared, file_at + olen)) {
      Unmap(old_addr + olen, old_addr + nlen);
      return -ENOMEM;
    }
    return static_cast<int64_t>(old_addr);
  }
  if (!(flags & MREMAP_MAYMOVE)) return -ENOMEM;
  if (ram_.Splits(old_addr, old_addr + olen)) return -ENOMEM;
  const uint64_t dst = FindFree(nlen, mmap_top_);
  if (!dst) return -ENOMEM;
  return move_to(dst);
}

int64_t AddressSpace::Madvise(uint64_t addr, uint64_t len, int advice) {
  if (addr & (kPageSize - 1)) return -EINVAL;
  const uint64_t alen = PageUp(len);
  if (alen < len || AddOverflows(addr, alen)) return -EINVAL;
  if (alen == 0) return 0;
  const RwHold hold(lock_, true);
  const uint64_t end = addr + alen;
  bool hole = false;
  uint64_t cur = addr;
  while (cur < end) {
    auto v = vmas_.upper_bound(cur);
    if (v == vmas_.begin() || std::prev(v)->second.end <= cur) {
      hole = true;
      if (v == vmas_.end() || v->second.start >= end) break;
      cur = v->second.start;
      continue;
    }
    --v;
    const uint64_t stop = std::min(end, v->second.end);
    // As on Linux: private pages go back to what backs them, the program's
    // file for its segments, zeros for anonymous memory.
    // A shared file's pages: dropped, and read from the file again; with
    // MADV_REMOVE, the file's blocks go too (a hole in it), as on Linux.
    if (advice == MADV_DONTNEED || advice == MADV_FREE) ram_.Forget(cur, stop - cur);
    if (advice == MADV_REMOVE) {
      if (!v->second.shared) {
        if (ram_.Splits(cur, stop)) return -ENOMEM;
        ram_.Discard(cur, stop - cur);
      } else if (!(v->second.prot & PROT_WRITE)) {
        return -EACCES;
      } else if (madvise(ram_.base() + cur, stop - cur, MADV_REMOVE) < 0) {
        return -errno;
      }
    }
    cur = stop;
  }
  return hole ? -ENOMEM : 0;
}

}  // namespace torov
