// The binding to JavaScript: one VM as src/vmm/native.ts types it
// (NativeMachine; src/vmm/machine.ts wraps it as Machine).
//
// Construction creates the VM, its memory and the runtime; the loader then
// maps the program through addMapping() and writes it into `memory`;
// start() runs it. The main thread's vCPU has its own native thread (not an
// AsyncWorker: the libuv pool is small and shared with fs and dns), started
// with the machine so that creating and setting up the vCPU overlaps the
// loader's work; start() lets it run, and the end of the run (of every guest
// thread, native/threads.h) is reported once, through a ThreadSafeFunction
// whose finalizer joins the thread.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <mutex>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "fd.h"
#include "process.h"
#include "debug.h"
#include "seccomp.h"
#include "threads.h"
#include "processes/guest.h"
#include "kvm/vcpu.h"

namespace torov {

class NativeMachine : public Napi::ObjectWrap<NativeMachine> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeMachine(const Napi::CallbackInfo& info);
  ~NativeMachine() override;

 private:
  Napi::Value Memory(const Napi::CallbackInfo& info);
  Napi::Value AppLow(const Napi::CallbackInfo& info);
  Napi::Value AppHigh(const Napi::CallbackInfo& info);
  Napi::Value Pid(const Napi::CallbackInfo& info);
  Napi::Value AddMapping(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value OpenGuestFile(const Napi::CallbackInfo& info);
  Napi::Value SnapshotProgram(const Napi::CallbackInfo& info);
  Napi::Value MapProgram(const Napi::CallbackInfo& info);
  Napi::Value CopyProgram(const Napi::CallbackInfo& info);
  Napi::Value SetBrk(const Napi::CallbackInfo& info);
  Napi::Value SetMmapTop(const Napi::CallbackInfo& info);
  Napi::Value Mappings(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Kill(const Napi::CallbackInfo& info);
  Napi::Value HypercallCounts(const Napi::CallbackInfo& info);
  Napi::Value NeededHypercalls(const Napi::CallbackInfo& info);
  Napi::Value Containment(const Napi::CallbackInfo& info);
  Napi::Value MountsMadeBy(const Napi::CallbackInfo& info);
  // The debugger's side (src/vmm/debug.ts).
  Napi::Value DebugAttach(const Napi::CallbackInfo& info);
  Napi::Value DebugState(const Napi::CallbackInfo& info);
  Napi::Value DebugSetRegisters(const Napi::CallbackInfo& info);
  Napi::Value DebugResume(const Napi::CallbackInfo& info);
  Napi::Value DebugDetach(const Napi::CallbackInfo& info);
  Napi::Value DebugInterrupt(const Napi::CallbackInfo& info);
  Napi::Value DebugRead(const Napi::CallbackInfo& info);
  Napi::Value DebugWrite(const Napi::CallbackInfo& info);
  Napi::Value DebugSoftBreak(const Napi::CallbackInfo& info);
  Napi::Value DebugWatch(const Napi::CallbackInfo& info);
  Napi::Value DebugHwBreak(const Napi::CallbackInfo& info);
  Napi::Value DebugCatchSyscalls(const Napi::CallbackInfo& info);
  Napi::Value DebugStopOnDenied(const Napi::CallbackInfo& info);
  Napi::Value DebugPassSignals(const Napi::CallbackInfo& info);
  // Tracing (src/trace/).
  Napi::Value TraceConfigure(const Napi::CallbackInfo& info);
  Napi::Value TraceEnable(const Napi::CallbackInfo& info);
  Napi::Value TraceTake(const Napi::CallbackInfo& info);
  Napi::Value TraceCounts(const Napi::CallbackInfo& info);
  // Hands a parked vCPU its order; with wait_micros, waits that long for
  // the next stop and says whether it came (then it is not reported).
  // For thread `tid` (0: the event thread); the other threads resume too
  // unless `others_continue` is false. Kill and detach are for all.
  bool GiveOrder(const Order& order, int wait_micros = 0, int tid = 0, bool others_continue = true);
  void PlaceWatches();

  // The vCPU thread: set-up, then wait for start() (or the machine's end),
  // then the run.
  void Body();
  // Asks the guest's threads to stop (a kill, a debugger's interrupt).
  void RequestStop(Process::StopRequest why);
  // Waits for the vCPU thread (and with it every guest thread) to end.
  void JoinThreads();

  std::shared_ptr<Process> process_;
  Fd vm_;
  // The guest's threads; the main one runs on thread_, the machine's vCPU
  // thread.
  std::unique_ptr<Threads> threads_;
  Vcpu* vcpu_ = nullptr;  // the main thread's
  std::thread thread_;
  Napi::ThreadSafeFunction done_;
  bool started_ = false;

  // Debugging: stops go to JavaScript through `stops_`; the state is shared
  // with the vCPU thread under its own mutex.
  std::unique_ptr<torov::DebugState> debug_;
  DebugMechanisms debug_mechanisms_;
  Napi::ThreadSafeFunction stops_;

  // Tracing: the records' buffer, and a wake-up for JavaScript when it
  // fills (JavaScript also takes records on its own timer).
  std::unique_ptr<Tracer> tracer_;
  Napi::ThreadSafeFunction trace_ready_;

  // Containment the vCPU thread puts itself in before the guest runs: the
  // host syscalls its seccomp filter admits (none given: no filter), and
  // what came of each layer ("" when active, else why not), under mutex_.
  std::vector<FilterRule> filter_;  // the vCPU thread's seccomp rules (src/vmm/seccomp.ts)
  bool use_seccomp_ = false;
  bool contained_ = false;
  std::string chroot_status_, seccomp_status_, privileges_status_;

  // Between this thread and the vCPU thread, under mutex_:
  enum class Launch { kWait, kGo, kAbandon };
  std::mutex mutex_;
  std::condition_variable changed_;
  bool setup_done_ = false;
  std::string setup_code_, setup_message_;  // set-up failure, if any
  Launch launch_ = Launch::kWait;
  InitialState init_;
  // Created on first use: V8 charges an external buffer of guest-RAM size to
  // its heap accounting, which costs garbage collections at start-up.
  Napi::Reference<Napi::ArrayBuffer> memory_;

  // The tree of the guest's processes; the first is process_ (last, so it
  // goes first: every other process ends before the first's state does).
  std::unique_ptr<Guest> guest_;
};

// Turns a torov::Error into the JavaScript TorovError (or a plain Error with
// a `code` before src/vmm/native.ts has registered the class).
Napi::Error ToJsError(Napi::Env env, const std::string& code, const std::string& message);

// { kvmStep, kvmInt3, debugRegisters } (native/kvm/probes.cc).
Napi::Object MechanismsToJs(Napi::Env env, const DebugMechanisms& m);

}  // namespace torov
