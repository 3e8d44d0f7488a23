// Module entry: the Machine class and what src/vmm/native.ts needs besides.
#include <napi.h>

#include <sys/random.h>
#include <sys/syscall.h>

#include <cstring>

#include "errors.h"
#include "hypercalls/hypercalls.h"
#include "kvm.h"
#include "machine.h"
#include "paths.h"
#include "seccomp.h"

#include <fcntl.h>

namespace torov {

Napi::Value RawExitBenchmark(const Napi::CallbackInfo& info);  // probes.cc
Napi::Value ProbeDebug(const Napi::CallbackInfo& info);        // probes.cc
Napi::Value PlanDebugRegistersJs(const Napi::CallbackInfo& info);  // probes.cc

// probeSeccomp(admitted: number[]): what a thread filtered to `admitted`
// gets for calls it may and may not make (errno values, 0 for success).
Napi::Value ProbeSeccompJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "Expected probeSeccomp(syscalls)");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<int> syscalls;
  for (uint32_t i = 0; i < list.Length(); i++) syscalls.push_back(list.Get(i).As<Napi::Number>().Int32Value());
  const SeccompProbe p = ProbeSeccomp(syscalls);
  Napi::Object o = Napi::Object::New(env);
  o.Set("installed", p.installed);
  o.Set("socket", p.socket_errno);
  o.Set("open", p.open_errno);
  o.Set("ioctl", p.ioctl_errno);
  o.Set("getpid", p.getpid_errno);
  o.Set("tcgets", p.tcgets_errno);
  return o;
}

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
    o.Set("hypervisor", c.hypervisor);
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

// getRandom(Uint8Array): fills it from the kernel (AT_RANDOM), without
// loading Node's crypto module at start-up.
Napi::Value GetRandom(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "Expected first argument to be a Uint8Array");
  Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
  size_t done = 0;
  while (done < buf.ByteLength()) {
    ssize_t n = getrandom(buf.Data() + done, buf.ByteLength() - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ToJsError(info.Env(), "EKVM", std::string("getrandom: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return info[0];
}

// openInRoot(root, path): a read-only host fd for `path` resolved inside
// `root` exactly as the guest's own paths are (RESOLVE_IN_ROOT), or -errno.
// The debugger reads the guest's files through it (vFile).
Napi::Value OpenInRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) throw Napi::TypeError::New(env, "Expected openInRoot(root, path)");
  try {
    Paths paths(info[0].As<Napi::String>().Utf8Value());
    std::string path = info[1].As<Napi::String>().Utf8Value();
    if (path.empty() || path[0] != '/') path = "/" + path;
    return Napi::Number::New(env, paths.Open(path, O_RDONLY, 0));
  } catch (const Error& e) {
    return Napi::Number::New(env, -ENOENT);
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Machine", Machine::Define(env));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("kvmInfo", Napi::Function::New(env, KvmInfo));
  exports.Set("implementedHypercalls", Napi::Function::New(env, ImplementedHypercalls));
  exports.Set("getRandom", Napi::Function::New(env, GetRandom));
  exports.Set("rawExitBenchmark", Napi::Function::New(env, RawExitBenchmark));
  exports.Set("openInRoot", Napi::Function::New(env, OpenInRoot));
  exports.Set("probeDebug", Napi::Function::New(env, ProbeDebug));
  exports.Set("planDebugRegisters", Napi::Function::New(env, PlanDebugRegistersJs));
  exports.Set("probeSeccomp", Napi::Function::New(env, ProbeSeccompJs));
  return exports;
}

}  // namespace torov

static Napi::Object InitTorov(Napi::Env env, Napi::Object exports) { return torov::Init(env, exports); }

NODE_API_MODULE(torov, InitTorov)
