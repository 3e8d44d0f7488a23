#include "kvm/vcpu.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include "errors.h"
#include "kvm/runtime.h"
#include "hypercalls/hypercalls.h"
#include "kvm/kvm.h"
#include "sanitizer.h"

namespace torov {

namespace {

// Model-specific registers (Intel SDM vol. 4; not in the uapi headers).
constexpr uint32_t MSR_STAR = 0xc0000081, MSR_LSTAR = 0xc0000082, MSR_CSTAR = 0xc0000083,
                   MSR_SYSCALL_MASK = 0xc0000084, MSR_FS_BASE = 0xc0000100, MSR_GS_BASE = 0xc0000101,
                   MSR_KERNEL_GS_BASE = 0xc0000102;

constexpr uint64_t kCr0 = (1u << 0)      // PE
                          | (1u << 1)    // MP
                          | (1u << 4)    // ET
                          | (1u << 5)    // NE
                          | (1u << 16)   // WP
                          | (1u << 18)   // AM
                          | (1u << 31);  // PG
constexpr uint64_t kCr4Pae = 1u << 5, kCr4Pge = 1u << 7, kCr4Osfxsr = 1u << 9, kCr4Osxmmexcpt = 1u << 10,
                   kCr4Fsgsbase = 1u << 16, kCr4Osxsave = 1u << 18;
constexpr uint64_t kEfer = (1u << 0)      // SCE
                           | (1u << 8)    // LME
                           | (1u << 10)   // LMA
                           | (1u << 11);  // NXE
// What `syscall` clears in rflags (Linux's older value): TF, IF, DF, IOPL, NT, AC.
constexpr uint64_t kFmask = 0x47700;
// XSAVE components a Linux process has without asking: x87, SSE, AVX,
// AVX-512. Not MPX (gone), PKRU (needs CR4.PKE) or AMX (needs a prctl).
constexpr uint64_t kXcr0Mask = 0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0x80;
constexpr uint64_t kRflagsIf = 1u << 9, kRflagsFixed = 1u << 1, kTrapFlag = 1u << 8, kResumeFlag = 1u << 16;
// DR6: a single step (BS), and which debug register fired (B0-B3).
constexpr uint64_t kDr6Step = 1u << 14, kDr6Hits = 0xf;
// The flags a debugger may set for the application (Linux's ptrace FLAG_MASK):
// CF PF AF ZF SF TF DF OF NT RF AC ID; IF stays on, IOPL at 0.
constexpr uint64_t kUserFlags = USER_RFLAGS;  // runtime.h: the stub keeps the same

// The XSAVE area KVM_GET_XSAVE returns (standard format): the legacy FXSAVE
// region, the header, then the AVX component with the upper halves of YMM.
constexpr size_t kXsaveBvOffset = 512;
constexpr size_t kYmmhOffset = 576;

// Linux's ERESTARTSYS: what rax shows for a call a stop interrupted.
constexpr int64_t kErestartsys = 512;

// How long a parked vCPU spins for the debugger's next order before it sleeps.
constexpr int kSpinMicros = 1000;

void SetSegment(kvm_segment* s, uint16_t selector, bool code, int dpl) {
  std::memset(s, 0, sizeof *s);
  s->selector = selector;
  s->limit = 0xffffffff;
  s->present = 1;
  s->dpl = static_cast<uint8_t>(dpl);
  s->s = 1;
  s->g = 1;
  if (code) {
    s->type = 11;  // execute/read, accessed
    s->l = 1;
  } else {
    s->type = 3;  // read/write, accessed
    s->db = 1;
  }
}

void KickHandler(int) {}

// KVM_GET_MSRS / KVM_SET_MSRS on `n` entries; true when all were done.
bool MsrIo(int fd, unsigned long request, kvm_msr_entry* entries, uint32_t n) {
  std::vector<uint8_t> buf(sizeof(KvmMsrsHeader) + n * sizeof(kvm_msr_entry));
  reinterpret_cast<KvmMsrsHeader*>(buf.data())->nmsrs = n;
  uint8_t* data = buf.data() + sizeof(KvmMsrsHeader);
  std::memcpy(data, entries, n * sizeof(kvm_msr_entry));
  if (ioctl(fd, request, buf.data()) != static_cast<int>(n)) return false;
  std::memcpy(entries, data, n * sizeof(kvm_msr_entry));
  return true;
}

}  // namespace

int KickSignal() {
  static std::once_flag once;
  const int sig = SIGRTMIN + 2;
  std::call_once(once, [sig] {
    struct sigaction sa {};
    sa.sa_handler = KickHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: blocked host calls must return EINTR
    sigaction(sig, &sa, nullptr);
  });
  return sig;
}

const std::vector<unsigned long>& VcpuRequests() {
  static const std::vector<unsigned long> requests = {
      KVM_RUN,        KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS,       kKvmGetMsrs,  kKvmSetMsrs,
      kKvmSetCpuid2,  KVM_SET_XCRS, KVM_GET_FPU,  KVM_SET_FPU,   KVM_SET_GUEST_DEBUG, kKvmGetXsave, kKvmSetXsave,
  };
  return requests;
}

int SignalForVector(int vector) {
  switch (vector) {
    case 0: return SIGFPE;   // #DE
    case 1:
    case 3: return SIGTRAP;  // #DB, #BP
    case 6: return SIGILL;   // #UD
    case 11:                 // #NP
    case 12:                 // #SS
    case 17:                 // #AC
    case 18: return SIGBUS;  // #MC
    case 16:                 // #MF
    case 19: return SIGFPE;  // #XM
    default: return SIGSEGV; // #GP, #PF, #OF, #BR...
  }
}

KvmVcpu::KvmVcpu(int vm_fd, int index) : index_(index) {
  if (index < 0 || index >= RT_MAX_VCPUS) throw Error("EKVM", "vCPU " + std::to_string(index) + " has no runtime slot");
  int fd = ioctl(vm_fd, KVM_CREATE_VCPU, index);
  if (fd < 0) throw SystemError("EKVM", "KVM_CREATE_VCPU");
  fd_.Reset(fd);
  run_size_ = static_cast<size_t>(Kvm::Get().caps().vcpu_mmap_size);
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw SystemError("EKVM", "mmap of kvm_run");
  run_ = static_cast<kvm_run*>(p);
}

KvmVcpu::~KvmVcpu() {
  if (run_) munmap(run_, run_size_);
}

Vcpu::Vcpu(KvmVcpu& kvm, Process& process, Task& task)
    : process_(process), task_(task), kvm_(kvm), index_(kvm.index()), fd_(kvm.fd()), run_(kvm.run()) {
  task_.cpu = this;
  trace_call_.mm = &process_.mm;
  run_->immediate_exit = 0;
  has_xsave_ = Kvm::Get().caps().xsave;
  advances_rip_on_io_ = Kvm::Get().caps().flavour == "pvm";
  has_sync_regs_ = Kvm::Get().caps().sync_sregs;
}

Vcpu::~Vcpu() {
  if (task_.cpu == this) task_.cpu = nullptr;
}

void Vcpu::Setup() {
  const KvmCaps& caps = Kvm::Get().caps();
  const int fd = fd_;

  // CPUID as KVM can back it. Under PVM user-mode `cpuid` does not trap and
  // the guest sees the host CPU instead; both are consistent with CR4/XCR0.
  std::vector<uint8_t> buf(sizeof(KvmCpuidHeader) + caps.cpuid.size() * sizeof(kvm_cpuid_entry2));
  reinterpret_cast<KvmCpuidHeader*>(buf.data())->nent = static_cast<uint32_t>(caps.cpuid.size());
  std::memcpy(buf.data() + sizeof(KvmCpuidHeader), caps.cpuid.data(), caps.cpuid.size() * sizeof(kvm_cpuid_entry2));
  if (!kvm_.cpuid_set && ioctl(fd, kKvmSetCpuid2, buf.data()) < 0) throw SystemError("EKVM", "KVM_SET_CPUID2");
  kvm_.cpuid_set = true;
  const kvm_cpuid_entry2* leaf1 = FindCpuid(caps.cpuid, 1);
  const kvm_cpuid_entry2* leaf7 = FindCpuid(caps.cpuid, 7, 0);
  const kvm_cpuid_entry2* leafd = FindCpuid(caps.cpuid, 0xd, 0);
  const bool xsave = leaf1 && (leaf1->ecx & (1u << 26));
  const bool fsgsbase = leaf7 && (leaf7->ebx & 1u);

  kvm_sregs sregs;
  if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0) throw SystemError("EKVM", "KVM_GET_SREGS");
  sregs.cr0 = kCr0;
  sregs.cr3 = process_.mm.pml4();
  sregs.cr4 = kCr4Pae | kCr4Pge | kCr4Osfxsr | kCr4Osxmmexcpt | (xsave ? kCr4Osxsave : 0) |
              (fsgsbase ? kCr4Fsgsbase : 0);
  sregs.efer = kEfer;
  SetSegment(&sregs.cs, USER_CS, true, 3);
  SetSegment(&sregs.ss, USER_DS, false, 3);
  SetSegment(&sregs.ds, 0, false, 3);
  SetSegment(&sregs.es, 0, false, 3);
  SetSegment(&sregs.fs, 0, false, 3);
  SetSegment(&sregs.gs, 0, false, 3);
  sregs.gdt.base = RT_GDT;
  sregs.gdt.limit = TSS_SEL + 16 - 1;
  sregs.idt.base = RT_IDT;
  sregs.idt.limit = RT_EXC_VECTORS * 16 - 1;
  std::memset(&sregs.tr, 0, sizeof sregs.tr);
  sregs.tr.selector = TSS_SEL;
  sregs.tr.base = RT_TSS(index_);
  sregs.tr.limit = RT_TSS_LIMIT;
  sregs.tr.type = 11;  // busy 64-bit TSS
  sregs.tr.present = 1;
  std::memset(&sregs.ldt, 0, sizeof sregs.ldt);
  sregs.ldt.unusable = 1;
  if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0) throw SystemError("EKVM", "KVM_SET_SREGS");

  kvm_msr_entry entries[] = {
      {MSR_STAR, 0, (uint64_t{USER32_CS} << 48) | (uint64_t{KERNEL_CS} << 32)},
      {MSR_LSTAR, 0, static_cast<uint64_t>(RT_STUB(index_))},
      {MSR_CSTAR, 0, 0},
      {MSR_SYSCALL_MASK, 0, kFmask},
      {MSR_FS_BASE, 0, 0},
      {MSR_KERNEL_GS_BASE, 0, 0},
  };
  if (!MsrIo(fd, kKvmSetMsrs, entries, 6)) throw SystemError("EKVM", "KVM_SET_MSRS (syscall MSRs)");

  if (xsave && caps.xcrs && leafd) {
    kvm_xcrs xcrs{};
    xcrs.nr_xcrs = 1;
    xcrs.xcrs[0].xcr = 0;
    xcrs.xcrs[0].value = ((uint64_t{leafd->edx} << 32) | leafd->eax) & kXcr0Mask;
    ioctl(fd, KVM_SET_XCRS, &xcrs);  // best effort: x87|SSE is the reset value
  }

  kvm_fpu fpu{};
  fpu.fcw = 0x37f;  // what a Linux process starts with
  fpu.mxcsr = 0x1f80;
  if (ioctl(fd, KVM_SET_FPU, &fpu) < 0) throw SystemError("EKVM", "KVM_SET_FPU");

}

void Vcpu::EnableDebug(DebugState* state, DebugMechanisms mechanisms, std::function<void()> report,
                       bool initial_stop) {
  debug_ = state;
  initial_stop_ = initial_stop;
  {
    std::lock_guard<std::mutex> lock(debug_->mutex);
    debug_->threads[task_.tid];  // a live thread from now on
  }
  mech_ = mechanisms;
  report_ = std::move(report);
}

void Vcpu::SetEntry(const InitialState& init) {
  kvm_regs regs{};
  regs.rip = init.rip;
  regs.rsp = init.rsp;
  regs.rflags = kRflagsFixed | kRflagsIf;
  if (ioctl(fd_, KVM_SET_REGS, &regs) < 0) throw SystemError("EKVM", "KVM_SET_REGS");
}

bool Vcpu::SetSegmentBase(bool fs, uint64_t base) {
  kvm_msr_entry e{fs ? MSR_FS_BASE : MSR_GS_BASE, 0, base};
  return MsrIo(fd_, kKvmSetMsrs, &e, 1);
}

bool Vcpu::GetSegmentBase(bool fs, uint64_t* base) {
  kvm_msr_entry e{fs ? MSR_FS_BASE : MSR_GS_BASE, 0, 0};
  if (!MsrIo(fd_, kKvmGetMsrs, &e, 1)) return false;
  *base = e.data;
  return true;
}

bool Vcpu::RunOnce() {
  return ioctl(fd_, KVM_RUN, 0) == 0 && run_->exit_reason == KVM_EXIT_IO && run_->io.port == HC_PORT;
}

bool Vcpu::Enter() {
  // Syncing costs KVM a copy at every exit: only worth it when stops read
  // the registers, that is with a debugger.
  const bool sync = has_sync_regs_ && debug_;
  run_->kvm_valid_regs = sync ? KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS : 0;
  const bool ok = ioctl(fd_, KVM_RUN, 0) == 0;
  regs_ok_ = sregs_ok_ = sync;  // KVM stores them on every way out of KVM_RUN
  return ok;
}

kvm_regs& Vcpu::Regs() {
  if (!regs_ok_) {
    if (ioctl(fd_, KVM_GET_REGS, &run_->s.regs.regs) < 0) throw SystemError("EKVM", "KVM_GET_REGS");
    regs_ok_ = true;
  }
  return run_->s.regs.regs;
}

const kvm_sregs& Vcpu::Sregs() {
  if (!sregs_ok_) {
    if (ioctl(fd_, KVM_GET_SREGS, &run_->s.regs.sregs) < 0) throw SystemError("EKVM", "KVM_GET_SREGS");
    sregs_ok_ = true;
  }
  return run_->s.regs.sregs;
}

void Vcpu::RegsChanged() {
  if (run_->kvm_valid_regs & KVM_SYNC_X86_REGS) {
    run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
  } else if (ioctl(fd_, KVM_SET_REGS, &run_->s.regs.regs) < 0) {
    throw SystemError("EKVM", "KVM_SET_REGS");
  }
}

void Vcpu::Kick(bool signal) {
  task_.kick_pending.store(true);
  // Written by whichever thread kicks and by this vCPU's thread (Run), and
  // read by the kernel at KVM_RUN: an atomic byte, not a plain one.
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (signal) Resignal();
  if (kick_notice_) kick_notice_();
}

void Vcpu::Resignal() {
  if (thread_known_.load(std::memory_order_acquire)) pthread_kill(thread_, KickSignal());
}

bool Vcpu::StackPointer(uint64_t* sp) {
  *sp = Regs().rsp;
  return true;
}

bool Vcpu::ForkState(uint64_t stack, bool set_tls, uint64_t tls, ThreadStart* out) {
  // The parent is in the clone hypercall: the program's registers are the
  // vCPU's, but for rip, rflags and the result, which are in the call.
  out->regs = Regs();
  out->regs.rax = 0;
  out->regs.rip = out->regs.rcx = call_.rip;
  out->regs.rflags = (call_.rflags & kUserFlags & ~(kTrapFlag | kResumeFlag)) | kRflagsFixed | kRflagsIf;
  out->regs.r11 = out->regs.rflags;
  if (stack) out->regs.rsp = stack;
  const kvm_sregs& sr = Sregs();
  out->fs_base = set_tls ? tls : sr.fs.base;
  out->gs_base = sr.gs.base;
  out->has_xsave = has_xsave_ && ioctl(fd_, kKvmGetXsave, &out->xsave) == 0;
  return true;
}

void Vcpu::SetStart(const ThreadStart& start) {
  if (ioctl(fd_, KVM_SET_REGS, &start.regs) < 0) throw SystemError("EKVM", "KVM_SET_REGS");
  if (!SetSegmentBase(true, start.fs_base) || !SetSegmentBase(false, start.gs_base))
    throw SystemError("EKVM", "KVM_SET_MSRS (segment bases)");
  if (start.has_xsave && ioctl(fd_, kKvmSetXsave, &start.xsave) < 0) throw SystemError("EKVM", "KVM_SET_XSAVE");
  regs_ok_ = sregs_ok_ = false;
}

bool Vcpu::InRuntime(uint64_t rip) const { return rip >= RT_BASE && rip < RT_LIMIT; }

int64_t Vcpu::Dispatch(uint64_t nr, const Args& args) {
  if (nr == SYS_rt_sigreturn) return SigReturn();
#ifdef TOROV_SANITIZER
  if (nr == SYS_getppid && SanitizerCanaryOn()) SanitizerCanary();
#endif
  const Handler handler = Hypercalls().handlers[nr];
  const bool shared = process_.ram.has_shared();
  const uint64_t faults = shared ? process_.ram.shared_faults() : 0;
  int64_t ret = handler ? handler(process_, task_, args) : -ENOSYS;
  if (shared) {
    // The monitor touched a shared file's page past its end while serving
    // this call (memory.cc's "surviving a shared file's end"): EFAULT, as
    // Linux answers. Pages zeroed for this call or any other (the
    // debugger's reads, a signal frame) are the file's again before the
    // next.
    if (process_.ram.FaultedSince(faults)) ret = -EFAULT;
    if (process_.ram.zeroed_pending()) process_.mm.RemapShared();
  }
  // Writing to a broken pipe or socket sends a Linux process SIGPIPE
  // unless it asked for MSG_NOSIGNAL. The monitor itself never gets
  // SIGPIPE (Node ignores it).
  if (ret == -EPIPE) {
    bool nosignal = false;
    if (nr == SYS_sendto) nosignal = args[3] & MSG_NOSIGNAL;
    if (nr == SYS_sendmsg) nosignal = args[2] & MSG_NOSIGNAL;
    const bool writes = nr == SYS_write || nr == SYS_writev || nr == SYS_pwrite64 || nr == SYS_pwritev ||
                        nr == SYS_sendto || nr == SYS_sendmsg || nr == SYS_sendfile;
    if (writes && !nosignal) SignalSelf(task_, SIGPIPE, SI_USER);
  }
  return ret;
}

void Vcpu::ReadCall() {
  // One copy of the slot, word by word through volatile loads so that the
  // compiler cannot fetch any of them again later: from here on the slot is
  // not read (another guest thread may be rewriting it right now).
  const volatile uint64_t* slot = Slot();
  call_.nr = slot[HC_NR / 8];
  for (int i = 0; i < 6; i++) call_.args[i] = slot[HC_A0 / 8 + i];
  call_.rip = slot[HC_RIP / 8];
  call_.rflags = slot[HC_RFLAGS / 8];
  call_.ret = 0;
}

void Vcpu::WriteCall() {
  // What the stub takes back: the result, and a return point and flags the
  // monitor chose (a debugger may have moved them), with only the flags a
  // program may set. The stub checks them again at CPL 0 (runtime.S): the
  // slot may be the guest's to write.
  volatile uint64_t* slot = Slot();
  slot[HC_RET / 8] = static_cast<uint64_t>(call_.ret);
  slot[HC_RIP / 8] = call_.rip;
  slot[HC_RFLAGS / 8] = (call_.rflags & kUserFlags) | kRflagsFixed | kRflagsIf;
}

void Vcpu::Hypercall(RunResult* result, Next* next) {
  *next = Next::kContinue;
  Context ctx = Context::kHypercall;
  returned_direct_ = false;
  // A single step over `syscall`. With the trap flag, it came in with the
  // application's flags. With KVM's step, a step was under way, so this
  // syscall was the instruction stepped, and the flags it saved hold KVM's
  // trap flag, which is not the program's. The step ends when the hypercall
  // has run, at the instruction after the syscall, so the return path must
  // not trap.
  bool stepped = debug_ && (KvmStep() ? stepping_ : (call_.rflags & kTrapFlag) != 0);
  if (stepped) call_.rflags &= ~kTrapFlag;
  kvm_stepping_ = false;

  if (debug_ && debug_->Catches(call_.nr)) {
    call_.ret = -ENOSYS;  // rax at a syscall-entry stop, as on Linux
    Stop stop{StopWhy::kSyscallEntry, SIGTRAP};
    stop.syscall = static_cast<int64_t>(call_.nr);
    if (Park(stop, ctx, result) == Next::kEnd) {
      *next = Next::kEnd;
      return;
    }
    // The debugger may have changed orig_rax (-1 skips the call) and the
    // arguments: they are in call_ (Apply).
    if (stepping_) {
      stepped = true;
      stepping_ = false;
      call_.rflags &= ~kTrapFlag;
    }
  }
  const uint64_t nr = call_.nr;
  const Args& args = call_.args;

  // rt_sigreturn has no arguments: its trace shows the frame at the stack
  // pointer (the mask it restores), as strace does.
  // (A register read, only then: the hot path reads no registers.)
  Args frame;
  if (nr == SYS_rt_sigreturn && tracer_ && tracer_->enabled()) frame[0] = Regs().rsp;
  const bool traced = Traced(nr, nr == SYS_rt_sigreturn ? frame : args);
  bool denied = false;
  int64_t ret;
  if (nr == ~uint64_t{0}) {
    ret = call_.ret;  // skipped: rax as the debugger left it
  } else if (nr >= kMaxHypercall) {
    ret = -ENOSYS;
  } else if (!process_.Allowed(nr) && !IsSelfExeReadlink(process_, nr, args)) {
    // A denied hypercall never reaches its handler, so never the host.
    ret = -EPERM;
    denied = true;
    process_.denied_count.fetch_add(1, std::memory_order_relaxed);
    process_.counts[nr].fetch_add(1, std::memory_order_relaxed);
    if (debug_ && debug_->stop_on_denied) {
      call_.ret = ret;
      Stop stop{StopWhy::kDenied, SIGSYS};
      stop.syscall = static_cast<int64_t>(nr);
      if (Park(stop, ctx, result) == Next::kEnd) {
        if (traced) EndTrace(nr, ret, true);
        *next = Next::kEnd;
        return;
      }
      ret = call_.ret;
    } else if (process_.config.on_denied == OnDenied::kKill) {
      process_.denied_nr = static_cast<int>(nr);
      KillProcess(SIGSYS, "denied");
    }
  } else {
    process_.counts[nr].fetch_add(1, std::memory_order_relaxed);
    if (!process_.needed[nr].load(std::memory_order_relaxed) && !IsSelfExeReadlink(process_, nr, args))
      process_.needed[nr].store(true, std::memory_order_relaxed);
    ret = Dispatch(nr, args);
  }
  if (traced) EndTrace(nr, ret, denied);
  if (returned_direct_) {
    // rt_sigreturn put the registers back into the vCPU: the program goes
    // on from there, not through the stub.
    ctx = exit_ctx_ = Context::kDirect;
  } else {
    call_.ret = ret;
  }
  // A call a signal cut short (EINTR, with no stop requested) starts over
  // unless the signal runs a handler that does not ask for that.
  eintr_nr_ = ret == -EINTR && ctx == Context::kHypercall && !flat_call_ && nr < kMaxHypercall && !process_.interrupted()
                  ? static_cast<int>(nr)
                  : -1;
  if (task_.Deliverable() && DeliverSignals(ctx, result) == Next::kEnd) {
    *next = Next::kEnd;
    return;
  }
  if (eintr_nr_ >= 0) RestartCall();
  if (task_.restore_sigmask) {
    // rt_sigsuspend ran no handler: its mask goes.
    task_.sigmask = task_.saved_sigmask;
    task_.restore_sigmask = false;
  }
  if (process_.exited || task_.exiting) return;

  // An all-stop (Ctrl-C, or another thread's event) during the hypercall:
  // if it cut a blocking host call short, the thread stops as Linux shows a
  // task stopped in a syscall (pc after it, rax -ERESTARTSYS, orig_rax the
  // number), and the call starts over when it goes on unless the debugger
  // changed that; otherwise the program stops right after the call.
  if (!debug_) return;
  bool restarted = false;
  if (process_.stop_request.load() == Process::kInterrupt) {
    if (ret == -EINTR && nr < kMaxHypercall && ctx == Context::kHypercall && !flat_call_) {
      call_.ret = -kErestartsys;
      restart_nr_ = static_cast<int>(nr);
      restarted = true;
    }
    interrupt_pending_ = true;
  }
  const uint64_t resume = ctx == Context::kHypercall ? call_.rip : Regs().rip;
  Stop stop;
  if (debug_->Catches(nr) && !restarted) {
    stop = Stop{StopWhy::kSyscallReturn, SIGTRAP};
    stop.syscall = static_cast<int64_t>(nr);
  } else if (interrupt_pending_) {
    stop = Stop{StopWhy::kInterrupt, SIGINT};
  } else if (stepped && InStepRange(resume)) {
    // Range stepping goes on from the return address.
    stepping_ = true;
    if (!KvmStep()) {
      SetTrapFlag(ctx, true);
      if (ctx == Context::kHypercall) skip_trap_at_ = resume;
    }
    return;
  } else if (stepped) {
    stop = Stop{StopWhy::kStep, SIGTRAP};
    stepping_ = false;
  } else {
    return;
  }
  interrupt_pending_ = false;
  const uint64_t rip = call_.rip;
  if (Park(stop, ctx, result) == Next::kEnd) {
    *next = Next::kEnd;
  } else if (restarted && call_.ret == -kErestartsys && call_.rip == rip) {
    eintr_nr_ = restart_nr_;
    RestartCall();
  }
  restart_nr_ = -1;
}

void Vcpu::RestartCall() {
  // As a restarted Linux syscall: back on the `syscall` (0f 05) with rax
  // the number again.
  call_.ret = eintr_nr_;
  call_.rip -= 2;
  eintr_nr_ = -1;
}

void Vcpu::FlatHypercall(RunResult* result, Next* next) {
  // ToroV's ABI: `out` with the number in eax and the Linux arguments in
  // registers, which are this vCPU's own: no other thread can change them.
  // The call goes through the same gate as `syscall`'s, and its result
  // comes back into rax. Not the hot path: it costs two register ioctls.
  kvm_regs& regs = Regs();
  // The call returns after the `out`, as a syscall does. PVM has moved rip
  // past it already; VT-x and AMD-V leave it on the `out` and skip it at
  // the next KVM_RUN, unless rip has changed meanwhile.
  const uint64_t at = regs.rip;
  const uint64_t resume = at + (advances_rip_on_io_ ? 0 : OutLength(at));
  call_.nr = regs.rax & 0xffffffff;
  call_.args = Args(regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9);
  call_.rip = resume;
  call_.rflags = regs.rflags;
  call_.ret = 0;
  flat_call_ = true;
  Hypercall(result, next);
  flat_call_ = false;
  if (*next == Next::kEnd || returned_direct_) return;
  kvm_regs& after = Regs();  // a debugger stop may have changed them
  after.rax = static_cast<uint64_t>(call_.ret);
  if (call_.rip != resume) after.rip = call_.rip;
  else after.rip = advances_rip_on_io_ ? resume : at;
  after.rflags = (call_.rflags & kUserFlags) | kRflagsFixed | kRflagsIf;
  RegsChanged();
}

uint64_t Vcpu::OutLength(uint64_t rip) {
  // out imm8, al/ax/eax (E6/E7 ib), out dx, al/ax/eax (EE/EF), after an
  // operand-size prefix (66) for ax.
  const uint8_t* p = process_.mm.User(rip, 3, Access::kRead);
  if (!p) return 0;
  const uint64_t prefix = p[0] == 0x66 ? 1 : 0;
  const uint8_t op = p[prefix];
  if (op == 0xe6 || op == 0xe7) return prefix + 2;
  if (op == 0xee || op == 0xef) return prefix + 1;
  return 0;
}

bool Vcpu::Traced(uint64_t nr, const Args& args) {
  return tracer_ && tracer_->enabled() && tracer_->Begin(trace_call_, task_.tid, nr, args.data());
}

void Vcpu::EndTrace(uint64_t nr, int64_t ret, bool denied) {
  uint8_t flags = denied ? kTraceDenied : 0;
  if ((process_.exited && nr == SYS_exit_group) || (nr == SYS_exit && task_.exiting)) flags |= kTraceNoReturn;
  tracer_->End(trace_call_, ret, flags);
}

// ---- the application's registers at a stop

void Vcpu::Capture(Context ctx, UserRegs* out) {
  const int fd = fd_;
  const kvm_regs& r = Regs();
  const kvm_sregs& sr = Sregs();
  std::memset(out, 0, sizeof *out);
  const uint64_t gpr[16] = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp,
                            r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
  std::memcpy(out->gpr, gpr, sizeof gpr);
  out->rip = r.rip;
  out->rflags = r.rflags;
  out->seg[0] = sr.cs.selector;
  out->seg[1] = sr.ss.selector;
  out->seg[2] = sr.ds.selector;
  out->seg[3] = sr.es.selector;
  out->seg[4] = sr.fs.selector;
  out->seg[5] = sr.gs.selector;
  out->fs_base = sr.fs.base;
  out->gs_base = sr.gs.base;
  out->orig_rax = ~uint64_t{0};
  if (ctx == Context::kException) {
    const uint64_t* frame = reinterpret_cast<const uint64_t*>(process_.ram.Phys(r.rsp, 7 * 8));
    if (!frame || !OnExceptionStack(r.rsp)) throw Error("EKVM", "the guest runtime's exception frame is unreadable");
    out->rip = frame[2];
    out->seg[0] = frame[3];
    out->rflags = frame[4];
    out->gpr[7] = frame[5];
    out->seg[1] = frame[6];
  } else if (ctx == Context::kHypercall) {
    // The call's registers as the monitor holds them (ReadCall), the
    // arguments included: what the debugger sees is what the handler used.
    out->gpr[0] = static_cast<uint64_t>(call_.ret);
    out->gpr[5] = call_.args[0];  // rdi rsi rdx r10 r8 r9
    out->gpr[4] = call_.args[1];
    out->gpr[3] = call_.args[2];
    out->gpr[10] = call_.args[3];
    out->gpr[8] = call_.args[4];
    out->gpr[9] = call_.args[5];
    if (!flat_call_) {
      out->gpr[2] = call_.rip;  // rcx and r11 after `syscall`, as on Linux
      out->gpr[11] = call_.rflags;
    }
    out->rip = call_.rip;
    out->rflags = call_.rflags;
    out->seg[0] = USER_CS;  // the stub may run at CPL 0; the application does not
    out->seg[1] = USER_DS;
    const StopWhy why = debug_ ? parking_why_ : StopWhy::kInitial;
    if (why == StopWhy::kSyscallEntry || why == StopWhy::kSyscallReturn || why == StopWhy::kDenied || restart_nr_ >= 0)
      out->orig_rax = call_.nr;
  }
  // x87, SSE and AVX state: the XSAVE area holds all three.
  KvmXsave xsave;
  if (has_xsave_ && ioctl(fd, kKvmGetXsave, &xsave) == 0) {
    const auto* area = reinterpret_cast<const uint8_t*>(xsave.region);
    std::memcpy(out->fxsave, area, sizeof out->fxsave);
    uint64_t bv;
    std::memcpy(&bv, area + kXsaveBvOffset, 8);
    if (bv & 4) std::memcpy(out->ymmh, area + kYmmhOffset, sizeof out->ymmh);
  } else {
    kvm_fpu fpu;
    if (ioctl(fd, KVM_GET_FPU, &fpu) == 0) {
      uint8_t* x = out->fxsave;
      std::memcpy(x + 0, &fpu.fcw, 2);
      std::memcpy(x + 2, &fpu.fsw, 2);
      x[4] = fpu.ftwx;
      std::memcpy(x + 6, &fpu.last_opcode, 2);
      std::memcpy(x + 8, &fpu.last_ip, 8);
      std::memcpy(x + 16, &fpu.last_dp, 8);
      std::memcpy(x + 24, &fpu.mxcsr, 4);
      for (int i = 0; i < 8; i++) std::memcpy(x + 32 + 16 * i, fpu.fpr[i], 16);
      for (int i = 0; i < 16; i++) std::memcpy(x + 160 + 16 * i, fpu.xmm[i], 16);
    }
  }
}

void Vcpu::Apply(Context ctx, const UserRegs& in) {
  const int fd = fd_;
  kvm_regs& r = Regs();
  const uint64_t keep_rsp = r.rsp, keep_rip = r.rip, keep_flags = r.rflags;
  __u64* g[16] = {&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rbp, &r.rsp,
                  &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
  for (int i = 0; i < 16; i++) *g[i] = in.gpr[i];
  const uint64_t flags = (in.rflags & kUserFlags) | kRflagsFixed | kRflagsIf;
  if (ctx == Context::kException) {
    auto* frame = reinterpret_cast<uint64_t*>(process_.ram.Phys(keep_rsp, 7 * 8));
    frame[2] = in.rip;
    frame[4] = flags;
    frame[5] = in.gpr[7];
    r.rsp = keep_rsp;
    r.rip = keep_rip;
    r.rflags = keep_flags;
  } else if (ctx == Context::kHypercall) {
    call_.ret = static_cast<int64_t>(in.gpr[0]);
    call_.rip = in.rip;
    call_.rflags = flags;
    call_.nr = in.orig_rax;
    call_.args = Args(in.gpr[5], in.gpr[4], in.gpr[3], in.gpr[10], in.gpr[8], in.gpr[9]);
    r.rip = keep_rip;
    r.rflags = keep_flags;
  } else {
    r.rip = in.rip;
    r.rflags = flags;
  }
  RegsChanged();
  const kvm_sregs& sr = Sregs();
  if (sr.fs.base != in.fs_base) SetSegmentBase(true, in.fs_base);
  if (sr.gs.base != in.gs_base) SetSegmentBase(false, in.gs_base);
  KvmXsave xsave;
  if (has_xsave_ && ioctl(fd, kKvmGetXsave, &xsave) == 0) {
    auto* area = reinterpret_cast<uint8_t*>(xsave.region);
    std::memcpy(area, in.fxsave, 160 + 256);  // control words, x87 and XMM; not the reserved tail
    std::memcpy(area + kYmmhOffset, in.ymmh, sizeof in.ymmh);
    uint64_t bv;
    std::memcpy(&bv, area + kXsaveBvOffset, 8);
    bv |= 7;
    std::memcpy(area + kXsaveBvOffset, &bv, 8);
    ioctl(fd, kKvmSetXsave, &xsave);
  } else {
    kvm_fpu fpu{};
    const uint8_t* x = in.fxsave;
    std::memcpy(&fpu.fcw, x + 0, 2);
    std::memcpy(&fpu.fsw, x + 2, 2);
    fpu.ftwx = x[4];
    std::memcpy(&fpu.last_opcode, x + 6, 2);
    std::memcpy(&fpu.last_ip, x + 8, 8);
    std::memcpy(&fpu.last_dp, x + 16, 8);
    std::memcpy(&fpu.mxcsr, x + 24, 4);
    for (int i = 0; i < 8; i++) std::memcpy(fpu.fpr[i], x + 32 + 16 * i, 16);
    for (int i = 0; i < 16; i++) std::memcpy(fpu.xmm[i], x + 160 + 16 * i, 16);
    ioctl(fd, KVM_SET_FPU, &fpu);
  }
}

void Vcpu::SetTrapFlag(Context ctx, bool on) {
  auto set = [on](auto* f) { *f = on ? (*f | kTrapFlag) : (*f & ~kTrapFlag); };
  if (ctx == Context::kHypercall) {
    set(&call_.rflags);
    return;
  }
  kvm_regs& r = Regs();
  if (ctx == Context::kException) {
    set(reinterpret_cast<uint64_t*>(process_.ram.Phys(r.rsp + 4 * 8, 8)));
  } else {
    set(&r.rflags);
    RegsChanged();
  }
}

// ---- parking

void Vcpu::AwaitOrder(const std::atomic<bool>& ordered) {
  // A debugger that steps or continues from breakpoint to breakpoint sends
  // the next order within a few hundred microseconds. Waking a sleeping
  // thread costs ~20 µs on a nested host, so spin for a while before
  // sleeping on the condition variable.
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::microseconds(kSpinMicros);
  for (unsigned i = 1; !ordered.load(std::memory_order_acquire); i++) {
    __builtin_ia32_pause();
    if (i % 256 == 0 && Clock::now() > until) return;
  }
}

Vcpu::Next Vcpu::Park(const Stop& stop_in, Context ctx, RunResult* result) {
  Stop stop = stop_in;
  Order order;
  bool event_thread = false;
  const int tid = task_.tid;
  const std::atomic<bool>* ordered;  // the map's node stays while this thread lives
  task_.parked.store(true);
  task_.kick_pending.store(false);
  {
    std::unique_lock<std::mutex> lock(debug_->mutex);
    ThreadStop& me = debug_->threads[tid];
    // An interrupt (Ctrl-C, or another thread's all-stop) is this thread's
    // event only if no other thread has one already.
    if (stop.why == StopWhy::kInterrupt &&
        (debug_->stopping || (debug_->interrupt_tid && debug_->interrupt_tid != tid && debug_->threads.count(debug_->interrupt_tid))))
      stop = Stop{StopWhy::kQuiet, 0};
    if (stop.why == StopWhy::kInterrupt) debug_->interrupt_tid = 0;
    me.stop = stop;
    parking_why_ = stop.why;
    Capture(ctx, &me.regs);
    // The trap flag torov set to step is not the program's: ptrace hides it
    // too.
    if (tf_ours_) me.regs.rflags &= ~kTrapFlag;
    me.regs_dirty = false;
    me.order = Order{};
    me.ordered.store(false, std::memory_order_relaxed);
    me.parked = true;
    me.event = false;
    ordered = &me.ordered;
    if (stop.why != StopWhy::kQuiet) {
      if (debug_->stopping) {
        me.event = true;  // another thread's stop is reported first
      } else {
        debug_->stopping = true;
        debug_->event_tid = tid;
        event_thread = true;
      }
    }
    debug_->changed.notify_all();
  }
  if (event_thread) {
    // All-stop: every other thread parks before the debugger hears of this.
    if (process_.threads) process_.threads->StopOthers(&task_);
    bool report;
    {
      std::unique_lock<std::mutex> lock(debug_->mutex);
      debug_->changed.wait(lock, [this] { return debug_->AllParked(); });
      int interrupt = Process::kInterrupt;
      process_.stop_request.compare_exchange_strong(interrupt, Process::kNoStop);
      debug_->parks.fetch_add(1, std::memory_order_release);
      report = !debug_->waiter;
    }
    if (report) report_();
  }
  AwaitOrder(*ordered);
  {
    std::unique_lock<std::mutex> lock(debug_->mutex);
    ThreadStop& me = debug_->threads[tid];
    debug_->changed.wait(lock, [&me] { return me.order.kind != OrderKind::kNone; });
    order = me.order;
    me.parked = false;
    me.ordered.store(false, std::memory_order_relaxed);
    if (me.regs_dirty) Apply(ctx, me.regs);
    if (DebugRegisters() && debug_->hw_epoch != hw_epoch_) LoadDebugRegisters();
  }
  task_.parked.store(false);
  switch (order.kind) {
    case OrderKind::kKill:
      result->kind = RunResult::kKilled;
      return Next::kEnd;
    case OrderKind::kDetach:
      stepping_ = false;
      {
        std::lock_guard<std::mutex> lock(debug_->mutex);
        debug_->watches.clear();
        debug_->hw_breaks.clear();
      }
      if (mech_.any()) DisarmGuestDebug();
      if (!KvmStep()) SetTrapFlag(ctx, false);
      UpdateWatches();
      debug_ = nullptr;
      return Next::kContinue;
    default:
      break;
  }
  if (order.signal > 0 && order.signal <= 64) {
    // The program goes on with a signal. With a handler, it is delivered as
    // the stopped hypercall returns (or at the next one); a fault cannot
    // run a handler yet, so a fault's signal still ends the program, as
    // does any signal whose default action is not to ignore it.
    const int sig = order.signal;
    uint64_t handler;
    {
      std::lock_guard<std::mutex> lock(process_.signal_mutex);
      handler = process_.sigactions[sig].handler;
    }
    const bool handled = handler != reinterpret_cast<uint64_t>(SIG_IGN) && handler != reinterpret_cast<uint64_t>(SIG_DFL);
    const bool ignored = sig != SIGKILL && (handler == reinterpret_cast<uint64_t>(SIG_IGN) ||
                                            (handler == reinterpret_cast<uint64_t>(SIG_DFL) && DefaultIsIgnore(sig)));
    const bool fault = stop.why == StopWhy::kSignal && ctx == Context::kException;
    if (sig != SIGKILL && handled && !fault) {
      std::lock_guard<std::mutex> lock(process_.signal_mutex);
      task_.sig_pending |= uint64_t{1} << (sig - 1);
      // The signal it stopped for keeps its siginfo, as under ptrace; one
      // the debugger adds comes from "a user".
      if (stop.why != StopWhy::kSignal || stop.signal != sig) task_.sig_code[sig] = SI_USER;
    } else if (!ignored) {
      return EndBySignal(sig, "signal from the debugger", result);
    }
  }
  stepping_ = order.step;
  range_start_ = order.range_start;
  range_end_ = order.range_end;
  if (KvmStep()) return Next::kContinue;  // ArmGuestDebug() steps, at the next entry
  tf_ours_ = order.step;
  skip_trap_at_ = order.step && ctx == Context::kHypercall ? call_.rip : kNoAddress;
  SetTrapFlag(ctx, order.step);
  return Next::kContinue;
}

// ---- watchpoints: page protection

void Vcpu::GuardPage(uint64_t page, bool on) {
  int mask = 0;
  if (on && debug_ && debug_->watches_by_pages)
    for (const Watch& w : debug_->watches)
      if (w.addr < page + kPageSize && page < w.addr + w.len)
        mask |= w.kind == 'w' ? PROT_WRITE : (PROT_READ | PROT_WRITE | PROT_EXEC);
  process_.mm.SetGuard(page, mask);
}

void Vcpu::UpdateWatches() {
  std::set<uint64_t> pages;
  for (const auto& [page, mask] : process_.mm.guards()) pages.insert(page);
  if (debug_ && debug_->watches_by_pages)
    for (const Watch& w : debug_->watches)
      for (uint64_t p = PageDown(w.addr); p < w.addr + w.len; p += kPageSize) pages.insert(p);
  for (uint64_t p : pages) GuardPage(p, true);
}

// ---- exceptions

Vcpu::Next Vcpu::Exception(RunResult* result) {
  const kvm_regs& r = Regs();
  // The stub left [vector, error code, rip, cs, rflags, rsp, ss] on the IST stack.
  uint64_t* frame = OnExceptionStack(r.rsp) ? reinterpret_cast<uint64_t*>(process_.ram.Phys(r.rsp, 7 * 8)) : nullptr;
  if (!frame) {
    result->kind = RunResult::kError;
    result->message = "the guest runtime's exception frame is unreadable";
    return Next::kEnd;
  }
  // An instruction KVM was single-stepping faulted: the flags the CPU saved
  // hold KVM's trap flag, which is not the program's.
  if (kvm_stepping_) frame[4] &= ~kTrapFlag;
  kvm_stepping_ = false;
  const int vector = static_cast<int>(frame[0]);
  const uint64_t error_code = frame[1];
  const uint64_t rip = frame[2];
  const uint64_t cr2 = vector == 14 ? Sregs().cr2 : 0;

  // ToroV's flat programs end with `hlt`, which faults at CPL 3.
  if (process_.config.flat && vector == 13) {
    const uint8_t* insn = process_.mm.User(rip, 1, Access::kRead);
    if (insn && *insn == 0xf4) {
      process_.Exit(0);
      if (process_.threads) process_.threads->KillOthers(&task_);
      return Next::kContinue;
    }
  }

  auto fault = [&]() {
    Stop stop{StopWhy::kSignal, SignalForVector(vector)};
    stop.vector = vector;
    stop.error_code = error_code;
    stop.fault_addr = vector == 14 ? cr2 : rip;
    return stop;
  };

  if (!debug_) {
    const Stop stop = fault();
    result->kind = RunResult::kFault;
    result->vector = vector;
    result->error_code = error_code;
    result->address = stop.fault_addr;
    result->signal = stop.signal;
    result->status = 128 + stop.signal;
    Capture(Context::kException, &result->regs);
    return Next::kEnd;
  }

  Stop stop;
  if (vector == 1) {
    const std::optional<Stop> step = StepTrap(rip, Context::kException);
    if (!step) return Next::kContinue;
    stop = *step;
  } else if (vector == 3) {
    stop = Stop{StopWhy::kTrap, SIGTRAP};
  } else if (vector == 14 && process_.mm.Guard(cr2)) {
    // A watched page. Let the access through for one instruction, then
    // guard the page again; report it if it touched a watched range.
    Vma vma;
    const bool mapped = process_.mm.VmaAt(cr2, &vma);
    const bool write = error_code & 2;
    const int need = write ? PROT_WRITE : (error_code & 16 ? PROT_EXEC : PROT_READ);
    if (!mapped || !(vma.prot & need)) {
      stop = fault();  // a real fault, guard or not
    } else {
      const uint64_t page = PageDown(cr2);
      for (const Watch& w : debug_->watches) {
        const bool kind_matches = w.kind == 'a' || (w.kind == 'w') == write;
        if (kind_matches && cr2 < w.addr + w.len && w.addr < cr2 + 8) {
          const uint64_t at = std::max(w.addr, cr2), end = std::min(w.addr + w.len, cr2 + 8);
          const uint8_t* bytes = process_.ram.Phys(at, end - at);
          lifted_.hits.push_back({w.addr, w.kind, at, bytes ? std::vector<uint8_t>(bytes, bytes + (end - at)) : std::vector<uint8_t>{}});
        }
      }
      if (lifted_.pages.empty()) lifted_.app_tf = frame[4] & kTrapFlag;
      lifted_.pages.push_back(page);
      process_.mm.SetGuard(page, 0);
      // One instruction: KVM's single step (ArmGuestDebug sees the lift),
      // or the trap flag.
      if (!KvmStep()) {
        tf_ours_ = true;
        SetTrapFlag(Context::kException, true);
      }
      return Next::kContinue;
    }
  } else {
    stop = fault();
  }
  return StopAt(stop, Context::kException, result);
}

const Vcpu::Lifted::Hit& Vcpu::ReportedHit() const {
  const Lifted::Hit* lowest = nullptr;
  const Lifted::Hit* changed = nullptr;
  for (const Lifted::Hit& h : lifted_.hits) {
    if (!lowest || h.addr < lowest->addr) lowest = &h;
    const uint8_t* now = h.before.empty() ? nullptr : process_.ram.Phys(h.at, h.before.size());
    if (now && std::memcmp(now, h.before.data(), h.before.size()) != 0 && (!changed || h.addr < changed->addr)) changed = &h;
  }
  return changed ? *changed : *lowest;
}

std::optional<Stop> Vcpu::StepTrap(uint64_t rip, Context ctx) {
  if (!lifted_.pages.empty()) {
    // The instruction that touched a watched page has run: guard it again.
    std::vector<uint64_t> pages;
    pages.swap(lifted_.pages);
    for (uint64_t p : pages) GuardPage(p, true);
    if (!lifted_.hits.empty()) {
      const Lifted::Hit& hit = ReportedHit();
      Stop stop{StopWhy::kWatch, SIGTRAP};
      stop.watch_addr = hit.addr;
      stop.watch_kind = hit.kind;
      stepping_ = false;
      return stop;
    }
    if (stepping_ && !interrupt_pending_ && InStepRange(rip)) {
      lifted_ = Lifted{};  // range stepping goes on, the trap flag still set
      return std::nullopt;
    }
    if (stepping_) {
      stepping_ = false;
      return Stop{StopWhy::kStep, SIGTRAP};
    }
    if (!KvmStep()) SetTrapFlag(ctx, lifted_.app_tf);
    lifted_ = Lifted{};
    return std::nullopt;
  }
  if (InRuntime(rip)) {
    // PVM returns from a hypercall in user mode (popfq; jmp rcx): with the
    // trap flag on, it traps inside the stub. KVM's step of `syscall` stops
    // at the stub's entry; the hypercall ends that step. Not the program's
    // business either way.
    return std::nullopt;
  }
  if (rip == skip_trap_at_) {
    // ...and on the return address, before that instruction ran: after
    // PVM's jmp, or at once after sysretq (VT-x, AMD-V).
    skip_trap_at_ = kNoAddress;
    return std::nullopt;
  }
  if (stepping_ && !interrupt_pending_ && InStepRange(rip)) return std::nullopt;  // range stepping goes on
  if (stepping_) {
    stepping_ = false;
    return Stop{StopWhy::kStep, SIGTRAP};
  }
  return Stop{StopWhy::kSignal, SIGTRAP};  // the program set TF itself
}

Vcpu::Next Vcpu::StopAt(Stop stop, Context ctx, RunResult* result) {
  if (interrupt_pending_) {
    // Ctrl-C during range stepping ends it as an interrupt, or GDB would
    // go on stepping the line.
    if (stop.why == StopWhy::kStep && range_end_ > range_start_) stop = Stop{StopWhy::kInterrupt, SIGINT};
    interrupt_pending_ = false;
  }
  skip_trap_at_ = kNoAddress;
  const Next next = Park(stop, ctx, result);
  if (next == Next::kContinue && lifted_.pages.empty()) lifted_ = Lifted{};
  return next;
}

// ---- debugging with KVM's help

void Vcpu::FlushRegs() {
  if (!(run_->kvm_dirty_regs & KVM_SYNC_X86_REGS)) return;
  if (ioctl(fd_, KVM_SET_REGS, &run_->s.regs.regs) < 0) throw SystemError("EKVM", "KVM_SET_REGS");
  run_->kvm_dirty_regs &= ~KVM_SYNC_X86_REGS;
}

void Vcpu::LeaveRuntime(Context ctx) {
  kvm_regs& r = Regs();
  if (ctx == Context::kHypercall) {
    // sysretq: rip from rcx, flags from r11; rax holds the result.
    r.rax = static_cast<uint64_t>(call_.ret);
    r.rcx = r.rip = call_.rip;
    r.r11 = call_.rflags;
    r.rflags = (call_.rflags & kUserFlags & ~kResumeFlag) | kRflagsFixed | kRflagsIf;  // sysretq clears RF
  } else if (ctx == Context::kException) {
    // iretq, after the stub drops [vector, error code].
    const uint64_t* frame = reinterpret_cast<const uint64_t*>(process_.ram.Phys(r.rsp, 7 * 8));
    if (!frame || !OnExceptionStack(r.rsp)) throw Error("EKVM", "the guest runtime's exception frame is unreadable");
    r.rip = frame[2];
    r.rflags = (frame[4] & kUserFlags) | kRflagsFixed | kRflagsIf;
    r.rsp = frame[5];
  } else {
    return;
  }
  RegsChanged();
  EnterUserMode();
}

void Vcpu::EnterUserMode() {
  kvm_sregs sr = Sregs();
  SetSegment(&sr.cs, USER_CS, true, 3);
  SetSegment(&sr.ss, USER_DS, false, 3);
  if (ioctl(fd_, KVM_SET_SREGS, &sr) < 0) throw SystemError("EKVM", "KVM_SET_SREGS");
  sregs_ok_ = false;
}

void Vcpu::LoadDebugRegisters() {
  plan_watches_ = debug_->watches_by_pages ? std::vector<Watch>{} : debug_->watches;
  if (!PlanDebugRegisters(debug_->hw_breaks, plan_watches_, &plan_)) plan_ = DebugRegisterPlan{};
  watch_bytes_.assign(plan_watches_.size(), {});
  hw_epoch_ = debug_->hw_epoch;
}

void Vcpu::KeepWatchBytes() {
  // Taken before every entry (32 bytes at most): a hypercall or the
  // debugger may have changed them since, and only the program's own
  // accesses count.
  for (size_t i = 0; i < plan_watches_.size(); i++) {
    const Watch& w = plan_watches_[i];
    const uint8_t* p = process_.ram.Phys(w.addr, w.len);
    if (p) watch_bytes_[i].assign(p, p + w.len);
    else watch_bytes_[i].clear();
  }
}

void Vcpu::ArmGuestDebug() {
  kvm_guest_debug dbg{};
  if (mech_.kvm_int3) dbg.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
  if (mech_.debug_registers) {
    dbg.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    for (int i = 0; i < plan_.used; i++) dbg.arch.debugreg[i] = plan_.slot[i].addr;
    dbg.arch.debugreg[7] = plan_.used ? plan_.dr7 : 0;
  }
  // A step is the debugger's, or one to let an access to a watched page through.
  bool step = mech_.kvm_step && (stepping_ || !lifted_.pages.empty());
  if (step && exit_ctx_ != Context::kDirect) {
    LeaveRuntime(exit_ctx_);
    exit_ctx_ = Context::kDirect;
  }
  // Never step the runtime: stopped inside it (a step through `syscall`,
  // Ctrl-C), the guest runs on to the hypercall, which ends the step.
  if (step && InRuntime(Regs().rip)) step = false;
  if (step) dbg.control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
  if (mech_.debug_registers && exit_ctx_ == Context::kDirect) {
    // An execute breakpoint on the instruction the program resumes at would
    // stop it again before it runs: the resume flag lets that one through.
    kvm_regs& r = Regs();
    for (int i = 0; i < plan_.used; i++)
      if (plan_.slot[i].watch < 0 && plan_.slot[i].addr == r.rip && !(r.rflags & kResumeFlag)) {
        r.rflags |= kResumeFlag;
        RegsChanged();
      }
  }
  kvm_stepping_ = step;
  if (mech_.debug_registers) KeepWatchBytes();
  // KVM sets its trap flag for a step at the rip it sees when asked, so
  // registers changed meanwhile must reach it first.
  FlushRegs();
  if (!step && armed_valid_ && std::memcmp(&dbg, &armed_, sizeof dbg) == 0) return;
  if (ioctl(fd_, KVM_SET_GUEST_DEBUG, &dbg) < 0) throw SystemError("EKVM", "KVM_SET_GUEST_DEBUG");
  armed_ = dbg;
  armed_valid_ = true;
}

void Vcpu::DisarmGuestDebug() {
  kvm_guest_debug dbg{};
  FlushRegs();
  if (ioctl(fd_, KVM_SET_GUEST_DEBUG, &dbg) < 0) throw SystemError("EKVM", "KVM_SET_GUEST_DEBUG");
  armed_valid_ = false;
  kvm_stepping_ = false;
  plan_ = DebugRegisterPlan{};
}

Vcpu::Next Vcpu::DebugExit(RunResult* result) {
  const auto& d = run_->debug.arch;
  if (!debug_) {
    result->kind = RunResult::kError;
    result->message = "a KVM debug exit with no debugger attached";
    return Next::kEnd;
  }
  kvm_stepping_ = false;
  Stop stop;
  if (d.exception == 3) {
    // int3, one of the debugger's or the program's own: report it as Linux
    // does, with rip after it.
    kvm_regs& r = Regs();
    r.rip = d.pc + 1;
    RegsChanged();
    return StopAt(Stop{StopWhy::kTrap, SIGTRAP}, Context::kDirect, result);
  }
  if (d.exception != 1) return StopAt(Stop{StopWhy::kSignal, SIGTRAP}, Context::kDirect, result);
  // Which registers fired: an execute breakpoint stops; of the watches, a
  // read watch's register fires on writes too (a write changed the bytes, a
  // read did not), and GDB checks only the watch reported, so the lowest
  // one the access changed is reported, else the lowest one it touched.
  bool watch_fired = false;
  int chosen = -1;
  bool chosen_changed = false;
  for (int i = 0; DebugRegisters() && i < plan_.used; i++) {
    if (!(d.dr6 & kDr6Hits & (uint64_t{1} << i))) continue;
    const int index = plan_.slot[i].watch;
    if (index < 0) {
      stepping_ = false;
      return StopAt(Stop{StopWhy::kHwBreak, SIGTRAP}, Context::kDirect, result);
    }
    watch_fired = true;
    const Watch& w = plan_watches_[index];
    const std::vector<uint8_t>& before = watch_bytes_[index];
    const uint8_t* now = process_.ram.Phys(w.addr, w.len);
    const bool changed = now && before.size() == w.len && std::memcmp(now, before.data(), w.len) != 0;
    if (w.kind == 'r' && changed) continue;
    if (chosen < 0 || (changed && !chosen_changed) ||
        (changed == chosen_changed && w.addr < plan_watches_[chosen].addr)) {
      chosen = index;
      chosen_changed = changed;
    }
  }
  if (chosen >= 0) {
    stop = Stop{StopWhy::kWatch, SIGTRAP};
    stop.watch_addr = plan_watches_[chosen].addr;
    stop.watch_kind = plan_watches_[chosen].kind;
    stepping_ = false;
    return StopAt(stop, Context::kDirect, result);
  }
  if (watch_fired && !(d.dr6 & kDr6Step)) return Next::kContinue;  // writes to read watches only
  if (d.dr6 & kDr6Step) {
    const std::optional<Stop> step = StepTrap(d.pc, Context::kDirect);
    if (!step) return Next::kContinue;
    return StopAt(*step, Context::kDirect, result);
  }
  return StopAt(Stop{StopWhy::kSignal, SIGTRAP}, Context::kDirect, result);  // int1, or a trap KVM took for us
}

// ---- the run loop

Vcpu::Next Vcpu::SharedFileFault(RunResult* result) {
  exit_ctx_ = Context::kDirect;
  const Stop stop{StopWhy::kSignal, SIGBUS};
  if (debug_) return StopAt(stop, Context::kDirect, result);
  return EndBySignal(SIGBUS, "it touched a page of a file it maps shared past the file's end", result);
}

RunResult Vcpu::Run() {
  RunResult result;
  const bool flat = process_.config.flat;
  thread_ = pthread_self();
  thread_known_.store(true, std::memory_order_release);
  if (debug_ && initial_stop_ && Park(Stop{StopWhy::kInitial, SIGTRAP}, Context::kDirect, &result) == Next::kEnd)
    return result;
  for (;;) {
    const int request = process_.stop_request.load();
    if (request == Process::kKill) {
      result.kind = RunResult::kKilled;
      if (process_.exited) return Ended(result);  // another thread ended the process
      return result;
    }
    // An all-stop (another thread's event, or Ctrl-C) that came while this
    // one was busy elsewhere: it parks where it is.
    if (request == Process::kInterrupt && debug_ && !InRuntime(exit_ctx_ == Context::kDirect ? Regs().rip : 0)) {
      if (Park(Stop{StopWhy::kInterrupt, SIGINT}, exit_ctx_, &result) == Next::kEnd) return result;
      continue;
    }
    if (debug_ && mech_.any()) ArmGuestDebug();
    // The stub is about to take the call's return from the slot.
    if (exit_ctx_ == Context::kHypercall) WriteCall();
    if (!Enter()) {
      if (errno == EFAULT && process_.ram.has_shared()) {
        // KVM could not back a guest page: one of a file the guest maps
        // shared, past the file's end. Linux sends SIGBUS.
        if (Next next = SharedFileFault(&result); next == Next::kEnd) return result;
        continue;
      }
      if (errno != EINTR && errno != EAGAIN) {
        result.kind = RunResult::kError;
        result.message = std::string("KVM_RUN: ") + std::strerror(errno);
        return result;
      }
      __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
      task_.kick_pending.store(false);
      // Stopped by a signal, not by an exit: the registers are the guest's
      // own, and the context of the last exit (a hypercall's, an
      // exception's) is over.
      exit_ctx_ = Context::kDirect;
      // A signal sent to this thread while it ran: delivered here, between
      // two of the program's instructions, unless it is inside the runtime
      // (then at the hypercall or exception it is about to make).
      if (task_.Deliverable() && !process_.interrupted() && !InRuntime(Regs().rip)) {
        eintr_nr_ = -1;
        if (DeliverSignals(Context::kDirect, &result) == Next::kEnd) return result;
        if (process_.exited) return Ended(result);
      }
      // A stop request is taken at the top of the loop; inside the runtime,
      // at the exit the runtime is about to make.
      if (process_.stop_request.load() == Process::kInterrupt && debug_ && InRuntime(Regs().rip))
        interrupt_pending_ = true;
      continue;
    }
    const bool hypercall = run_->exit_reason == KVM_EXIT_IO && run_->io.port == HC_PORT;
    const bool exception = run_->exit_reason == KVM_EXIT_IO && run_->io.port == EXC_PORT;
    exit_ctx_ = hypercall ? Context::kHypercall : exception ? Context::kException : Context::kDirect;
    switch (run_->exit_reason) {
      case KVM_EXIT_DEBUG:
        if (DebugExit(&result) == Next::kEnd) return result;
        break;
      case KVM_EXIT_IO:
        if (run_->io.direction == KVM_EXIT_IO_OUT && run_->io.port == HC_PORT) {
          Next next;
          ReadCall();
          Hypercall(&result, &next);
          if (next == Next::kEnd) return result;
        } else if (run_->io.direction == KVM_EXIT_IO_OUT && run_->io.port == EXC_PORT) {
          if (Exception(&result) == Next::kEnd) return result;
        } else if (flat && run_->io.direction == KVM_EXIT_IO_OUT) {
          Next next;
          FlatHypercall(&result, &next);
          if (next == Next::kEnd) return result;
        } else {
          // An application `in`/`out`: #GP on a Linux host. (PVM lets it
          // exit instead of faulting.)
          Capture(Context::kDirect, &result.regs);
          result.kind = RunResult::kFault;
          result.vector = 13;
          result.signal = SIGSEGV;
          result.status = 128 + SIGSEGV;
          result.address = result.regs.rip;
          return result;
        }
        break;
      case KVM_EXIT_HLT:
        process_.Exit(0);
        if (process_.threads) process_.threads->KillOthers(&task_);
        break;
      case KVM_EXIT_SHUTDOWN: {
        result.kind = RunResult::kError;
        const kvm_regs& r = Regs();
        const kvm_sregs& sr = Sregs();
        // AMD-V puts the vCPU in its reset state on a shutdown (VT-x and PVM
        // leave the registers of the fault): those would point at the BIOS.
        if (r.rip == 0xfff0 && sr.cs.selector == 0xf000)
          result.message = "the guest CPU shut down (triple fault); KVM reset it, so the registers at the fault are lost";
        else
          result.message = "the guest CPU shut down (triple fault) at rip " + Hex(r.rip) + " (cs " + Hex(sr.cs.selector) +
                           "), rsp " + Hex(r.rsp) + ", cr2 " + Hex(sr.cr2);
        return result;
      }
      case KVM_EXIT_INTERNAL_ERROR:
        result.kind = RunResult::kError;
        result.message = "KVM internal error (suberror " + std::to_string(run_->internal.suberror) + ")";
        return result;
      case KVM_EXIT_FAIL_ENTRY:
        result.kind = RunResult::kError;
        result.message = "KVM could not enter the guest (hardware reason " +
                         Hex(run_->fail_entry.hardware_entry_failure_reason) + ")";
        return result;
      case KVM_EXIT_MMIO:
        result.kind = RunResult::kError;
        result.message = "the guest touched " + Hex(run_->mmio.phys_addr) + ", outside its memory";
        return result;
      case KVM_EXIT_INTR:
        break;
      default:
        result.kind = RunResult::kError;
        result.message = "unexpected KVM exit " + std::to_string(run_->exit_reason);
        return result;
    }
    if (process_.exited) return Ended(result);
    if (task_.exiting) {
      result.kind = RunResult::kThreadExit;
      result.status = task_.exit_status;
      return result;
    }
  }
}

RunResult& Vcpu::Ended(RunResult& result) {
  std::lock_guard<std::mutex> lock(process_.mutex);
  result.kind = process_.signal ? RunResult::kSignaled : RunResult::kExited;
  result.status = process_.exit_status;
  result.signal = process_.signal;
  result.message = process_.reason;
  return result;
}

Vcpu::Next Vcpu::EndBySignal(int sig, std::string why, RunResult* result) {
  KillProcess(sig, std::move(why));
  result->kind = RunResult::kSignaled;
  result->signal = sig;
  result->status = 128 + sig;
  result->message = process_.reason;
  return Next::kEnd;
}

void Vcpu::KillProcess(int sig, std::string why) {
  process_.Kill(sig, std::move(why));
  if (process_.threads) process_.threads->KillOthers(&task_);
}

}  // namespace torov
