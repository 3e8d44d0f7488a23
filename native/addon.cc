// Module entry: the Machine class and what src/vmm/native.ts needs besides.
#include <napi.h>

#include <sys/syscall.h>

#include "errors.h"
#include "hypercalls/hypercalls.h"
#include "kvm.h"
#include "machine.h"

namespace torov {

namespace {

// setErrorClass(TorovError): native errors become instances of it.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "Expected first argument to be a class");
  auto* ref = new Napi::FunctionReference(Napi::Persistent(info[0].As<Napi::Function>()));
  info.Env().SetInstanceData<Napi::FunctionReference>(ref);
  return info.Env().Undefined();
}

// What this host's KVM offers (for `torov doctor` and the debugger).
Napi::Value KvmInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const KvmCaps& c = Kvm::Get().caps();
    Napi::Object o = Napi::Object::New(env);
    o.Set("flavour", c.flavour);
    o.Set("syncRegs", c.sync_regs);
    o.Set("immediateExit", c.immediate_exit);
    o.Set("guestDebug", c.guest_debug);
    o.Set("debugRegs", c.debugregs);
    o.Set("hwBreakpoints", c.hw_breakpoints);
    o.Set("cpuidEntries", static_cast<double>(c.cpuid.size()));
    return o;
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
}

// The Linux numbers that have a handler (a consistency check for the
// hypercall table in src/vmm/hypercalls.ts).
Napi::Value ImplementedHypercalls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  const HypercallTable& t = Hypercalls();
  for (int nr = 0; nr < kMaxHypercall; nr++)
    if (t.handlers[nr]) out.Set(n++, nr);
  return out;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Machine", Machine::Define(env));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("kvmInfo", Napi::Function::New(env, KvmInfo));
  exports.Set("implementedHypercalls", Napi::Function::New(env, ImplementedHypercalls));
  return exports;
}

}  // namespace torov

static Napi::Object InitTorov(Napi::Env env, Napi::Object exports) { return torov::Init(env, exports); }

NODE_API_MODULE(torov, InitTorov)
