// Probes on scratch VMs: the raw KVM baseline for `npm run bench`, and what
// this host's KVM does for a debugger (which decides the debug mechanism).
#include <napi.h>
#include <sys/ioctl.h>

#include <chrono>
#include <cstring>
#include <string>
#include <mutex>

#include "debug.h"
#include "errors.h"
#include "kvm/runtime.h"
#include "binding.h"
#include "kvm/scratch.h"

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

namespace {

// One KVM_RUN of `code` under `dbg` (nullptr: no guest debugging) and, if
// given, guest debug registers `regs`; the exit it ended in.
const kvm_run* RunProbe(ScratchVm& vm, const kvm_guest_debug* dbg, const kvm_debugregs* regs) {
  const int fd = vm.vcpu().fd();
  if (dbg && ioctl(fd, KVM_SET_GUEST_DEBUG, dbg) < 0) return nullptr;
  if (regs && ioctl(fd, KVM_SET_DEBUGREGS, regs) < 0) return nullptr;
  if (ioctl(fd, KVM_RUN, 0) < 0) return nullptr;
  return vm.vcpu().run();
}

// Whether the run ended in the debug exit expected; `seen` says what it did.
bool DebugExitAt(const kvm_run* run, uint32_t exception, uint64_t pc, uint64_t dr6_bits, std::string* seen) {
  if (!run) {
    *seen = std::string("failed: ") + std::strerror(errno);
  } else if (run->exit_reason == KVM_EXIT_DEBUG) {
    *seen = "debug exit, exception " + std::to_string(run->debug.arch.exception) + " at " + Hex(run->debug.arch.pc) +
            ", dr6 " + Hex(run->debug.arch.dr6);
  } else if (run->exit_reason == KVM_EXIT_IO) {
    *seen = "port " + Hex(run->io.port) + " exit";
  } else {
    *seen = "exit " + std::to_string(run->exit_reason);
  }
  return run && run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == exception &&
         run->debug.arch.pc == pc && (run->debug.arch.dr6 & dr6_bits) == dr6_bits;
}

DebugSupport Probe() {
  DebugSupport s;
  constexpr uint64_t kCode = ScratchVm::kCode;
  // nop; nop; nop; out HC_PORT, al; jmp .-2
  const std::vector<uint8_t> nops = {0x90, 0x90, 0x90, 0xe6, HC_PORT, 0xeb, 0xfc};
  constexpr uint32_t kDrFixed = 1u << 10;
  {
    ScratchVm vm(nops);
    kvm_guest_debug dbg{};
    dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
    s.kvm_step = DebugExitAt(RunProbe(vm, &dbg, nullptr), 1, kCode + 1, 1u << 14, &s.seen[0]);  // DR6.BS
  }
  {
    ScratchVm vm({0x90, 0xcc, 0xe6, HC_PORT, 0xeb, 0xfc});  // nop; int3; out; jmp
    kvm_guest_debug dbg{};
    dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
    s.kvm_sw_breakpoints = DebugExitAt(RunProbe(vm, &dbg, nullptr), 3, kCode + 1, 0, &s.seen[1]);
  }
  {
    ScratchVm vm(nops);
    kvm_guest_debug dbg{};
    dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    dbg.arch.debugreg[0] = kCode + 2;  // execute, the third nop
    dbg.arch.debugreg[7] = kDrFixed | 0x1;
    s.kvm_hw_breakpoints = DebugExitAt(RunProbe(vm, &dbg, nullptr), 1, kCode + 2, 0x1, &s.seen[2]);
  }
  {
    // mov [rsp-8], rax; nop; out HC_PORT, al; jmp .-2
    ScratchVm vm({0x48, 0x89, 0x44, 0x24, 0xf8, 0x90, 0xe6, HC_PORT, 0xeb, 0xfc});
    kvm_guest_debug dbg{};
    dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    dbg.arch.debugreg[1] = ScratchVm::kStack - 8;
    dbg.arch.debugreg[7] = kDrFixed | (1u << 2) | (0x1u << 20) | (0x2u << 22);  // L1, write, 8 bytes
    s.kvm_watchpoints = DebugExitAt(RunProbe(vm, &dbg, nullptr), 1, kCode + 5, 0x2, &s.seen[3]);
  }
  {
    ScratchVm vm(nops);
    kvm_debugregs dr{};
    dr.db[0] = kCode + 2;
    dr.dr7 = kDrFixed | 0x1;
    const kvm_run* run = RunProbe(vm, nullptr, &dr);
    // A #DB reaches the runtime's handler, which exits on EXC_PORT.
    s.guest_debug_registers = run && run->exit_reason == KVM_EXIT_IO && run->io.port == EXC_PORT;
  }
  return s;
}

}  // namespace

const DebugSupport& ProbeDebugSupport() {
  // Not std::call_once: a probe that throws (no KVM) is tried again next time.
  static std::mutex mutex;
  static bool done = false;
  static DebugSupport support;
  std::lock_guard<std::mutex> lock(mutex);
  if (!done) {
    support = Probe();
    done = true;
  }
  return support;
}

// The features that use KVM's help, for JavaScript.
Napi::Object MechanismsToJs(Napi::Env env, const DebugMechanisms& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kvmStep", m.kvm_step);
  o.Set("kvmInt3", m.kvm_int3);
  o.Set("debugRegisters", m.debug_registers);
  return o;
}

// probeDebug() -> what ProbeDebugSupport() found, what each probe's run
// ended in, and the mechanisms the debugger uses here.
Napi::Value ProbeDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const DebugSupport& s = ProbeDebugSupport();
    Napi::Object out = Napi::Object::New(env);
    out.Set("kvmStep", s.kvm_step);
    out.Set("kvmSwBreakpoints", s.kvm_sw_breakpoints);
    out.Set("kvmHwBreakpoints", s.kvm_hw_breakpoints);
    out.Set("kvmWatchpoints", s.kvm_watchpoints);
    out.Set("guestDebugRegisters", s.guest_debug_registers);
    out.Set("mechanisms", MechanismsToJs(env, s.mechanisms()));
    Napi::Array seen = Napi::Array::New(env);
    for (uint32_t i = 0; i < 4; i++) seen.Set(i, s.seen[i]);
    out.Set("seen", seen);
    return out;
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
}

// planDebugRegisters(breaks: bigint[], watches: {addr: bigint, len, kind}[])
// -> {used, dr7: bigint, slots: [{addr: bigint, watch}]}, or null when they
// do not fit: what the debugger loads into the debug registers, for tests.
Napi::Value PlanDebugRegistersJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto u64 = [&](Napi::Value v) {
    if (!v.IsBigInt()) throw Napi::TypeError::New(env, "Expected planDebugRegisters(breaks: bigint[], watches: {addr: bigint, len: number, kind: \"w\"|\"r\"|\"a\"}[])");
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  };
  if (!info[0].IsArray() || !info[1].IsArray()) u64(env.Undefined());
  std::vector<uint64_t> breaks;
  const Napi::Array b = info[0].As<Napi::Array>(), w = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < b.Length(); i++) breaks.push_back(u64(b.Get(i)));
  std::vector<Watch> watches;
  for (uint32_t i = 0; i < w.Length(); i++) {
    if (!w.Get(i).IsObject()) u64(env.Undefined());
    const Napi::Object o = w.Get(i).As<Napi::Object>();
    const std::string kind = o.Get("kind").ToString().Utf8Value();
    const Napi::Value len = o.Get("len");
    if (!len.IsNumber() || len.As<Napi::Number>().Int64Value() <= 0 || kind.size() != 1 || std::string("wra").find(kind) == std::string::npos)
      u64(env.Undefined());
    watches.push_back(Watch{u64(o.Get("addr")), static_cast<uint64_t>(len.As<Napi::Number>().Int64Value()), kind[0]});
  }
  DebugRegisterPlan plan;
  if (!PlanDebugRegisters(breaks, watches, &plan)) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("used", plan.used);
  out.Set("dr7", Napi::BigInt::New(env, plan.dr7));
  Napi::Array slots = Napi::Array::New(env);
  for (int i = 0; i < plan.used; i++) {
    Napi::Object slot = Napi::Object::New(env);
    slot.Set("addr", Napi::BigInt::New(env, plan.slot[i].addr));
    slot.Set("watch", plan.slot[i].watch);
    slots.Set(i, slot);
  }
  out.Set("slots", slots);
  return out;
}

}  // namespace torov
