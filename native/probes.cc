// Diagnostics on scratch VMs: the raw KVM baseline for `npm run bench`, and
// the probe of which debug mechanisms this host's KVM honours.
#include <napi.h>
#include <sys/ioctl.h>

#include <chrono>

#include "errors.h"
#include "guest/runtime.h"
#include "machine.h"
#include "scratch.h"

namespace torov {

// rawExitBenchmark(iterations) -> microseconds per exit of a guest at CPL 3
// looping on `out` to the hypercall port, with nothing done per exit but
// counting: the floor under every hypercall.
Napi::Value RawExitBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t iterations = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 20000;
  try {
    ScratchVm vm({0xe6, HC_PORT, 0xeb, 0xfc});  // loop: out HC_PORT, al; jmp loop
    for (int i = 0; i < 100; i++) vm.vcpu().RunOnce();  // page faults, first entry
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < iterations; i++)
      if (!vm.vcpu().RunOnce()) throw Error("EKVM", "the raw-exit guest stopped looping");
    const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
    return Napi::Number::New(env, took.count() / iterations);
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
}

// probeDebug() -> { guestDebugStep, debugRegisters }: does KVM single-step
// application code itself (KVM_SET_GUEST_DEBUG, as on VT-x/AMD-V), and do
// the guest's debug registers fire? PVM ignores both at CPL 3; there the
// debugger uses the trap flag and page protection instead.
Napi::Value ProbeDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // nop; nop; nop; out HC_PORT, al; jmp .-2
  const std::vector<uint8_t> code = {0x90, 0x90, 0x90, 0xe6, HC_PORT, 0xeb, 0xfc};
  Napi::Object out = Napi::Object::New(env);
  try {
    {
      ScratchVm vm(code);
      kvm_guest_debug dbg{};
      dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
      bool stepped = false;
      if (ioctl(vm.vcpu().fd(), KVM_SET_GUEST_DEBUG, &dbg) == 0) {
        ioctl(vm.vcpu().fd(), KVM_RUN, 0);
        const kvm_run* run = vm.vcpu().run();
        stepped = run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.pc == ScratchVm::kCode + 1;
      }
      out.Set("guestDebugStep", stepped);
    }
    {
      ScratchVm vm(code);
      kvm_debugregs dr{};
      dr.db[0] = ScratchVm::kCode + 2;  // execute breakpoint on the third nop
      dr.dr7 = 0x1 | (1u << 10);        // L0, and bit 10 (always 1)
      bool fired = false;
      if (ioctl(vm.vcpu().fd(), KVM_SET_DEBUGREGS, &dr) == 0) {
        ioctl(vm.vcpu().fd(), KVM_RUN, 0);
        const kvm_run* run = vm.vcpu().run();
        // A #DB reaches the runtime's handler, which exits on EXC_PORT.
        fired = run->exit_reason == KVM_EXIT_IO && run->io.port == EXC_PORT;
      }
      out.Set("debugRegisters", fired);
    }
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
  return out;
}

}  // namespace torov
