// Module entry: the NativeMachine class and what src/vmm/native.ts needs besides.
#include <napi.h>

#include <sys/random.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cstring>

#include "errors.h"
#include "hypercalls/hypercalls.h"
#include "kvm/kvm.h"
#include "binding.h"
#include "paths.h"
#include "seccomp.h"

#include <fcntl.h>

namespace torov {

Napi::Value RawExitBenchmark(const Napi::CallbackInfo& info);  // probes.cc
Napi::Value ProbeDebug(const Napi::CallbackInfo& info);        // probes.cc
Napi::Value PlanDebugRegistersJs(const Napi::CallbackInfo& info);  // probes.cc

// probeSeccomp(filter, calls): installs the filter (src/vmm/seccomp.ts's
// rules) on a scratch thread and makes each call there: { nr, args }, an
// argument being a number or bigint, a slot name ("vm", "root", "pid"...),
// "other" (an fd no rule names), { str } (a pointer to that C string),
// { bytes } (to a copy of them) or { buf: n } (to n zero bytes). Returns
// { installed: "" or why not, results: return value or -errno per call }.
Napi::Value ProbeSeccompJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "Expected probeSeccomp(filter, calls)");
  const std::vector<FilterRule> rules = FilterRulesFromJs(info[0]);
  std::vector<ProbeCall> calls;
  Napi::Array list = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    if (!list.Get(i).IsObject()) throw Napi::TypeError::New(env, "Expected a call to be { nr, args }");
    Napi::Object c = list.Get(i).As<Napi::Object>();
    ProbeCall call;
    call.nr = c.Get("nr").ToNumber().Int64Value();
    Napi::Value args = c.Get("args");
    if (!args.IsArray() || args.As<Napi::Array>().Length() > 6) throw Napi::TypeError::New(env, "Expected a call's args to be up to 6 values");
    for (uint32_t j = 0; j < args.As<Napi::Array>().Length(); j++) {
      Napi::Value v = args.As<Napi::Array>().Get(j);
      ProbeArg a;
      if (v.IsNumber()) {
        a.number = static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
      } else if (v.IsBigInt()) {
        bool lossless;
        a.number = v.As<Napi::BigInt>().Uint64Value(&lossless);
      } else if (v.IsString()) {
        const std::string name = v.As<Napi::String>().Utf8Value();
        if (name == "other") {
          a.kind = ProbeArg::kOther;
        } else {
          a.kind = ProbeArg::kSlot;
          if (!FilterSlotFromName(name, &a.slot)) throw Napi::TypeError::New(env, "Unknown filter slot " + name);
        }
      } else if (v.IsObject()) {
        Napi::Object o = v.As<Napi::Object>();
        a.kind = ProbeArg::kBytes;
        if (o.Get("str").IsString()) {
          const std::string s = o.Get("str").As<Napi::String>().Utf8Value();
          a.bytes.assign(s.begin(), s.end());
          a.bytes.push_back(0);
        } else if (o.Get("bytes").IsTypedArray()) {
          Napi::Uint8Array b = o.Get("bytes").As<Napi::Uint8Array>();
          a.bytes.assign(b.Data(), b.Data() + b.ByteLength());
        } else if (o.Get("buf").IsNumber()) {
          a.bytes.assign(std::min<int64_t>(o.Get("buf").As<Napi::Number>().Int64Value(), 1 << 20), 0);
        } else {
          throw Napi::TypeError::New(env, "Expected a pointer argument to be { str }, { bytes } or { buf }");
        }
      } else {
        throw Napi::TypeError::New(env, "Unexpected probe argument");
      }
      call.args.push_back(std::move(a));
    }
    calls.push_back(std::move(call));
  }
  const SeccompProbe p = ProbeSeccomp(rules, calls);
  Napi::Object o = Napi::Object::New(env);
  o.Set("installed", p.installed);
  Napi::Array results = Napi::Array::New(env, p.results.size());
  for (size_t i = 0; i < p.results.size(); i++) results.Set(static_cast<uint32_t>(i), static_cast<double>(p.results[i]));
  o.Set("results", results);
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

// The requests a vCPU thread makes on its vCPU (src/vmm/seccomp.ts).
Napi::Value VcpuRequestsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (unsigned long r : VcpuRequests()) out.Set(n++, static_cast<double>(r));
  return out;
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
    // O_NONBLOCK: a FIFO there does not wait for a writer.
    return Napi::Number::New(env, paths.Open(path, O_RDONLY | O_NONBLOCK, 0));
  } catch (const Error& e) {
    return Napi::Number::New(env, -ENOENT);
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeMachine", NativeMachine::Define(env));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("kvmInfo", Napi::Function::New(env, KvmInfo));
  exports.Set("implementedHypercalls", Napi::Function::New(env, ImplementedHypercalls));
  exports.Set("vcpuRequests", Napi::Function::New(env, VcpuRequestsJs));
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
