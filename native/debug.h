// What a debugger needs from the vCPU: stops, the application's registers
// while stopped, and orders to go on.
//
// The vCPU thread *parks* at a stop: it captures the application's state,
// reports the stop to JavaScript, and waits. While it waits, JavaScript reads
// and writes the captured registers and guest memory directly (nothing runs)
// and finally gives one order: resume (maybe single-stepping, maybe with a
// signal), detach, or kill. Every stop, however it arose, goes through this
// one path; the mechanism that produced it is the vCPU's business. Each
// feature uses KVM's help where the host gives it (DebugMechanisms), else
// the guest runtime's own handlers:
//
// - single step: KVM_GUESTDBG_SINGLESTEP, or the trap flag through the
//   runtime's #DB handler;
// - int3: intercepted by KVM (KVM_GUESTDBG_USE_SW_BP), or the runtime's
//   #BP handler;
// - hardware breakpoints and watchpoints: the four debug registers
//   (KVM_GUESTDBG_USE_HW_BP), or int3s and pages protected from the guest.
//
// PVM gives none of them for user mode; VT-x and AMD-V give all; QEMU's
// emulated AMD-V gives the single step only. A probe on scratch VMs
// decides, once per process (DebugSupport).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "syscall_set.h"

namespace torov {

// The application's user-mode registers, as the debugger, a signal frame and
// a crash report see them. A fixed layout that src/vmm/regs.ts reads and
// writes (the debugger maps it to GDB's 'g' packet):
struct UserRegs {
  uint64_t gpr[16];  // rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15
  uint64_t rip;
  uint64_t rflags;
  uint64_t seg[6];  // cs ss ds es fs gs selectors
  uint64_t fs_base;
  uint64_t gs_base;
  uint64_t orig_rax;  // the syscall number at a syscall stop, else -1
  uint8_t fxsave[512];  // x87, MXCSR and XMM0-15 in the FXSAVE layout
  uint8_t ymmh[256];    // upper halves of YMM0-15
};
static_assert(sizeof(UserRegs) == 984, "UserRegs is shared with src/vmm/debug.ts");

enum class StopWhy : uint8_t {
  kInitial,        // before the first instruction
  kTrap,           // #BP from int3 (a breakpoint or the program's own)
  kStep,           // a single step completed
  kSignal,         // a fault: SIGSEGV, SIGILL...
  kSyscallEntry,   // a caught hypercall, before it runs
  kSyscallReturn,  // a caught hypercall, after it ran
  kInterrupt,      // the debugger asked (Ctrl-C): SIGINT
  kDenied,         // the manifest refused a hypercall: SIGSYS
  kWatch,          // a watchpoint fired, after the access
  kHwBreak,        // a hardware breakpoint, before the instruction at rip
  kQuiet,          // stopped because another thread stopped (all-stop): no event of its own
};

// Which debugger features use KVM's help.
struct DebugMechanisms {
  bool kvm_step = false;
  bool kvm_int3 = false;
  bool debug_registers = false;
  bool any() const { return kvm_step || kvm_int3 || debug_registers; }
};

// What this host's KVM does for a debugger of user-mode code, found by
// running scratch VMs (native/kvm/probes.cc).
struct DebugSupport {
  bool kvm_step = false;        // KVM_GUESTDBG_SINGLESTEP stops after one instruction at CPL 3
  bool kvm_sw_breakpoints = false;  // KVM_GUESTDBG_USE_SW_BP: int3 exits to the monitor
  bool kvm_hw_breakpoints = false;  // KVM_GUESTDBG_USE_HW_BP: an execute breakpoint exits before the instruction
  bool kvm_watchpoints = false;     // ...and a data breakpoint after the write
  bool guest_debug_registers = false;  // the guest's own debug registers fire into its #DB handler
  std::string seen[4];  // what each KVM probe's run ended in (step, int3, execute, write)
  // Debug registers make KVM take every #DB, the trap flag's included: they
  // need its single step too.
  DebugMechanisms mechanisms() const {
    return {kvm_step, kvm_sw_breakpoints, kvm_step && kvm_hw_breakpoints && kvm_watchpoints};
  }
};
// The probe's answer, probed on first use and kept for the process.
const DebugSupport& ProbeDebugSupport();

struct Stop {
  StopWhy why = StopWhy::kInitial;
  int signal = 0;
  int vector = -1;
  uint64_t error_code = 0;
  uint64_t fault_addr = 0;
  int64_t syscall = -1;
  uint64_t watch_addr = 0;
  char watch_kind = 0;  // 'w' write, 'r' read, 'a' access
};

enum class OrderKind : uint8_t { kNone, kResume, kDetach, kKill };

struct Order {
  OrderKind kind = OrderKind::kNone;
  bool step = false;
  int signal = 0;  // deliver this signal: with no handlers, the guest dies of it
  // With step: go on stepping while rip stays in [range_start, range_end).
  uint64_t range_start = 0;
  uint64_t range_end = 0;
};

// A watched range.
struct Watch {
  uint64_t addr;
  uint64_t len;
  char kind;  // 'w', 'r', 'a'
};

// The four debug registers: what each holds, and DR7.
constexpr int kDebugRegisters = 4;
struct DebugRegisterPlan {
  struct Slot {
    uint64_t addr = 0;
    int watch = -1;  // index into the watches, or -1 for an execute breakpoint
  };
  Slot slot[kDebugRegisters];
  int used = 0;
  uint64_t dr7 = 0;
};
// Fits the execute breakpoints and the watched ranges (each split into
// aligned pieces of 1, 2, 4 or 8 bytes) into the debug registers; false when
// they need more than there are. x86 cannot watch reads alone: a read
// watchpoint uses a read/write register, and the vCPU tells reads apart.
bool PlanDebugRegisters(const std::vector<uint64_t>& breaks, const std::vector<Watch>& watches,
                        DebugRegisterPlan* plan);

// One guest thread as the debugger sees it.
struct ThreadStop {
  bool parked = false;
  Stop stop;
  UserRegs regs{};
  bool regs_dirty = false;
  // A stop of its own (a breakpoint, a signal...) that the debugger has not
  // been told of: another thread's was reported first. It is reported when
  // the debugger resumes, instead of resuming (as gdbserver does).
  bool event = false;
  Order order;
  // Set with `order`, read without the mutex by a vCPU thread spinning for it.
  std::atomic<bool> ordered{false};
};

// Shared between the vCPU threads and JavaScript; every field under mutex.
//
// All-stop, as GDB's default mode: the first thread to stop for an event
// (the "event thread") asks every other thread to stop too (they park
// with kQuiet), waits until all have, and only then reports. The debugger
// then reads any thread's registers and gives each an order: most resume
// all, a step with scheduler locking resumes one.
class DebugState {
 public:
  std::mutex mutex;
  std::condition_variable changed;

  // Every live thread, by tid (Threads adds and removes them).
  std::map<int, ThreadStop> threads;
  // An all-stop is under way or in effect: set by the event thread, cleared
  // when the debugger resumes a thread.
  bool stopping = false;
  int event_tid = 0;
  // A Ctrl-C is the main thread's event while it lives (as the kernel gives
  // gdbserver's SIGINT to the thread group leader): other threads park
  // quietly. 0: whichever thread takes it first.
  int interrupt_tid = 0;
  // Whether every live thread is parked, with no order it has yet to take
  // (a thread told to resume is running, though it may not have left yet).
  bool AllParked() const {
    for (const auto& [tid, t] : threads)
      if (!t.parked || t.order.kind != OrderKind::kNone) return false;
    return true;
  }
  // A stop reported (or ready to be): the event thread is parked and so is
  // every other.
  bool Stopped() const { return stopping && AllParked(); }
  // JavaScript waits for the next stop itself, spinning on `parks`: the
  // event thread then does not report that stop through the event loop.
  bool waiter = false;
  std::atomic<uint64_t> parks{0};

  // Set by JavaScript at any time, read by the vCPU thread.
  SyscallSet catch_syscalls;
  bool catch_all = false;
  bool stop_on_denied = false;
  // Signals the debugger lets through without a stop (QPassSignals; bit
  // sig-1). Until it says, GDB's own defaults: SIGALRM, SIGURG, SIGCHLD,
  // SIGWINCH, SIGIO, SIGVTALRM, SIGPROF.
  std::atomic<uint64_t> pass_signals{(1ull << 13) | (1ull << 22) | (1ull << 16) | (1ull << 27) | (1ull << 28) |
                                     (1ull << 25) | (1ull << 26)};
  std::vector<Watch> watches;
  // Execute breakpoints in debug registers (GDB's hbreak); set while
  // parked, like `watches`. The watches go to debug registers too while
  // they all fit there; beyond that, all of them work by page protection,
  // which takes any number and size.
  std::vector<uint64_t> hw_breaks;
  // The int3 bytes the debugger wrote (software breakpoints), each with
  // the byte it replaced: a forked child's copy of the memory gets the
  // originals back, as gdbserver takes breakpoints out of a child it does
  // not follow (src/vmm/debug.ts keeps it up to date).
  std::map<uint64_t, uint8_t> soft_breaks;
  bool watches_by_pages = true;
  // Changes to hw_breaks or the watches' placement: each vCPU loads its
  // debug registers again when it sees a new value.
  uint64_t hw_epoch = 0;

  bool Catches(uint64_t nr) const {
    return catch_all || catch_syscalls.Has(nr);
  }
};

}  // namespace torov
