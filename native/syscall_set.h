// A set of Linux x86-64 syscall (hypercall) numbers: the policy's allowed
// numbers (process.h), the debugger's catch-syscall list (debug.h) and the
// tracer's filter (trace.h). JavaScript builds each as a Uint8Array of
// kMaxHypercall / 8 bytes, bit nr % 8 of byte nr / 8 for number nr
// (src/vmm/syscall-set.ts); binding.cc reads it with SyscallSetFromJs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace torov {

constexpr int kMaxHypercall = 512;  // Linux x86-64 numbers are below this

class SyscallSet {
 public:
  static constexpr size_t kBytes = kMaxHypercall / 8;

  // Every number below kMaxHypercall.
  static constexpr SyscallSet All() {
    SyscallSet s;
    s.bits_.fill(0xff);
    return s;
  }

  // A number out of range (a negative one converted, a huge one from the
  // guest's rax) is in no set.
  constexpr bool Has(uint64_t nr) const { return nr < kMaxHypercall && (bits_[nr / 8] >> (nr % 8)) & 1; }
  // Out of range: ignored.
  constexpr void Set(uint64_t nr) {
    if (nr < kMaxHypercall) bits_[nr / 8] |= static_cast<uint8_t>(1u << (nr % 8));
  }
  constexpr void Clear(uint64_t nr) {
    if (nr < kMaxHypercall) bits_[nr / 8] &= static_cast<uint8_t>(~(1u << (nr % 8)));
  }

  // The wire format: false, and the set unchanged, unless `size` is kBytes.
  bool Assign(const uint8_t* bytes, size_t size) {
    if (size != kBytes) return false;
    std::memcpy(bits_.data(), bytes, kBytes);
    return true;
  }

 private:
  std::array<uint8_t, kBytes> bits_{};
};

static_assert(!SyscallSet().Has(0) && SyscallSet::All().Has(kMaxHypercall - 1));
static_assert(!SyscallSet::All().Has(kMaxHypercall) && !SyscallSet::All().Has(static_cast<uint64_t>(-1)));
static_assert([] {
  SyscallSet s;
  s.Set(9);
  s.Set(kMaxHypercall);  // ignored
  s.Set(static_cast<uint64_t>(-1));
  const bool set = s.Has(9) && !s.Has(8) && !s.Has(10);
  s.Clear(9);
  return set && !s.Has(9);
}());

}  // namespace torov
