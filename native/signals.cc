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
constexpr uint64_t kSsOnstack = 1, kSsDisable = 2;
constexpr uint64_t kSaRestorer = 0x04000000;  // the kernel's SA_RESTORER

// struct sigcontext: the general registers in this order, then rip,
// eflags, cs/gs/fs/ss, err, trapno, oldmask, cr2, the fpstate pointer.
// DebugRegs::gpr is rax rbx rcx rdx rsi rdi rbp rsp r8..r15.
constexpr int kMcGpr[16] = {13, 11, 14, 12, 9, 8, 10, 15, 0, 1, 2, 3, 4, 5, 6, 7};
constexpr int kMcRip = 16, kMcEflags = 17, kMcSegs = 18, kMcOldmask = 21, kMcFpstate = 23;

constexpr uint64_t kSigKillStop = (uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1));

}  // namespace

Vcpu::Next Vcpu::DeliverSignals(RunResult* result) {
  uint64_t reported = 0;  // signals the debugger has seen here already
  while (!process_.exited) {
    const uint64_t ready = process_.sig_pending & ~process_.sigmask;
    if (!ready) return Next::kContinue;
    const int sig = __builtin_ctzll(ready) + 1;
    const uint64_t bit = uint64_t{1} << (sig - 1);
    process_.sig_pending &= ~bit;
    if (debug_ && !(reported & bit) && !(debug_->pass_signals.load() & bit)) {
      // As under ptrace: the debugger sees the signal first, and the
      // program gets it only if the debugger resumes with it (Park leaves
      // it pending again).
      reported |= bit;
      Stop stop{StopWhy::kSignal, sig};
      if (Park(stop, Context::kHypercall, result) == Next::kEnd) return Next::kEnd;
      continue;
    }
    kernel_sigaction_t& act = process_.sigactions[sig];
    if (tracer_ && tracer_->enabled()) tracer_->Signal(sig, process_.sig_code[sig], process_.pid, process_.uid);
    if (act.handler == reinterpret_cast<uint64_t>(SIG_IGN)) continue;
    if (act.handler == reinterpret_cast<uint64_t>(SIG_DFL)) {
      if (DefaultIsIgnore(sig)) continue;  // SIGCHLD, SIGWINCH...
      process_.Kill(sig, sig == SIGPIPE ? "broken pipe" : "sent itself the signal");
      return Next::kContinue;
    }
    if (!(act.flags & kSaRestorer)) {
      // x86-64 Linux needs a restorer to return through: without one the
      // process gets SIGSEGV (libcs always give one).
      process_.Kill(SIGSEGV, "a signal handler without sa_restorer");
      return Next::kContinue;
    }
    if (act.handler >= kTaskSizeMax || act.restorer >= kTaskSizeMax) {
      process_.Kill(SIGSEGV, "a signal handler outside user space");
      return Next::kContinue;
    }
    if (!PushSignalFrame(sig, act)) {
      process_.Kill(SIGSEGV, "no room for a signal frame on the stack");
      return Next::kContinue;
    }
    process_.sigmask |= act.mask | ((act.flags & SA_NODEFER) ? 0 : uint64_t{1} << (sig - 1));
    process_.sigmask &= ~kSigKillStop;
    if (act.flags & SA_RESETHAND) {
      act.handler = reinterpret_cast<uint64_t>(SIG_DFL);
      act.flags &= ~uint64_t{SA_SIGINFO};
    }
    // Only the one frame: the handler's own hypercalls deliver the rest.
    return Next::kContinue;
  }
  return Next::kContinue;
}

bool Vcpu::PushSignalFrame(int sig, const kernel_sigaction_t& act) {
  DebugRegs regs;
  Capture(Context::kHypercall, &regs);
  const uint64_t rsp = regs.gpr[7];
  const uint64_t* alt = process_.altstack;  // ss_sp, ss_flags, ss_size
  const bool alt_enabled = !(alt[1] & kSsDisable) && alt[2] != 0;
  const bool on_alt = alt_enabled && rsp - alt[0] <= alt[2];
  uint64_t sp = rsp - kRedZone;
  if ((act.flags & SA_ONSTACK) && alt_enabled && !on_alt) sp = alt[0] + alt[2];
  const uint64_t fp = (sp - kFpSize) & ~uint64_t{63};
  const uint64_t frame = ((fp - kFrameSize) & ~uint64_t{15}) - 8;
  if (frame > fp) return false;  // wrapped
  uint8_t* f = process_.mm.User(frame, fp + kFpSize - frame, Access::kWrite);
  if (!f) return false;
  std::memset(f, 0, fp + kFpSize - frame);
  auto put = [&](uint64_t off, uint64_t v) { std::memcpy(f + off, &v, 8); };
  put(0, act.restorer);
  // ucontext: uc_flags, uc_link stay 0; uc_stack as sigaltstack reports it.
  put(kUcOffset + kUcStack, alt[0]);
  put(kUcOffset + kUcStack + 8, on_alt ? kSsOnstack : (alt_enabled ? 0 : kSsDisable));
  put(kUcOffset + kUcStack + 16, alt[2]);
  const uint64_t mc = kUcOffset + kUcMcontext;
  for (int i = 0; i < 16; i++) put(mc + 8 * kMcGpr[i], regs.gpr[i]);
  put(mc + 8 * kMcRip, regs.rip);
  put(mc + 8 * kMcEflags, regs.rflags);
  put(mc + 8 * kMcSegs, uint64_t{USER_CS} | (uint64_t{USER_DS} << 48));  // cs, gs 0, fs 0, ss
  put(mc + 8 * kMcOldmask, process_.sigmask);
  put(mc + 8 * kMcFpstate, fp);
  put(kUcOffset + kUcSigmask, process_.sigmask);
  // siginfo: signo, errno, code; the sender is the guest itself.
  const int32_t info[6] = {sig, 0, process_.sig_code[sig], 0, process_.pid, static_cast<int32_t>(process_.uid)};
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
  Apply(Context::kHypercall, regs);
  return true;
}

int64_t Vcpu::SigReturn() {
  DebugRegs regs;
  Capture(Context::kHypercall, &regs);
  // The restorer's `ret` popped pretcode: the ucontext is at rsp.
  const uint64_t uc = regs.gpr[7];
  const uint8_t* f = process_.mm.User(uc, kUcSize, Access::kRead);
  if (!f) {
    process_.Kill(SIGSEGV, "rt_sigreturn without a signal frame");
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
    process_.Kill(SIGSEGV, "rt_sigreturn to an address outside user space");
    return -EFAULT;
  }
  const uint64_t fp = get(mc + 8 * kMcFpstate);
  if (fp) {
    const uint8_t* x = process_.mm.User(fp, kFpSize, Access::kRead);
    if (!x) {
      process_.Kill(SIGSEGV, "rt_sigreturn with a bad FPU state");
      return -EFAULT;
    }
    std::memcpy(regs.fxsave, x, kFpSize);
    uint32_t mxcsr;
    std::memcpy(&mxcsr, regs.fxsave + 24, 4);
    mxcsr &= 0xffff;  // reserved bits would make the restore fault
    std::memcpy(regs.fxsave + 24, &mxcsr, 4);
  }
  process_.sigmask = get(kUcSigmask) & ~kSigKillStop;
  regs.orig_rax = ~uint64_t{0};
  Apply(Context::kHypercall, regs);
  // The hypercall's result is rax: the interrupted point's own.
  return static_cast<int64_t>(regs.gpr[0]);
}

}  // namespace torov
