// A vCPU: its KVM fd and kvm_run mapping, its initial state, and the run
// loop that turns exits into hypercalls, faults, debugger stops and the
// guest's end.
//
// States: Created -> Running (Run() on the vCPU thread) -> Exited; with a
// debugger, Running <-> Parked at each stop. All ioctls on the vCPU fd are
// made by the thread that runs it.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "debug.h"
#include "kvm/kvm.h"
#include "kvm/runtime.h"
#include "fd.h"
#include "hypercalls/args.h"
#include "task.h"
#include "trace.h"

namespace torov {

// How a run ended.
struct RunResult {
  // kThreadExit: the thread called exit(2); the others go on.
  enum Kind { kExited, kSignaled, kFault, kKilled, kError, kThreadExit } kind = kExited;
  int status = 0;  // exit status (128 + signal when signaled)
  int signal = 0;
  int tid = 0;     // the thread it is about (the one that faulted)
  std::string message;  // kError: what went wrong; kSignaled: why
  // kFault: the CPU exception and the application's registers at it.
  int vector = -1;
  uint64_t error_code = 0;
  uint64_t address = 0;  // the faulting address (#PF), else rip
  UserRegs regs{};
};

struct InitialState {
  uint64_t rip = 0;
  uint64_t rsp = 0;
};

// What a new thread starts with: its parent's registers as clone returns
// (rax 0), its own stack and TLS.
struct ThreadStart {
  kvm_regs regs{};
  uint64_t fs_base = 0, gs_base = 0;
  KvmXsave xsave{};
  bool has_xsave = false;
};

// A KVM vCPU: its fd, its kvm_run mapping and its id, which is also its
// slot in the runtime (runtime.h). KVM frees vCPUs only with their VM, so a
// thread that ends leaves its vCPU to the next one.
class KvmVcpu {
 public:
  KvmVcpu(int vm_fd, int index);
  ~KvmVcpu();
  KvmVcpu(const KvmVcpu&) = delete;
  KvmVcpu& operator=(const KvmVcpu&) = delete;
  int fd() const { return fd_.get(); }
  kvm_run* run() const { return run_; }
  int index() const { return index_; }
  // KVM takes CPUID only before a vCPU's first run: a vCPU that a thread
  // leaves to the next keeps it.
  bool cpuid_set = false;

 private:
  Fd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  int index_;
};

class Vcpu : public CpuControl {
 public:
  // Runs `task` on `kvm`, one thread's lifetime.
  Vcpu(KvmVcpu& kvm, Process& process, Task& task);
  ~Vcpu() override;
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  // Long mode at CPL 3 with the runtime's GDT/IDT/TSS and syscall MSRs.
  // Independent of the program, so it runs while the loader works.
  void Setup();
  // The program's entry point and initial stack.
  void SetEntry(const InitialState& init);
  // A new thread's state (clone), taken from its parent by ForkState() on
  // the parent's thread, and applied on its own.
  bool ForkState(uint64_t stack, bool set_tls, uint64_t tls, ThreadStart* out);
  void SetStart(const ThreadStart& start);
  Task& task() { return task_; }
  // With a debugger: Run() parks at stops (the first before the entry point)
  // and calls `report` for each, on this thread, before waiting for an order.
  // `mechanisms` says how stops arise (see debug.h).
  // `initial_stop`: park before the first instruction (the main thread).
  void EnableDebug(DebugState* state, DebugMechanisms mechanisms, std::function<void()> report,
                   bool initial_stop = true);
  // Hypercalls are traced when `tracer` is enabled (set before Run()).
  void SetTracer(Tracer* tracer) { tracer_ = tracer; }
  // Runs until the guest exits, faults (without a debugger), is killed or
  // KVM fails.
  RunResult Run();
  // One KVM_RUN that must end in an exit on HC_PORT (the raw-exit benchmark).
  bool RunOnce();
  // For diagnostics on scratch VMs (native/kvm/probes.cc).
  int fd() const { return fd_; }
  const kvm_run* run() const { return run_; }
  // From another thread: end the run (kKilled), or stop it for the debugger.
  void RequestStop(pthread_t thread, Process::StopRequest why, bool kick = true);
  // Page guards for watchpoints changed (called while parked).
  void UpdateWatches();

  // CpuControl
  bool SetSegmentBase(bool fs, uint64_t base) override;
  bool GetSegmentBase(bool fs, uint64_t* base) override;
  bool StackPointer(uint64_t* sp) override;
  void Kick() override { Kick(true); }
  // `signal` false: as if the signal had been lost (the tests' fault).
  void Kick(bool signal);
  // The kick's signal again, for a kick not taken yet.
  void Resignal();
  // Told of each kick, to send it again until it is taken (native/threads.h).
  void SetKickNotice(std::function<void()> notice) { kick_notice_ = std::move(notice); }

 private:
  // Where the application's registers are while it is stopped: in KVM's
  // registers (direct), partly in the exception frame on the IST stack, or
  // partly in the hypercall page.
  enum class Context { kDirect, kException, kHypercall };
  // What a Park() decided: go on, or end the run.
  enum class Next { kContinue, kEnd };

  // The one gate every hypercall passes, from either ABI: debugger stops at
  // entry and return, the policy, counting, tracing, the handler, signal
  // delivery. It serves call_: ReadCall() fills it from the slot (`syscall`),
  // FlatHypercall from the registers (`out`).
  void Hypercall(RunResult* result, Next* next);
  // The slot, once, into call_; and call_'s return into the slot, just
  // before the vCPU runs again.
  void ReadCall();
  void WriteCall();
  void FlatHypercall(RunResult* result, Next* next);
  // The length of the `out` instruction at rip (0 when it is not one).
  uint64_t OutLength(uint64_t rip);
  // Puts the call eintr_nr_ back on its `syscall` instruction, to run again.
  void RestartCall();
  Next Exception(RunResult* result);
  // KVM_RUN failed with EFAULT where the guest maps files shared: SIGBUS.
  Next SharedFileFault(RunResult* result);
  // A KVM_EXIT_DEBUG: KVM's single step, an int3 it intercepted, a debug
  // register that fired.
  Next DebugExit(RunResult* result);
  // A single-step trap at `rip` (the trap flag's #DB through the runtime,
  // or KVM's step): the end of a step, a watched access let through, or a
  // trap to pass over (nothing: run on).
  std::optional<Stop> StepTrap(uint64_t rip, Context ctx);
  // Reports a stop (Ctrl-C during range stepping turns a step into an
  // interrupt) and parks.
  Next StopAt(Stop stop, Context ctx, RunResult* result);
  // Before each KVM_RUN while debugging with KVM's help: what KVM is to
  // intercept, and its single step when one is under way, of application
  // code only (from a hypercall or an exception, LeaveRuntime() first).
  void ArmGuestDebug();
  void DisarmGuestDebug();
  // Puts the application's state that the runtime saved (at a hypercall or
  // an exception) back into the vCPU as the runtime's sysretq or iretq
  // would, so that the next KVM_RUN starts at the application's next
  // instruction, in user mode.
  void LeaveRuntime(Context ctx);
  // Code and stack segments the application's (CPL 3), with the registers
  // as they are: the next KVM_RUN goes straight back to the program.
  void EnterUserMode();
  int64_t Dispatch(uint64_t nr, const Args& args);
  // Signals (signals.cc): delivers the first pending, unblocked signal as
  // the hypercall returns (a handler's frame, or its default action), after
  // a debugger has seen it unless it passes it; and rt_sigreturn's return
  // from a handler.
  Next DeliverSignals(Context ctx, RunResult* result);
  bool PushSignalFrame(int sig, int32_t code, const kernel_sigaction_t& act, Context ctx);
  int64_t SigReturn();
  // Ends the process: the thread's own fatal signal, or exit_group's.
  void KillProcess(int sig, std::string why);
  // KillProcess, and this thread's result says so: the run is over.
  Next EndBySignal(int sig, std::string why, RunResult* result);
  // The process's end, as this thread's result.
  RunResult& Ended(RunResult& result);
  void Capture(Context ctx, UserRegs* out);
  void Apply(Context ctx, const UserRegs& in);
  // Parks at a stop and carries out the order. A resume with a signal the
  // program does not ignore ends it (no handlers are delivered), in *result.
  Next Park(const Stop& stop, Context ctx, RunResult* result);
  void AwaitOrder(const std::atomic<bool>& ordered);
  void SetTrapFlag(Context ctx, bool on);
  // The application's KVM registers as of the last exit. While a debugger
  // is attached and the host has KVM_CAP_SYNC_REGS, KVM copies them into
  // kvm_run at each exit and takes changes back at the next entry, which
  // saves the two or three register ioctls of every stop; otherwise they
  // are read, and written back by RegsChanged(), with ioctls.
  kvm_regs& Regs();
  const kvm_sregs& Sregs();
  void RegsChanged();
  // KVM_RUN; false with errno set when it failed or was interrupted.
  bool Enter();
  bool InRuntime(uint64_t rip) const;
  bool Traced(uint64_t nr, const Args& args);
  void EndTrace(uint64_t nr, int64_t ret, bool denied);
  bool InStepRange(uint64_t rip) const { return rip >= range_start_ && rip < range_end_; }
  bool KvmStep() const { return debug_ && mech_.kvm_step; }
  bool DebugRegisters() const { return debug_ && mech_.debug_registers; }
  // The hypercall slot, as 64-bit words (HC_* / 8): guest memory, which
  // only ReadCall() and WriteCall() touch.
  volatile uint64_t* Slot() { return reinterpret_cast<volatile uint64_t*>(process_.ram.Phys(RT_HCSLOT(index_), RT_HC_SIZE)); }
  // Whether [rsp, rsp + 7 words) is on this vCPU's exception stack.
  bool OnExceptionStack(uint64_t rsp) const {
    const uint64_t low = RT_TSS(index_) + RT_TSS_LIMIT + 1, top = RT_IST_TOP(index_);
    return rsp >= low && rsp + 7 * 8 <= top;
  }
  // Takes the debugger's hardware breakpoints and watchpoints into the
  // debug registers (while parked, under the debug mutex).
  void KeepWatchBytes();
  void LoadDebugRegisters();
  // Registers changed in kvm_run's copy reach KVM now, not at the next entry.
  void FlushRegs();
  void GuardPage(uint64_t page, bool on);

  Process& process_;
  Task& task_;
  KvmVcpu& kvm_;
  const int index_;  // KVM's vCPU id, and the runtime slot it uses
  const int fd_;
  kvm_run* const run_;
  // The native thread that runs it (for kicks), once Run() has started.
  std::atomic<bool> thread_known_{false};
  pthread_t thread_{};
  std::function<void()> kick_notice_;
  // The hypercall being served: the monitor's one copy of it, which every
  // step of the gate, the handlers, the tracer and the debugger use.
  HypercallFrame call_;
  // The call came from the flat ABI (`out`): rcx and r11 are the program's
  // own, not the return address and flags.
  bool flat_call_ = false;
  // rt_sigreturn put every register back directly: the call returns
  // without the stub, which would overwrite rcx and r11.
  bool returned_direct_ = false;
  // The call a signal interrupted (-EINTR) this time, to restart unless a
  // handler that does not ask for it runs (-1: none).
  int eintr_nr_ = -1;
  // The call an all-stop interrupted, shown as Linux shows it while stopped
  // and restarted after (-1: none).
  int restart_nr_ = -1;
  TraceCall trace_call_;
  bool has_xsave_ = false;
  // At an `out` exit, rip is past the instruction already (PVM); VT-x and
  // AMD-V leave it on it and skip it at the next entry.
  bool advances_rip_on_io_ = false;
  bool has_sync_regs_ = false;
  bool regs_ok_ = false;   // Regs() holds this exit's registers
  bool sregs_ok_ = false;  // Sregs() too

  Tracer* tracer_ = nullptr;

  // Debugging.
  DebugState* debug_ = nullptr;
  DebugMechanisms mech_;
  std::function<void()> report_;
  bool stepping_ = false;          // the debugger asked for one instruction
  uint64_t range_start_ = 0;       // ...or for steps while rip is in [range_start_, range_end_)
  uint64_t range_end_ = 0;
  bool interrupt_pending_ = false; // Ctrl-C arrived inside the runtime: stop at the next exit
  bool initial_stop_ = true;       // parks before the first instruction
  StopWhy parking_why_ = StopWhy::kInitial;  // the stop being captured (orig_rax shows at syscall stops)
  uint64_t hw_epoch_ = 0;          // DebugState::hw_epoch as loaded into the debug registers
  // Where the application's state is, as of the last exit.
  Context exit_ctx_ = Context::kDirect;
  // Trap flag steps: a step from a hypercall returns through the runtime, which can
  // trap (PVM's popfq; jmp) in the runtime and on the return address before
  // it runs (jmp, or sysretq, which traps at once): not the program's steps.
  static constexpr uint64_t kNoAddress = ~uint64_t{0};
  uint64_t skip_trap_at_ = kNoAddress;
  bool tf_ours_ = false;           // the trap flag is set by torov, not by the program
  // Debug registers: as loaded, the guest debug control last given
  // to KVM (with the registers), and a copy of the bytes under each
  // watchpoint there, to tell what an access changed.
  DebugRegisterPlan plan_;
  std::vector<Watch> plan_watches_;
  std::vector<std::vector<uint8_t>> watch_bytes_;
  kvm_guest_debug armed_{};
  bool armed_valid_ = false;
  bool kvm_stepping_ = false;      // KVM single-steps the instruction at the last entry
  // A watched page lifted to let one instruction through (then re-guarded).
  struct Lifted {
    std::vector<uint64_t> pages;
    // The watches the access touched, with the bytes it may change as they
    // were before it.
    struct Hit {
      uint64_t addr;
      char kind;
      uint64_t at;
      std::vector<uint8_t> before;
    };
    std::vector<Hit> hits;
    bool app_tf = false;  // the trap flag as it was before the lift
  } lifted_;
  // The watch to report for a lifted access: the lowest one it changed, or
  // else the lowest it touched (GDB checks only the one reported).
  const Lifted::Hit& ReportedHit() const;
};

// Every ioctl a vCPU's thread makes on its vCPU (its seccomp filter admits
// these on any fd: vCPUs are made after the filter is in place).
const std::vector<unsigned long>& VcpuRequests();

// The signal a Linux process gets for a CPU exception vector.
int SignalForVector(int vector);
// Installs the (empty) handler of the signal used to interrupt a vCPU
// thread, without SA_RESTART so blocked host calls return EINTR.
int KickSignal();

}  // namespace torov
