// A hypercall as the monitor serves it: values copied out of the guest's
// hypercall slot once, at the exit, before the policy check (see
// Vcpu::ReadCall in native/kvm/vcpu.cc). The slot is guest memory that
// another guest thread may rewrite while the call is served (under PVM it
// must be writable from user mode: runtime.S says why), so nothing after
// that one copy reads it: handlers, the tracer and the debugger see these
// values, and a handler has no way to reach the slot.
#pragma once

#include <cstddef>
#include <cstdint>

namespace torov {

// The six Linux argument registers (rdi, rsi, rdx, r10, r8, r9), by value.
class Args {
 public:
  Args() = default;
  Args(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5) : v_{a0, a1, a2, a3, a4, a5} {}
  uint64_t operator[](size_t i) const { return v_[i]; }
  uint64_t& operator[](size_t i) { return v_[i]; }
  // For the tracer, which records all six.
  const uint64_t* data() const { return v_; }

 private:
  uint64_t v_[6] = {};
};

// The whole call: what the stub stored, and what goes back to it.
struct HypercallFrame {
  uint64_t nr = 0;      // rax at the `syscall` (orig_rax)
  Args args;
  uint64_t rip = 0;     // rcx: where the call returns
  uint64_t rflags = 0;  // r11: the application's flags (sanitised on the way back)
  int64_t ret = 0;      // rax on return
};

}  // namespace torov
