#include "binding.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>

#include "errors.h"
#include "kvm/runtime.h"
#include "kvm/kvm.h"
#include "privileges.h"
#include "seccomp.h"
#include "snapshot.h"

extern "C" const uint8_t torov_runtime_image[];
extern "C" const uint8_t torov_runtime_image_end[];

namespace torov {

namespace {

std::string StringField(const Napi::Object& o, const char* key, bool required = true) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return {};
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("Expected config.") + key + " to be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool BoolField(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) throw Napi::TypeError::New(o.Env(), std::string("Expected config.") + key + " to be a boolean");
  return v.As<Napi::Boolean>().Value();
}

uint64_t U64(const Napi::Value& v, const char* what) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0) return static_cast<uint64_t>(d);
  }
  throw Napi::TypeError::New(v.Env(), std::string("Expected ") + what + " to be a non-negative integer or bigint");
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

// A set of syscall numbers as src/vmm/syscall-set.ts builds it: a Uint8Array
// of SyscallSet::kBytes bytes. `what` names it in the error.
SyscallSet SyscallSetFromJs(const Napi::Value& v, const char* what) {
  SyscallSet set;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      !set.Assign(v.As<Napi::Uint8Array>().Data(), v.As<Napi::Uint8Array>().ElementLength()))
    throw Napi::TypeError::New(v.Env(), std::string("Expected ") + what + " to be a Uint8Array bitmap of " +
                                            std::to_string(SyscallSet::kBytes) + " bytes");
  return set;
}

Napi::Object ResultToJs(Napi::Env env, const RunResult& r, const Process& g) {
  static const char* const kinds[] = {"exited", "signaled", "fault", "killed", "error"};
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", kinds[r.kind]);
  o.Set("status", r.status);
  o.Set("signal", r.signal);
  o.Set("message", r.message);
  o.Set("tid", r.tid);
  o.Set("deniedCount", static_cast<double>(g.denied_count.load()));
  if (g.denied_nr >= 0) o.Set("deniedNr", g.denied_nr.load());
  if (r.kind == RunResult::kFault) {
    o.Set("vector", r.vector);
    o.Set("errorCode", static_cast<double>(r.error_code));
    o.Set("address", Big(env, r.address));
    o.Set("regs", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&r.regs), sizeof r.regs));
  }
  return o;
}

}  // namespace

Napi::Error ToJsError(Napi::Env env, const std::string& code, const std::string& message) {
  auto* ctor = env.GetInstanceData<Napi::FunctionReference>();
  if (ctor && !ctor->IsEmpty()) {
    Napi::Object err = ctor->New({Napi::String::New(env, message), Napi::String::New(env, code)});
    return Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", code);
  return err;
}

Napi::Function NativeMachine::Define(Napi::Env env) {
  return DefineClass(env, "NativeMachine",
                     {
                         InstanceAccessor<&NativeMachine::Memory>("memory"),
                         InstanceAccessor<&NativeMachine::AppLow>("appLow"),
                         InstanceAccessor<&NativeMachine::AppHigh>("appHigh"),
                         InstanceAccessor<&NativeMachine::Pid>("pid"),
                         InstanceMethod<&NativeMachine::AddMapping>("addMapping"),
                         InstanceMethod<&NativeMachine::Write>("write"),
                         InstanceMethod<&NativeMachine::Fill>("fill"),
                         InstanceMethod<&NativeMachine::OpenGuestFile>("openGuestFile"),
                         InstanceMethod<&NativeMachine::SnapshotProgram>("snapshotProgram"),
                         InstanceMethod<&NativeMachine::MapProgram>("mapProgram"),
                         InstanceMethod<&NativeMachine::CopyProgram>("copyProgram"),
                         InstanceMethod<&NativeMachine::SetBrk>("setBrk"),
                         InstanceMethod<&NativeMachine::SetMmapTop>("setMmapTop"),
                         InstanceMethod<&NativeMachine::Mappings>("mappings"),
                         InstanceMethod<&NativeMachine::Start>("start"),
                         InstanceMethod<&NativeMachine::Kill>("kill"),
                         InstanceMethod<&NativeMachine::HypercallCounts>("hypercallCounts"),
                         InstanceMethod<&NativeMachine::DebugAttach>("debugAttach"),
                         InstanceMethod<&NativeMachine::DebugState>("debugState"),
                         InstanceMethod<&NativeMachine::DebugSetRegisters>("debugSetRegisters"),
                         InstanceMethod<&NativeMachine::DebugResume>("debugResume"),
                         InstanceMethod<&NativeMachine::DebugDetach>("debugDetach"),
                         InstanceMethod<&NativeMachine::DebugInterrupt>("debugInterrupt"),
                         InstanceMethod<&NativeMachine::DebugRead>("debugRead"),
                         InstanceMethod<&NativeMachine::DebugWrite>("debugWrite"),
                         InstanceMethod<&NativeMachine::DebugSoftBreak>("debugSoftBreak"),
                         InstanceMethod<&NativeMachine::DebugWatch>("debugWatch"),
                         InstanceMethod<&NativeMachine::DebugHwBreak>("debugHwBreak"),
                         InstanceMethod<&NativeMachine::DebugCatchSyscalls>("debugCatchSyscalls"),
                         InstanceMethod<&NativeMachine::DebugStopOnDenied>("debugStopOnDenied"),
                         InstanceMethod<&NativeMachine::DebugPassSignals>("debugPassSignals"),
                         InstanceMethod<&NativeMachine::NeededHypercalls>("neededHypercalls"),
                         InstanceMethod<&NativeMachine::Containment>("containment"),
                         InstanceMethod<&NativeMachine::MountsMadeBy>("mountsMadeBy"),
                         InstanceMethod<&NativeMachine::TraceConfigure>("traceConfigure"),
                         InstanceMethod<&NativeMachine::TraceEnable>("traceEnable"),
                         InstanceMethod<&NativeMachine::TraceTake>("traceTake"),
                         InstanceMethod<&NativeMachine::TraceCounts>("traceCounts"),
                     });
}

NativeMachine::NativeMachine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMachine>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "Expected first argument to be a config object");
  Napi::Object cfg = info[0].As<Napi::Object>();
  GuestConfig config;
  config.memory_bytes = U64(cfg.Get("memory"), "config.memory");
  config.root = StringField(cfg, "root", false);
  Napi::Value mounts = cfg.Get("mounts");
  if (!mounts.IsUndefined()) {
    if (!mounts.IsArray()) throw Napi::TypeError::New(env, "Expected config.mounts to be an array");
    Napi::Array list = mounts.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      if (!list.Get(i).IsObject()) throw Napi::TypeError::New(env, "Expected config.mounts to hold objects");
      Napi::Object m = list.Get(i).As<Napi::Object>();
      MountConfig mount;
      mount.source = StringField(m, "source");
      mount.target = StringField(m, "target");
      mount.read_only = BoolField(m, "readOnly");
      if (mount.target.empty() || mount.target[0] != '/' || mount.target == "/")
        throw Napi::TypeError::New(env, "Expected a mount's target to be an absolute path other than /");
      config.mounts.push_back(std::move(mount));
    }
  }
  config.exe = StringField(cfg, "exe");
  config.exe_name = StringField(cfg, "exeName");
  config.newpid = BoolField(cfg, "newpid");
  config.flat = BoolField(cfg, "flat");
  const std::string on_denied = StringField(cfg, "onDenied", false);
  if (on_denied == "kill") config.on_denied = OnDenied::kKill;
  else if (on_denied.empty() || on_denied == "errno") config.on_denied = OnDenied::kErrno;
  else throw Napi::TypeError::New(env, "Expected config.onDenied to be \"errno\" or \"kill\"");
  Napi::Value stdio = cfg.Get("stdio");
  if (!stdio.IsUndefined()) {
    if (!stdio.IsArray() || stdio.As<Napi::Array>().Length() != 3)
      throw Napi::TypeError::New(env, "Expected config.stdio to be an array of 3 fds");
    for (uint32_t i = 0; i < 3; i++) {
      Napi::Value fd = stdio.As<Napi::Array>().Get(i);
      if (!fd.IsNumber()) throw Napi::TypeError::New(env, "Expected config.stdio to hold fd numbers");
      config.stdio[i] = fd.As<Napi::Number>().Int32Value();
    }
  }
  Napi::Value filter = cfg.Get("hostFilter");
  if (!filter.IsUndefined()) {
    filter_ = FilterRulesFromJs(filter);
    use_seccomp_ = true;
  }
  config.allowed = SyscallSetFromJs(cfg.Get("allowed"), "config.allowed");
  const bool user_slots = BoolField(cfg, "userSlots");
  int process_limit = 64;
  if (Napi::Value limit = cfg.Get("processes"); !limit.IsUndefined()) {
    if (!limit.IsNumber() || limit.As<Napi::Number>().Int32Value() < 1)
      throw Napi::TypeError::New(env, "Expected config.processes to be a positive number");
    process_limit = limit.As<Napi::Number>().Int32Value();
  }

  try {
    Kvm& kvm = Kvm::Get();
    vm_ = kvm.CreateVm();
    config.user_slots = kvm.caps().user_mode_syscall || user_slots;
    process_ = std::make_shared<Process>(config);
    const size_t image = static_cast<size_t>(torov_runtime_image_end - torov_runtime_image);
    std::memcpy(process_->ram.Phys(RT_BASE, image), torov_runtime_image, image);
    if (config.flat) {
      // ToroV's flat programs make hypercalls with `out` on ports of their
      // choosing: open all 256 to user mode but the runtime's exception port.
      // (Not IOPL 3: PVM forces IOPL 0 in user mode; the bitmap works on both.)
      for (int n = 0; n < RT_MAX_VCPUS; n++) {
        uint8_t* bitmap = process_->ram.Phys(RT_TSS(n) + RT_TSS_IOMAP, RT_TSS_IOPORTS / 8);
        std::memset(bitmap, 0, RT_TSS_IOPORTS / 8);
        bitmap[EXC_PORT / 8] |= static_cast<uint8_t>(1u << (EXC_PORT % 8));
      }
    }
    if (!SetGuestMemory(vm_.get(), process_->ram.base(), process_->ram.size()))
      throw SystemError("EKVM", "KVM_SET_USER_MEMORY_REGION");
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
  tracer_ = std::make_unique<Tracer>();
  KickSignal();
  try {
    guest_ = std::make_unique<Guest>(process_limit, tracer_.get());
    threads_ = std::make_unique<Threads>(*process_, vm_.get(), tracer_.get());
    guest_->AddFirst(*process_, *threads_);
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
  thread_ = std::thread([this] { Body(); });
}

NativeMachine::~NativeMachine() {
  if (!thread_.joinable()) {
    JoinThreads();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (launch_ == Launch::kWait) launch_ = Launch::kAbandon;
  }
  changed_.notify_all();
  if (started_ && vcpu_) RequestStop(Process::kKill);
  GiveOrder(Order{OrderKind::kKill});
  tracer_->Close();
  JoinThreads();
}

void NativeMachine::JoinThreads() {
  if (thread_.joinable()) thread_.join();
  threads_->Shutdown();
}

void NativeMachine::RequestStop(Process::StopRequest why) {
  // TOROV_FAULT_LOSE_KICK=1 (for the tests): the first kick is never sent,
  // as if it had come just before a wait; the threads' service thread must
  // make up for it (native/threads.h).
  const bool lose_kick = getenv("TOROV_FAULT_LOSE_KICK") != nullptr;
  threads_->RequestStop(why, lose_kick);
}

Napi::Value NativeMachine::Memory(const Napi::CallbackInfo& info) {
  if (memory_.IsEmpty()) {
    // Guest RAM as an external ArrayBuffer; it keeps the guest alive for as
    // long as JavaScript holds it.
    auto* keep = new std::shared_ptr<Process>(process_);
    Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(
        info.Env(), process_->ram.base(), process_->ram.size(),
        [](Napi::Env, void*, std::shared_ptr<Process>* hint) { delete hint; }, keep);
    memory_ = Napi::Persistent(buf);
  }
  return memory_.Value();
}

// write(addr, bytes): the loader's way into guest RAM, bounds-checked.
Napi::Value NativeMachine::Write(const Napi::CallbackInfo& info) {
  const uint64_t addr = U64(info[0], "address");
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "Expected write(address, Uint8Array)");
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  uint8_t* dst = process_->ram.Phys(addr, bytes.ByteLength());
  if (!dst || addr < RT_LIMIT)
    throw Napi::RangeError::New(info.Env(), "write: " + Hex(addr) + "+" + std::to_string(bytes.ByteLength()) +
                                                " is outside the application's memory");
  std::memcpy(dst, bytes.Data(), bytes.ByteLength());
  return info.Env().Undefined();
}

// openGuestFile(path): the loader's way to a file in what the guest sees
// (a program's interpreter), resolved as the guest's own open(path,
// O_RDONLY) would be, from "/". Returns a host fd, read-only and
// close-on-exec, that the caller closes; or -errno. O_NONBLOCK: a FIFO
// does not wait for a writer (the caller refuses what is not a file).
Napi::Value NativeMachine::OpenGuestFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Not while the vCPU thread confines Paths (Confine replaces its fds):
  // that thread starts with the machine and confines itself at once, so
  // wait until it has (TSan found the loader's lookup racing Confine).
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return setup_done_; });
  }
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "Expected openGuestFile(path)");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string abs;
  int r = process_->paths.Join(process_->fds, AT_FDCWD, path, &abs);
  if (r == 0) r = process_->paths.Open(abs, O_RDONLY | O_NONBLOCK, 0);
  return Napi::Number::New(env, r);
}

// snapshotProgram(fd, ranges): the loader's copy of the program's
// segments (native/snapshot.h); `ranges` are file offsets, [start, end)
// pairs. What the guest's memory maps and copies from then on.
Napi::Value NativeMachine::SnapshotProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started_) throw Napi::Error::New(env, "snapshotProgram: the machine has started");
  const int fd = static_cast<int>(U64(info[0], "fd"));
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "Expected snapshotProgram(fd, ranges)");
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<FileSnapshot::Range> ranges;
  for (uint32_t i = 0; i + 1 < list.Length(); i += 2)
    ranges.push_back({U64(list.Get(i), "range start"), U64(list.Get(i + 1), "range end")});
  try {
    process_->ram.SetProgram(FileSnapshot::Take(fd, std::move(ranges)));
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
  return env.Undefined();
}

// mapProgram(addr, length, offset): maps pages of the program's copy
// copy-on-write. false: the caller copies instead.
Napi::Value NativeMachine::MapProgram(const Napi::CallbackInfo& info) {
  if (started_) throw Napi::Error::New(info.Env(), "mapProgram: the machine has started");
  const uint64_t addr = U64(info[0], "address"), len = U64(info[1], "length");
  const uint64_t offset = U64(info[2], "offset");
  if (addr < RT_LIMIT || addr > process_->mm.app_high() || len > process_->mm.app_high() - addr) return Napi::Boolean::New(info.Env(), false);
  return Napi::Boolean::New(info.Env(), process_->ram.MapProgram(addr, len, offset));
}

// copyProgram(addr, offset, length): bytes of the program's copy into guest RAM.
Napi::Value NativeMachine::CopyProgram(const Napi::CallbackInfo& info) {
  const uint64_t addr = U64(info[0], "address"), offset = U64(info[1], "offset"), len = U64(info[2], "length");
  if (!process_->ram.Phys(addr, len) || addr < RT_LIMIT || !process_->ram.CopyProgram(addr, offset, len))
    throw Napi::RangeError::New(info.Env(), "copyProgram: " + Hex(addr) + "+" + std::to_string(len) + " from offset " +
                                                std::to_string(offset) + " is outside the application's memory or the program");
  return info.Env().Undefined();
}

// fill(addr, length, byte)
Napi::Value NativeMachine::Fill(const Napi::CallbackInfo& info) {
  const uint64_t addr = U64(info[0], "address"), len = U64(info[1], "length");
  const int byte = static_cast<int>(U64(info[2], "byte"));
  uint8_t* dst = process_->ram.Phys(addr, len);
  if (!dst || addr < RT_LIMIT)
    throw Napi::RangeError::New(info.Env(), "fill: " + Hex(addr) + "+" + std::to_string(len) + " is outside the application's memory");
  std::memset(dst, byte, len);
  return info.Env().Undefined();
}
Napi::Value NativeMachine::AppLow(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(process_->mm.app_low()));
}
// The guest's pid (its main thread's tid): the host's, or 1 with Newpid.
Napi::Value NativeMachine::Pid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), process_->pid);
}
Napi::Value NativeMachine::AppHigh(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(process_->mm.app_high()));
}

Napi::Value NativeMachine::AddMapping(const Napi::CallbackInfo& info) {
  if (started_) throw Napi::Error::New(info.Env(), "addMapping: the machine has started");
  const uint64_t start = U64(info[0], "start"), end = U64(info[1], "end");
  const int prot = static_cast<int>(U64(info[2], "prot"));
  const std::string kind = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  VmaKind k = VmaKind::kAnon;
  if (kind == "image") k = VmaKind::kImage;
  else if (kind == "stack") k = VmaKind::kStack;
  else if (kind == "heap") k = VmaKind::kBrk;
  const std::string name = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "";
  return Napi::Boolean::New(info.Env(), process_->mm.AddMapping(start, end, prot, k, name));
}

Napi::Value NativeMachine::SetBrk(const Napi::CallbackInfo& info) {
  process_->mm.SetBrk(U64(info[0], "brk"));
  return info.Env().Undefined();
}

Napi::Value NativeMachine::SetMmapTop(const Napi::CallbackInfo& info) {
  process_->mm.set_mmap_top(U64(info[0], "mmap top"));
  return info.Env().Undefined();
}

Napi::Value NativeMachine::Mappings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const Vma& v : process_->mm.vmas()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("start", Big(env, v.start));
    o.Set("end", Big(env, v.end));
    o.Set("prot", v.prot);
    o.Set("kind", VmaKindName(v.kind));
    o.Set("name", v.name);
    out.Set(i++, o);
  }
  return out;
}

Napi::Value NativeMachine::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started_) throw Napi::Error::New(env, "start: the machine has already started");
  if (!info[0].IsObject() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "Expected start({ rip, rsp }, callback)");
  Napi::Object init_js = info[0].As<Napi::Object>();
  InitialState init;
  init.rip = U64(init_js.Get("rip"), "rip");
  init.rsp = U64(init_js.Get("rsp"), "rsp");
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [this] { return setup_done_; });
    if (!setup_code_.empty()) throw ToJsError(env, setup_code_, setup_message_);
  }
  started_ = true;
  Ref();  // alive until the run is reported, even if JavaScript drops it
  done_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "torov-vcpu", 0, 1,
                                        [this](Napi::Env) {
                                          JoinThreads();
                                          Unref();
                                        });
  {
    std::lock_guard<std::mutex> lock(mutex_);
    init_ = init;
    launch_ = Launch::kGo;
  }
  changed_.notify_all();
  return env.Undefined();
}

void NativeMachine::Body() {
  // Signals for the process are Node's business; this thread takes only the
  // kick (Kill, a debugger's interrupt) and its own synchronous faults.
  sigset_t set;
  sigfillset(&set);
  for (int s : {KickSignal(), SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&set, s);
  pthread_sigmask(SIG_SETMASK, &set, nullptr);
  std::string code, message;
  try {
    // Its own fs context: the guest's umask (and, when privileged, its root)
    // belong to this thread only.
    // The guest's other threads share it: each is started by another.
    if (unshare(CLONE_FS) < 0) throw SystemError("EKVM", "unshare(CLONE_FS) for the vCPU thread");
    vcpu_ = &threads_->CreateMain();
    vcpu_->Setup();
  } catch (const Error& e) {
    code = e.code();
    message = e.what();
  }
  // Named so that top -H, /proc and gdb on the monitor tell it apart.
  pthread_setname_np(pthread_self(), "torov-vcpu");
  // Before the guest can run (and while JavaScript loads the program): this
  // thread leaves the host's view of the file system (when it may) and
  // limits its own host syscalls. All it does from here on is KVM ioctls on
  // its own fds, waiting, and the hypercalls.
  std::string chroot_status = process_->paths.Confine();
  // Then it gives up root's powers: from here on it may do for the guest
  // only what an ordinary user may (no chown to others, no set-ID files, no
  // raw sockets, no reading files it has no permission for).
  std::string privileges_status = DropCapabilities(process_->paths.root_fd());
  process_->sockets_of_root = setfsuid(-1) == 0;
  std::string seccomp_status = "not asked for";
  if (use_seccomp_ && !vcpu_) seccomp_status = "no vCPU";
  if (use_seccomp_ && vcpu_) {
    const Paths& paths = process_->paths;
    FilterContext ctx;
    ctx.vm = vm_.get();
    ctx.vcpu = vcpu_->fd();
    ctx.root = paths.root_fd();
    ctx.dev = paths.dev_fd();
    ctx.exe = paths.exe_dir_fd();
    ctx.proc_fds = paths.proc_fds_fd();
    ctx.mounts = paths.mount_fds();
    seccomp_status = InstallSeccomp(filter_, ctx);
  }
  InitialState init;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    chroot_status_ = std::move(chroot_status);
    privileges_status_ = std::move(privileges_status);
    seccomp_status_ = std::move(seccomp_status);
    contained_ = true;
    setup_done_ = true;
    setup_code_ = code;
    setup_message_ = message;
    changed_.notify_all();
    changed_.wait(lock, [this] { return launch_ != Launch::kWait; });
    if (launch_ == Launch::kAbandon || !code.empty()) return;
    init = init_;
  }
  RunResult result;
  try {
    vcpu_->SetEntry(init);
    if (debug_) {
      threads_->EnableDebug(debug_.get(), debug_mechanisms_, [this] {
        stops_.BlockingCall([](Napi::Env, Napi::Function onStop) { onStop.Call({}); });
      });
    }
    result = threads_->RunMain();
  } catch (const Error& e) {
    result.kind = RunResult::kError;
    result.message = e.what();
  }
  // The first process has ended, and with it the guest: every other
  // process is killed, and has ended, before the machine says so.
  guest_->KillOthers(true);
  auto* boxed = new RunResult(std::move(result));
  Process* guest = process_.get();
  done_.BlockingCall(boxed, [guest](Napi::Env env, Napi::Function callback, RunResult* r) {
    callback.Call({ResultToJs(env, *r, *guest)});
    delete r;
  });
  if (debug_) stops_.Release();
  if (trace_ready_) trace_ready_.Release();
  done_.Release();
}

Napi::Value NativeMachine::Kill(const Napi::CallbackInfo& info) {
  if (started_ && vcpu_ && thread_.joinable()) {
    guest_->KillOthers(false);
    RequestStop(Process::kKill);
    GiveOrder(Order{OrderKind::kKill});  // in case it is parked
    tracer_->Close();                    // ...or waiting for JavaScript to take records
  }
  return info.Env().Undefined();
}

Napi::Value NativeMachine::HypercallCounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  for (int nr = 0; nr < kMaxHypercall; nr++)
    if (const uint64_t n = process_->counts[nr].load(std::memory_order_relaxed)) out.Set(nr, static_cast<double>(n));
  return out;
}

// mountsMadeBy(): who made the guest's detached mounts (native/mounts.h):
// "root", "user namespace", or "" when it has none.
Napi::Value NativeMachine::MountsMadeBy(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), process_->paths.mounts_made_by());
}

// containment(): the layers the vCPU thread put itself in (null before it
// has): { chroot, seccomp, capabilities: each "" or why not, hostSyscalls }.
Napi::Value NativeMachine::Containment(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!contained_) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("chroot", chroot_status_);
  o.Set("seccomp", seccomp_status_);
  o.Set("capabilities", privileges_status_);
  std::set<int> numbers;
  for (const FilterRule& r : filter_)
    if (!r.error) numbers.insert(r.nr);
  o.Set("hostSyscalls", static_cast<double>(numbers.size()));
  return o;
}

// neededHypercalls(): the numbers the policy had to allow so far.
Napi::Value NativeMachine::NeededHypercalls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  for (int nr = 0; nr < kMaxHypercall; nr++)
    if (process_->needed[nr]) out.Set(out.Length(), nr);
  return out;
}

// ---- debugging

// debugAttach(onStop): before start(); the run then begins parked at the
// entry point and onStop() is called at each stop. Returns the features
// that use KVM's help here: { kvmStep, kvmInt3, debugRegisters } (debug.h).
Napi::Value NativeMachine::DebugAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started_) throw Napi::Error::New(env, "debugAttach: the machine has started");
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "Expected debugAttach(onStop)");
  try {
    debug_mechanisms_ = ProbeDebugSupport().mechanisms();
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
  debug_ = std::make_unique<torov::DebugState>();
  stops_ = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "torov-stops", 0, 1);
  stops_.Unref(env);  // the run itself keeps the loop alive
  return MechanismsToJs(env, debug_mechanisms_);
}

namespace {
const char* StopName(StopWhy why) {
  switch (why) {
    case StopWhy::kInitial: return "initial";
    case StopWhy::kTrap: return "trap";
    case StopWhy::kStep: return "step";
    case StopWhy::kSignal: return "signal";
    case StopWhy::kSyscallEntry: return "syscall_entry";
    case StopWhy::kSyscallReturn: return "syscall_return";
    case StopWhy::kInterrupt: return "interrupt";
    case StopWhy::kQuiet: return "quiet";
    case StopWhy::kDenied: return "denied";
    case StopWhy::kWatch: return "watch";
    case StopWhy::kHwBreak: return "hwbreak";
  }
  return "?";
}
}  // namespace

// debugState(tid?): while every thread is stopped, the stop of `tid` (the
// event thread's when not given: the one whose stop was reported) and its
// registers, with the event thread's tid and every thread's tid and name;
// null otherwise, or when there is no such thread.
Napi::Value NativeMachine::DebugState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!debug_) return env.Null();
  const auto names = threads_->List();
  std::lock_guard<std::mutex> lock(debug_->mutex);
  if (!debug_->Stopped()) return env.Null();
  const int tid = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : debug_->event_tid;
  auto it = debug_->threads.find(tid);
  if (it == debug_->threads.end()) return env.Null();
  const ThreadStop& ts = it->second;
  const Stop& s = ts.stop;
  Napi::Object o = Napi::Object::New(env);
  o.Set("tid", tid);
  o.Set("eventTid", debug_->event_tid);
  Napi::Array list = Napi::Array::New(env);
  uint32_t n = 0;
  for (const auto& [id, name] : names) {
    if (!debug_->threads.count(id)) continue;
    Napi::Object t = Napi::Object::New(env);
    t.Set("tid", id);
    t.Set("name", name);
    list.Set(n++, t);
  }
  o.Set("threads", list);
  o.Set("why", StopName(s.why));
  o.Set("signal", s.signal);
  if (s.vector >= 0) o.Set("vector", s.vector);
  o.Set("errorCode", static_cast<double>(s.error_code));
  o.Set("faultAddr", Big(env, s.fault_addr));
  if (s.syscall >= 0) o.Set("syscall", static_cast<double>(s.syscall));
  if (s.watch_kind) {
    o.Set("watchAddr", Big(env, s.watch_addr));
    o.Set("watchKind", std::string(1, s.watch_kind));
  }
  o.Set("regs", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&ts.regs), sizeof(UserRegs)));
  return o;
}

Napi::Value NativeMachine::DebugSetRegisters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!debug_) throw Napi::Error::New(env, "not debugging");
  if (!info[0].IsBuffer() || info[0].As<Napi::Buffer<uint8_t>>().Length() != sizeof(UserRegs))
    throw Napi::TypeError::New(env, "Expected a register buffer of " + std::to_string(sizeof(UserRegs)) + " bytes");
  std::lock_guard<std::mutex> lock(debug_->mutex);
  if (!debug_->Stopped()) return Napi::Boolean::New(env, false);
  const int tid = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : debug_->event_tid;
  auto it = debug_->threads.find(tid);
  if (it == debug_->threads.end()) return Napi::Boolean::New(env, false);
  std::memcpy(&it->second.regs, info[0].As<Napi::Buffer<uint8_t>>().Data(), sizeof(UserRegs));
  it->second.regs_dirty = true;
  return Napi::Boolean::New(env, true);
}

bool NativeMachine::GiveOrder(const Order& order, int wait_micros, int tid, bool others_continue) {
  if (!debug_) return false;
  uint64_t parks;
  {
    std::lock_guard<std::mutex> lock(debug_->mutex);
    if (order.kind == OrderKind::kResume) {
      if (!debug_->Stopped()) return false;
      // A thread that stopped for an event of its own while another's was
      // reported: that event is reported now, and nothing runs (as
      // gdbserver does). A breakpoint the debugger has removed since is
      // not an event any more: the thread goes back to run the
      // instruction that was under it.
      for (auto& [id, ts] : debug_->threads) {
        if (!ts.event) continue;
        ts.event = false;
        if (ts.stop.why == StopWhy::kTrap) {
          const uint64_t at = ts.regs.rip - 1;
          const uint8_t* byte = at >= RT_LIMIT ? process_->ram.Phys(at, 1) : nullptr;
          if (byte && *byte != 0xcc) {
            ts.regs.rip = at;
            ts.regs_dirty = true;
            continue;
          }
        }
        debug_->event_tid = id;
        debug_->parks.fetch_add(1, std::memory_order_release);
        return true;
      }
      debug_->stopping = false;
    }
    // The order for `tid` (the event thread's when 0); the others resume
    // too, or stay stopped (a step with scheduler locking). Kill and detach
    // go to every parked thread.
    const int target = tid ? tid : debug_->event_tid;
    bool given = false;
    for (auto& [id, ts] : debug_->threads) {
      if (!ts.parked) continue;
      if (order.kind == OrderKind::kResume && id != target && !others_continue) continue;
      ts.order = order.kind != OrderKind::kResume || id == target ? order : Order{OrderKind::kResume};
      ts.ordered.store(true, std::memory_order_release);
      given = true;
    }
    if (!given) return false;
    debug_->waiter = wait_micros > 0;
    parks = debug_->parks.load(std::memory_order_relaxed);
  }
  debug_->changed.notify_all();
  if (wait_micros <= 0) return false;
  // A step or a nearby breakpoint stops again within tens of microseconds:
  // waiting here for it saves the trip through the event loop. Later stops
  // are reported through it as usual.
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::microseconds(wait_micros);
  for (unsigned i = 1; debug_->parks.load(std::memory_order_acquire) == parks; i++) {
    __builtin_ia32_pause();
    if (i % 256 == 0 && Clock::now() > until) break;
  }
  std::lock_guard<std::mutex> lock(debug_->mutex);
  debug_->waiter = false;
  return debug_->Stopped() && debug_->parks.load(std::memory_order_relaxed) != parks;
}

// debugResume({ step, signal, wait, rangeStart, rangeEnd, tid, others }):
// true when the program stopped again within `wait` microseconds (the stop
// is then not reported to onStop). With a range, a step goes on while rip
// is inside it. The order is for thread `tid` (the event thread's when not
// given); the others resume too unless `others` is false.
Napi::Value NativeMachine::DebugResume(const Napi::CallbackInfo& info) {
  Order order{OrderKind::kResume};
  int wait = 0, tid = 0;
  bool others_continue = true;
  if (info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    order.step = o.Get("step").ToBoolean().Value();
    Napi::Value sig = o.Get("signal");
    order.signal = sig.IsNumber() ? sig.As<Napi::Number>().Int32Value() : 0;
    Napi::Value start = o.Get("rangeStart"), end = o.Get("rangeEnd");
    if (order.step && start.IsBigInt() && end.IsBigInt()) {
      bool lossless;
      order.range_start = start.As<Napi::BigInt>().Uint64Value(&lossless);
      order.range_end = end.As<Napi::BigInt>().Uint64Value(&lossless);
    }
    Napi::Value w = o.Get("wait");
    wait = w.IsNumber() ? std::clamp(w.As<Napi::Number>().Int32Value(), 0, 100000) : 0;
    Napi::Value t = o.Get("tid");
    tid = t.IsNumber() ? t.As<Napi::Number>().Int32Value() : 0;
    Napi::Value others = o.Get("others");
    others_continue = others.IsUndefined() || others.ToBoolean().Value();
  }
  return Napi::Boolean::New(info.Env(), GiveOrder(order, wait, tid, others_continue));
}

Napi::Value NativeMachine::DebugDetach(const Napi::CallbackInfo& info) {
  threads_->DisableDebug();
  GiveOrder(Order{OrderKind::kDetach});
  return info.Env().Undefined();
}

Napi::Value NativeMachine::DebugInterrupt(const Napi::CallbackInfo& info) {
  if (started_ && vcpu_ && thread_.joinable() && debug_) {
    // Stopped already, with no order to go on given: there is nothing to
    // interrupt (gdbserver ignores a Ctrl-C then too), and a request left
    // pending would stop the program again as soon as it goes on.
    {
      std::lock_guard<std::mutex> lock(debug_->mutex);
      if (debug_->Stopped()) return info.Env().Undefined();
      debug_->interrupt_tid = process_->pid;
    }
    RequestStop(Process::kInterrupt);
  }
  return info.Env().Undefined();
}

// debugRead(addr, len): the bytes a debugger may read there (any mapped
// application memory, whatever its protection), possibly fewer; null if none.
Napi::Value NativeMachine::DebugRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t addr = U64(info[0], "address");
  const uint64_t len = std::min<uint64_t>(U64(info[1], "length"), 1 << 20);
  const uint64_t n = process_->mm.DebuggerExtent(addr, len);
  if (len && !n) return env.Null();
  return Napi::Buffer<uint8_t>::Copy(env, process_->ram.Phys(addr, n), n);
}

// debugWrite(addr, bytes): writes into mapped application memory, read-only
// code included (breakpoints); returns the bytes written.
Napi::Value NativeMachine::DebugWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint64_t addr = U64(info[0], "address");
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "Expected debugWrite(address, Uint8Array)");
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  const uint64_t n = process_->mm.DebuggerExtent(addr, bytes.ByteLength(), Access::kWrite);
  if (n != bytes.ByteLength()) return Napi::Number::New(env, 0);
  std::memcpy(process_->ram.Phys(addr, n), bytes.Data(), n);
  return Napi::Number::New(env, static_cast<double>(n));
}

// debugSoftBreak(addr, original | -1): the debugger put an int3 at addr
// over `original`, or (-1) took it away (DebugState::soft_breaks).
Napi::Value NativeMachine::DebugSoftBreak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!debug_) throw Napi::Error::New(env, "not debugging");
  const uint64_t addr = U64(info[0], "address");
  if (!info[1].IsNumber()) throw Napi::TypeError::New(env, "Expected debugSoftBreak(address, byte or -1)");
  const int64_t original = info[1].As<Napi::Number>().Int64Value();
  if (original > 255 || original < -1) throw Napi::TypeError::New(env, "Expected debugSoftBreak(address, byte or -1)");
  std::lock_guard<std::mutex> lock(debug_->mutex);
  if (original < 0) debug_->soft_breaks.erase(addr);
  else debug_->soft_breaks[addr] = static_cast<uint8_t>(original);
  return env.Undefined();
}

// debugWatch(kind, addr, len, insert): a watchpoint, in debug registers
// where KVM gives them and the watches fit, by page protection otherwise.
Napi::Value NativeMachine::DebugWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!debug_ || !vcpu_) throw Napi::Error::New(env, "not debugging");
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  const uint64_t addr = U64(info[1], "address"), len = U64(info[2], "length");
  const bool insert = info[3].ToBoolean().Value();
  if (kind.size() != 1 || std::string("wra").find(kind[0]) == std::string::npos || len == 0 || len > 1 << 20)
    return Napi::Boolean::New(env, false);
  std::lock_guard<std::mutex> lock(debug_->mutex);
  if (!debug_->Stopped()) return Napi::Boolean::New(env, false);
  auto& ws = debug_->watches;
  if (insert) {
    if (process_->mm.DebuggerExtent(addr, len) != len) return Napi::Boolean::New(env, false);
    ws.push_back(Watch{addr, len, kind[0]});
  } else {
    auto it = std::find_if(ws.begin(), ws.end(), [&](const Watch& w) { return w.addr == addr && w.len == len && w.kind == kind[0]; });
    if (it == ws.end()) return Napi::Boolean::New(env, false);
    ws.erase(it);
  }
  PlaceWatches();
  return Napi::Boolean::New(env, true);
}

// Debug registers for the watches while they all fit beside the hbreaks,
// page protection otherwise. Called with debug_->mutex held, while parked.
void NativeMachine::PlaceWatches() {
  DebugRegisterPlan plan;
  debug_->watches_by_pages =
      !debug_mechanisms_.debug_registers || !PlanDebugRegisters(debug_->hw_breaks, debug_->watches, &plan);
  if (debug_mechanisms_.debug_registers) debug_->hw_epoch++;
  vcpu_->UpdateWatches();
}

// debugHwBreak(addr, insert): an execute breakpoint in a debug register
// (where KVM gives them); false when none is free, or there is no such breakpoint.
Napi::Value NativeMachine::DebugHwBreak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!debug_ || !vcpu_) throw Napi::Error::New(env, "not debugging");
  const uint64_t addr = U64(info[0], "address");
  const bool insert = info[1].ToBoolean().Value();
  std::lock_guard<std::mutex> lock(debug_->mutex);
  if (!debug_->Stopped() || !debug_mechanisms_.debug_registers) return Napi::Boolean::New(env, false);
  auto& bs = debug_->hw_breaks;
  if (insert) {
    bs.push_back(addr);
    DebugRegisterPlan plan;
    if (!PlanDebugRegisters(bs, {}, &plan)) {
      bs.pop_back();
      return Napi::Boolean::New(env, false);
    }
  } else {
    auto it = std::find(bs.begin(), bs.end(), addr);
    if (it == bs.end()) return Napi::Boolean::New(env, false);
    bs.erase(it);
  }
  PlaceWatches();  // an hbreak may take a register the watches had
  return Napi::Boolean::New(env, true);
}

// debugCatchSyscalls(true | false | Uint8Array bitmap): every number, none,
// or those in the bitmap (src/vmm/syscall-set.ts).
Napi::Value NativeMachine::DebugCatchSyscalls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!debug_) throw Napi::Error::New(env, "not debugging");
  const bool all = info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  const SyscallSet numbers = info[0].IsBoolean() ? SyscallSet() : SyscallSetFromJs(info[0], "debugCatchSyscalls's bitmap");
  std::lock_guard<std::mutex> lock(debug_->mutex);
  debug_->catch_syscalls = numbers;
  debug_->catch_all = all;
  return env.Undefined();
}

Napi::Value NativeMachine::DebugStopOnDenied(const Napi::CallbackInfo& info) {
  if (!debug_) throw Napi::Error::New(info.Env(), "not debugging");
  std::lock_guard<std::mutex> lock(debug_->mutex);
  debug_->stop_on_denied = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

// debugPassSignals(signals: number[]): Linux signal numbers delivered
// without stopping for the debugger first.
Napi::Value NativeMachine::DebugPassSignals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!debug_) throw Napi::Error::New(env, "not debugging");
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "Expected debugPassSignals(signals)");
  Napi::Array list = info[0].As<Napi::Array>();
  uint64_t mask = 0;
  for (uint32_t i = 0; i < list.Length(); i++) {
    const int sig = list.Get(i).ToNumber().Int32Value();
    if (sig >= 1 && sig <= 64) mask |= uint64_t{1} << (sig - 1);
  }
  debug_->pass_signals.store(mask);
  return env.Undefined();
}

}  // namespace torov

namespace torov {

// ---- tracing

// traceConfigure({ plan: Int32Array, filter: Uint8Array, records, bufferBytes,
// onReady }): what to capture for each hypercall (native/trace.h), which
// numbers to record, and whom to tell when records pile up. Before start()
// or while stopped in the debugger.
Napi::Value NativeMachine::TraceConfigure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "Expected traceConfigure(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value plan_js = o.Get("plan"), filter_js = o.Get("filter"), ready = o.Get("onReady");
  if (!plan_js.IsTypedArray() || plan_js.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      plan_js.As<Napi::Int32Array>().ElementLength() != size_t{kMaxHypercall} * kTraceMaxOps * kTraceOpInts)
    throw Napi::TypeError::New(env, "Expected options.plan to be the Int32Array of a trace plan");
  const SyscallSet filter = SyscallSetFromJs(filter_js, "options.filter");
  if (!ready.IsFunction()) throw Napi::TypeError::New(env, "Expected options.onReady to be a function");
  if (debug_) {
    std::lock_guard<std::mutex> lock(debug_->mutex);
    if (started_ && !debug_->Stopped()) throw Napi::Error::New(env, "traceConfigure: the program is running");
  } else if (started_) {
    throw Napi::Error::New(env, "traceConfigure: the machine has started");
  }
  const int32_t* ints = plan_js.As<Napi::Int32Array>().Data();
  std::vector<TraceOp> plan(size_t{kMaxHypercall} * kTraceMaxOps);
  for (size_t i = 0; i < plan.size(); i++) {
    const int32_t* f = ints + i * kTraceOpInts;
    plan[i] = TraceOp{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
  }
  const Napi::Value bytes = o.Get("bufferBytes");
  tracer_->Configure(std::move(plan), filter, o.Get("records").ToBoolean().Value(),
                     bytes.IsNumber() ? static_cast<size_t>(bytes.As<Napi::Number>().Int64Value()) : 4 << 20);
  if (trace_ready_) trace_ready_.Release();
  trace_ready_ = Napi::ThreadSafeFunction::New(env, ready.As<Napi::Function>(), "torov-trace", 0, 1);
  trace_ready_.Unref(env);
  tracer_->SetNotify([this] { trace_ready_.NonBlockingCall(); });
  return env.Undefined();
}

Napi::Value NativeMachine::TraceEnable(const Napi::CallbackInfo& info) {
  tracer_->Enable(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

// traceTake(): the records written since the last call, or null.
Napi::Value NativeMachine::TraceTake(const Napi::CallbackInfo& info) {
  auto* records = new std::vector<uint8_t>(tracer_->Take());
  if (records->empty()) {
    delete records;
    return info.Env().Null();
  }
  return Napi::Buffer<uint8_t>::New(info.Env(), records->data(), records->size(),
                                    [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, records);
}

// traceCounts(): calls, errors and nanoseconds per number, 3 x 512 doubles.
Napi::Value NativeMachine::TraceCounts(const Napi::CallbackInfo& info) {
  const auto counts = tracer_->counts();
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), counts.size() * 3);
  for (size_t i = 0; i < counts.size(); i++) {
    out[i * 3] = static_cast<double>(counts[i].calls);
    out[i * 3 + 1] = static_cast<double>(counts[i].errors);
    out[i * 3 + 2] = static_cast<double>(counts[i].nanos);
  }
  return out;
}

}  // namespace torov
