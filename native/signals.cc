// Signal delivery: what a Linux kernel does on the way back to user mode,
// done as a hypercall returns. A pending, unblocked signal with a handler
// gets Linux's x86-64 frame on the application's stack (or its alternate
// stack): the return address (the sa_restorer glibc and musl install), a
// ucontext with the interrupted registers, FPU state and signal mask, and a
// siginfo; the hypercall then "returns" into the handler. The restorer's
// rt_sigreturn puts everything back. Signals arise only from the guest's own
// hypercalls (kill, tgkill, abort, SIGPIPE), so the interrupted point is
// always a syscall return, where rcx and r11 hold rip and rflags anyway.

#include <signal.h>
#include <sys/syscall.h>

#include <cstring>

#include "debug.h"
#include "kvm/runtime.h"
#include "hypercalls/hypercalls.h"
#include "trace.h"
#include "kvm/vcpu.h"

namespace torov {

namespace {

// struct rt_sigframe on x86-64: pretcode, then struct ucontext, then siginfo.
constexpr uint64_t kUcOffset = 8;
constexpr uint64_t kUcStack = 16;      // stack_t: ss_sp, ss_flags, ss_size
constexpr uint64_t kUcMcontext = 40;   // struct sigcontext, 256 bytes
constexpr uint64_t kUcSigmask = 296;   // the kernel's 8-byte sigset
constexpr uint64_t kUcSize = 304;
constexpr uint64_t kInfoOffset = kUcOffset + kUcSize;
constexpr uint64_t kInfoSize = 128;
constexpr uint64_t kFrameSize = kInfoOffset + kInfoSize;
constexpr uint64_t kFpSize = 512;      // the FXSAVE layout (no XSAVE extension)
constexpr uint64_t kRedZone = 128;
constexpr uint64_t kSsOnstack = 1, kSsDisable = 2, kSsAutodisarm = 1u << 31;
constexpr uint64_t kSaRestorer = 0x04000000;  // the kernel's SA_RESTORER

// struct sigcontext: the general registers in this order, then rip,
// eflags, cs/gs/fs/ss, err, trapno, oldmask, cr2, the fpstate pointer.
// UserRegs::gpr is rax rbx rcx rdx rsi rdi rbp rsp r8..r15.
constexpr int kMcGpr[16] = {13, 11, 14, 12, 9, 8, 10, 15, 0, 1, 2, 3, 4, 5, 6, 7};
constexpr int kMcRip = 16, kMcEflags = 17, kMcSegs = 18, kMcOldmask = 21, kMcFpstate = 23;

constexpr uint64_t kSigKillStop = (uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1));

}  // namespace

namespace {

// Calls a signal handler does not restart even with SA_RESTART: those that
// wait for time or for an event, as Linux's -ERESTARTNOHAND.
bool NoRestartAfterHandler(int nr) {
  switch (nr) {
    case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6: case SYS_epoll_wait:
    case SYS_epoll_pwait: case SYS_epoll_pwait2: case SYS_nanosleep: case SYS_clock_nanosleep:
    case SYS_pause: case SYS_rt_sigsuspend: case SYS_rt_sigtimedwait:
      return true;
    default:
      return false;
  }
}

}  // namespace

Vcpu::Next Vcpu::DeliverSignals(Context ctx, RunResult* result) {
  uint64_t reported = 0;  // signals the debugger has seen here already
  while (!process_.exited) {
    int sig;
    int32_t code;
    kernel_sigaction_t act;
    {
      // The thread's own signals first, then the process's.
      std::lock_guard<std::mutex> lock(process_.signal_mutex);
      const uint64_t own = task_.sig_pending.load() & ~task_.sigmask;
      const uint64_t shared = process_.shared_pending.load() & ~task_.sigmask;
      if (!(own | shared)) return Next::kContinue;
      sig = __builtin_ctzll(own ? own : shared) + 1;
      const uint64_t bit = uint64_t{1} << (sig - 1);
      code = own ? task_.sig_code[sig] : process_.shared_code[sig];
      if (debug_ && !(reported & bit) && !(debug_->pass_signals.load() & bit)) {
        // As under ptrace: the debugger sees the signal first, and the
        // program gets it only if the debugger resumes with it (Park makes
        // it this thread's again, with its siginfo).
        reported |= bit;
        task_.sig_code[sig] = code;
        sig = -sig;
      }
      if (sig > 0) {
        if (own) task_.sig_pending &= ~bit;
        else process_.shared_pending &= ~bit;
        act = process_.sigactions[sig];
        if ((act.flags & SA_RESETHAND) && act.handler != reinterpret_cast<uint64_t>(SIG_IGN) &&
            act.handler != reinterpret_cast<uint64_t>(SIG_DFL)) {
          process_.sigactions[sig].handler = reinterpret_cast<uint64_t>(SIG_DFL);
          process_.sigactions[sig].flags &= ~uint64_t{SA_SIGINFO};
        }
      }
    }
    if (sig < 0) {
      sig = -sig;
      const uint64_t bit = uint64_t{1} << (sig - 1);
      {
        std::lock_guard<std::mutex> lock(process_.signal_mutex);
        // The debugger decides: it stays pending only if it resumes with it.
        if (task_.sig_pending & bit) task_.sig_pending &= ~bit;
        else process_.shared_pending &= ~bit;
      }
      Stop stop{StopWhy::kSignal, sig};
      if (Park(stop, ctx, result) == Next::kEnd) return Next::kEnd;
      continue;
    }
    if (tracer_ && tracer_->enabled()) tracer_->Signal(trace_call_, task_.tid, sig, code, process_.pid, process_.uid);
    if (act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) continue;
    if (act.handler == reinterpret_cast<uint64_t>(SIG_DFL)) {
      if (DefaultIsIgnore(sig)) continue;  // SIGCHLD, SIGWINCH...
      KillProcess(sig, sig == SIGPIPE ? "broken pipe" : "sent itself the signal");
      return Next::kContinue;
    }
    if (!(act.flags & kSaRestorer)) {
      // x86-64 Linux needs a restorer to return through: without one the
      // process gets SIGSEGV (libcs always give one).
      KillProcess(SIGSEGV, "a signal handler without sa_restorer");
      return Next::kContinue;
    }
    if (act.handler >= kTaskSizeMax || act.restorer >= kTaskSizeMax) {
      KillProcess(SIGSEGV, "a signal handler outside user space");
      return Next::kContinue;
    }
    // The interrupted call: started over after the handler with
    // SA_RESTART, else it returns EINTR into the handler's frame.
    if (eintr_nr_ >= 0) {
      if ((act.flags & SA_RESTART) && !NoRestartAfterHandler(eintr_nr_)) RestartCall();
      eintr_nr_ = -1;
    }
    if (!PushSignalFrame(sig, code, act, ctx)) {
      KillProcess(SIGSEGV, "no room for a signal frame on the stack");
      return Next::kContinue;
    }
    task_.sigmask |= act.mask | ((act.flags & SA_NODEFER) ? 0 : uint64_t{1} << (sig - 1));
    task_.sigmask &= ~kSigKillStop;
    // Only the one frame: the handler's own hypercalls deliver the rest.
    return Next::kContinue;
  }
  return Next::kContinue;
}

bool Vcpu::PushSignalFrame(int sig, int32_t code, const kernel_sigaction_t& act, Context ctx) {
  UserRegs regs;
  Capture(ctx, &regs);
  const uint64_t rsp = regs.gpr[7];
  uint64_t* alt = task_.altstack;  // ss_sp, ss_flags, ss_size
  const bool alt_enabled = !(alt[1] & kSsDisable) && alt[2] != 0;
  const bool on_alt = alt_enabled && rsp - alt[0] <= alt[2];
  uint64_t sp = rsp - kRedZone;
  if ((act.flags & SA_ONSTACK) && alt_enabled && !on_alt) sp = alt[0] + alt[2];
  const uint64_t fp = (sp - kFpSize) & ~uint64_t{63};
  const uint64_t frame = ((fp - kFrameSize) & ~uint64_t{15}) - 8;
  if (frame > fp) return false;  // wrapped
  // Written by the monitor: held so another thread cannot take the pages'
  // write access away meanwhile.
  const auto hold = process_.mm.Hold();
  uint8_t* f = process_.mm.User(frame, fp + kFpSize - frame, Access::kWrite);
  if (!f) return false;
  std::memset(f, 0, fp + kFpSize - frame);
  auto put = [&](uint64_t off, uint64_t v) { std::memcpy(f + off, &v, 8); };
  put(0, act.restorer);
  // ucontext: uc_flags, uc_link stay 0; uc_stack as sigaltstack reports it.
  put(kUcOffset + kUcStack, alt[0]);
  put(kUcOffset + kUcStack + 8, (on_alt ? kSsOnstack : (alt_enabled ? 0 : kSsDisable)) | (alt[1] & kSsAutodisarm));
  put(kUcOffset + kUcStack + 16, alt[2]);
  const uint64_t mc = kUcOffset + kUcMcontext;
  for (int i = 0; i < 16; i++) put(mc + 8 * kMcGpr[i], regs.gpr[i]);
  put(mc + 8 * kMcRip, regs.rip);
  put(mc + 8 * kMcEflags, regs.rflags);
  put(mc + 8 * kMcSegs, uint64_t{USER_CS} | (uint64_t{USER_DS} << 48));  // cs, gs 0, fs 0, ss
  // The mask the handler returns to: the one rt_sigsuspend replaced, if it did.
  const uint64_t old_mask = task_.restore_sigmask ? task_.saved_sigmask : task_.sigmask.load();
  task_.restore_sigmask = false;
  put(mc + 8 * kMcOldmask, old_mask);
  put(mc + 8 * kMcFpstate, fp);
  put(kUcOffset + kUcSigmask, old_mask);
  // siginfo: signo, errno, code; the sender is the guest itself.
  const int32_t info[6] = {sig, 0, code, 0, process_.pid, static_cast<int32_t>(process_.uid)};
  std::memcpy(f + kInfoOffset, info, sizeof info);
  std::memcpy(f + (fp - frame), regs.fxsave, kFpSize);
  // Into the handler: handler(sig, &info, &uc), returning to the restorer.
  regs.gpr[0] = 0;
  regs.gpr[5] = static_cast<uint64_t>(sig);
  regs.gpr[4] = frame + kInfoOffset;
  regs.gpr[3] = frame + kUcOffset;
  regs.gpr[7] = frame;
  regs.rip = act.handler;
  regs.rflags &= ~uint64_t{0x10000 | 0x400 | 0x100};  // RF, DF, TF (as Linux)
  Apply(ctx, regs);
  // SS_AUTODISARM: the handler runs with the alternate stack disabled, and
  // rt_sigreturn gives it back (from the frame's uc_stack).
  if ((act.flags & SA_ONSTACK) && alt_enabled && !on_alt && (alt[1] & kSsAutodisarm)) {
    alt[0] = alt[2] = 0;
    alt[1] = kSsDisable;
  }
  return true;
}

int64_t Vcpu::SigReturn() {
  UserRegs regs;
  Capture(Context::kHypercall, &regs);
  // The restorer's `ret` popped pretcode: the ucontext is at rsp.
  const uint64_t uc = regs.gpr[7];
  // The frame is guest memory another thread may be writing: copied once,
  // and everything below reads and checks the copy.
  uint8_t f[kUcSize];
  if (!CopyInBytes(process_, uc, f, kUcSize)) {
    KillProcess(SIGSEGV, "rt_sigreturn without a signal frame");
    return -EFAULT;
  }
  auto get = [&](uint64_t off) {
    uint64_t v;
    std::memcpy(&v, f + off, 8);
    return v;
  };
  const uint64_t mc = kUcMcontext;
  for (int i = 0; i < 16; i++) regs.gpr[i] = get(mc + 8 * kMcGpr[i]);
  regs.rip = get(mc + 8 * kMcRip);
  regs.rflags = get(mc + 8 * kMcEflags);  // Apply keeps the flags a program may change
  if (regs.rip >= kTaskSizeMax) {
    // Linux would fault fetching there; the runtime's sysret must never see
    // a non-canonical or kernel address.
    KillProcess(SIGSEGV, "rt_sigreturn to an address outside user space");
    return -EFAULT;
  }
  const uint64_t fp = get(mc + 8 * kMcFpstate);
  if (fp) {
    if (!CopyInBytes(process_, fp, regs.fxsave, kFpSize)) {
      KillProcess(SIGSEGV, "rt_sigreturn with a bad FPU state");
      return -EFAULT;
    }
    uint32_t mxcsr;
    std::memcpy(&mxcsr, regs.fxsave + 24, 4);
    mxcsr &= 0xffff;  // reserved bits would make the restore fault
    std::memcpy(regs.fxsave + 24, &mxcsr, 4);
  }
  task_.sigmask = get(kUcSigmask) & ~kSigKillStop;
  // The alternate stack as the frame has it (SS_AUTODISARM gave it up for
  // the handler), unless the thread is still running on it.
  const uint64_t ss_sp = get(kUcStack), ss_flags = get(kUcStack + 8) & 0xffffffff, ss_size = get(kUcStack + 16);
  uint64_t* alt = task_.altstack;
  const bool on_alt = !(alt[1] & kSsDisable) && alt[2] && regs.gpr[7] - alt[0] <= alt[2];
  if (!on_alt && !(ss_flags & ~(kSsOnstack | kSsDisable | kSsAutodisarm))) {
    if (ss_flags & kSsDisable) {
      alt[0] = alt[2] = 0;
      alt[1] = kSsDisable;
    } else if (ss_size >= 2048) {
      alt[0] = ss_sp;
      alt[1] = ss_flags & ~kSsOnstack;
      alt[2] = ss_size;
    }
  }
  regs.orig_rax = ~uint64_t{0};
  // Every register as the frame has it, rcx and r11 included (the signal
  // may have come between any two instructions): the call returns straight
  // into the program, not through the stub.
  Apply(Context::kDirect, regs);
  EnterUserMode();
  returned_direct_ = true;
  return static_cast<int64_t>(regs.gpr[0]);
}

}  // namespace torov
