#include "vcpu.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "errors.h"
#include "guest/runtime.h"
#include "hypercalls/hypercalls.h"
#include "kvm.h"

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
constexpr uint64_t kRflagsIf = 1u << 9, kRflagsFixed = 1u << 1;

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

Vcpu::Vcpu(int vm_fd, Guest& guest, int index) : guest_(guest) {
  int fd = ioctl(vm_fd, KVM_CREATE_VCPU, index);
  if (fd < 0) throw SystemError("EKVM", "KVM_CREATE_VCPU");
  fd_.Reset(fd);
  run_size_ = static_cast<size_t>(Kvm::Get().caps().vcpu_mmap_size);
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw SystemError("EKVM", "mmap of kvm_run");
  run_ = static_cast<kvm_run*>(p);
  guest_.cpu = this;
}

Vcpu::~Vcpu() {
  if (guest_.cpu == this) guest_.cpu = nullptr;
  if (run_) munmap(run_, run_size_);
}

void Vcpu::Setup() {
  const KvmCaps& caps = Kvm::Get().caps();
  const int fd = fd_.get();

  // CPUID as KVM can back it. Under PVM user-mode `cpuid` does not trap and
  // the guest sees the host CPU instead; both are consistent with CR4/XCR0.
  std::vector<uint8_t> buf(sizeof(KvmCpuidHeader) + caps.cpuid.size() * sizeof(kvm_cpuid_entry2));
  reinterpret_cast<KvmCpuidHeader*>(buf.data())->nent = static_cast<uint32_t>(caps.cpuid.size());
  std::memcpy(buf.data() + sizeof(KvmCpuidHeader), caps.cpuid.data(), caps.cpuid.size() * sizeof(kvm_cpuid_entry2));
  if (ioctl(fd, kKvmSetCpuid2, buf.data()) < 0) throw SystemError("EKVM", "KVM_SET_CPUID2");
  const kvm_cpuid_entry2* leaf1 = FindCpuid(caps.cpuid, 1);
  const kvm_cpuid_entry2* leaf7 = FindCpuid(caps.cpuid, 7, 0);
  const kvm_cpuid_entry2* leafd = FindCpuid(caps.cpuid, 0xd, 0);
  const bool xsave = leaf1 && (leaf1->ecx & (1u << 26));
  const bool fsgsbase = leaf7 && (leaf7->ebx & 1u);

  kvm_sregs sregs;
  if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0) throw SystemError("EKVM", "KVM_GET_SREGS");
  sregs.cr0 = kCr0;
  sregs.cr3 = guest_.mm.pml4();
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
  sregs.tr.base = RT_TSS;
  sregs.tr.limit = RT_TSS_LIMIT;
  sregs.tr.type = 11;  // busy 64-bit TSS
  sregs.tr.present = 1;
  std::memset(&sregs.ldt, 0, sizeof sregs.ldt);
  sregs.ldt.unusable = 1;
  if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0) throw SystemError("EKVM", "KVM_SET_SREGS");

  kvm_msr_entry entries[] = {
      {MSR_STAR, 0, (uint64_t{USER32_CS} << 48) | (uint64_t{KERNEL_CS} << 32)},
      {MSR_LSTAR, 0, RT_SYSCALL},
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

void Vcpu::SetEntry(const InitialState& init) {
  kvm_regs regs{};
  regs.rip = init.rip;
  regs.rsp = init.rsp;
  regs.rflags = kRflagsFixed | kRflagsIf;
  if (ioctl(fd_.get(), KVM_SET_REGS, &regs) < 0) throw SystemError("EKVM", "KVM_SET_REGS");
}

bool Vcpu::SetSegmentBase(bool fs, uint64_t base) {
  kvm_msr_entry e{fs ? MSR_FS_BASE : MSR_GS_BASE, 0, base};
  return MsrIo(fd_.get(), kKvmSetMsrs, &e, 1);
}

bool Vcpu::GetSegmentBase(bool fs, uint64_t* base) {
  kvm_msr_entry e{fs ? MSR_FS_BASE : MSR_GS_BASE, 0, 0};
  if (!MsrIo(fd_.get(), kKvmGetMsrs, &e, 1)) return false;
  *base = e.data;
  return true;
}

bool Vcpu::RunOnce() {
  return ioctl(fd_.get(), KVM_RUN, 0) == 0 && run_->exit_reason == KVM_EXIT_IO && run_->io.port == HC_PORT;
}

void Vcpu::RequestStop(pthread_t thread) {
  guest_.stop_requested.store(true);
  run_->immediate_exit = 1;
  pthread_kill(thread, KickSignal());
}

void Vcpu::Dispatch(uint64_t nr, const uint64_t* args, int64_t* ret) {
  if (nr >= kMaxHypercall) {
    *ret = -ENOSYS;
    return;
  }
  if (!guest_.Allowed(nr) && !IsSelfExeReadlink(guest_, nr, args)) {
    // A denied hypercall never reaches its handler, so never the host.
    *ret = -EPERM;
    guest_.denied_count++;
    if (guest_.config.on_denied == OnDenied::kKill) {
      guest_.denied_nr = static_cast<int>(nr);
      guest_.Kill(SIGSYS, "denied");
    }
    return;
  }
  const Handler handler = Hypercalls().handlers[nr];
  *ret = handler ? handler(guest_, args) : -ENOSYS;
  // Writing to a broken pipe or socket kills a Linux process with SIGPIPE
  // unless it ignores the signal or asked for MSG_NOSIGNAL. The monitor
  // itself never gets SIGPIPE (Node ignores it).
  if (*ret == -EPIPE && guest_.sigactions[SIGPIPE].handler == reinterpret_cast<uint64_t>(SIG_DFL)) {
    bool nosignal = false;
    if (nr == SYS_sendto) nosignal = args[3] & MSG_NOSIGNAL;
    if (nr == SYS_sendmsg) nosignal = args[2] & MSG_NOSIGNAL;
    const bool writes = nr == SYS_write || nr == SYS_writev || nr == SYS_pwrite64 || nr == SYS_pwritev ||
                        nr == SYS_sendto || nr == SYS_sendmsg || nr == SYS_sendfile;
    if (writes && !nosignal) guest_.Kill(SIGPIPE, "broken pipe");
  }
}

void Vcpu::Hypercall() {
  auto* page = reinterpret_cast<uint64_t*>(guest_.ram.Phys(RT_HCPAGE, kPageSize));
  int64_t ret;
  Dispatch(page[HC_NR / 8], page + HC_A0 / 8, &ret);
  page[HC_RET / 8] = static_cast<uint64_t>(ret);
}

void Vcpu::FlatHypercall() {
  // ToroV's ABI: `out` with the number in eax and the Linux arguments in
  // registers. Not the hot path: it costs two register ioctls.
  kvm_regs regs;
  if (ioctl(fd_.get(), KVM_GET_REGS, &regs) < 0) throw SystemError("EKVM", "KVM_GET_REGS");
  const uint64_t args[6] = {regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9};
  int64_t ret;
  Dispatch(regs.rax & 0xffffffff, args, &ret);
  regs.rax = static_cast<uint64_t>(ret);
  if (ioctl(fd_.get(), KVM_SET_REGS, &regs) < 0) throw SystemError("EKVM", "KVM_SET_REGS");
}

bool Vcpu::ReadAppRegs(AppRegs* out, uint64_t* frame) {
  kvm_regs regs;
  kvm_sregs sregs;
  if (ioctl(fd_.get(), KVM_GET_REGS, &regs) < 0 || ioctl(fd_.get(), KVM_GET_SREGS, &sregs) < 0) return false;
  // The stub left [vector, error code, rip, cs, rflags, rsp, ss] on the IST stack.
  if (regs.rsp < RT_IST_LOW || regs.rsp + 7 * 8 > RT_IST_TOP) return false;
  std::memcpy(frame, guest_.ram.Phys(regs.rsp, 7 * 8), 7 * 8);
  out->regs = regs;
  out->regs.rip = frame[2];
  out->regs.rflags = frame[4];
  out->regs.rsp = frame[5];
  out->cs = static_cast<uint16_t>(frame[3]);
  out->ss = static_cast<uint16_t>(frame[6]);
  out->ds = sregs.ds.selector;
  out->es = sregs.es.selector;
  out->fs = sregs.fs.selector;
  out->gs = sregs.gs.selector;
  out->fs_base = sregs.fs.base;
  out->gs_base = sregs.gs.base;
  frame[6] = sregs.cr2;  // reuse the slot: the caller wants cr2, not ss
  return true;
}

bool Vcpu::Exception(RunResult* out) {
  uint64_t frame[7];
  if (!ReadAppRegs(&out->regs, frame)) {
    out->kind = RunResult::kError;
    out->message = "the guest runtime's exception frame is unreadable";
    return false;
  }
  const int vector = static_cast<int>(frame[0]);
  const uint64_t rip = frame[2];
  // ToroV's flat programs end with `hlt`, which faults at CPL 3.
  if (guest_.config.flat && vector == 13) {
    const uint8_t* insn = guest_.mm.User(rip, 1, Access::kRead);
    if (insn && *insn == 0xf4) {
      guest_.exited = true;
      guest_.exit_status = 0;
      return false;
    }
  }
  out->kind = RunResult::kFault;
  out->vector = vector;
  out->error_code = frame[1];
  out->address = vector == 14 ? frame[6] : rip;
  out->signal = SignalForVector(vector);
  out->status = 128 + out->signal;
  return false;
}

RunResult Vcpu::Run() {
  RunResult result;
  const int fd = fd_.get();
  const bool flat = guest_.config.flat;
  for (;;) {
    if (guest_.interrupted()) {
      result.kind = RunResult::kKilled;
      return result;
    }
    if (ioctl(fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        run_->immediate_exit = 0;
        continue;
      }
      result.kind = RunResult::kError;
      result.message = std::string("KVM_RUN: ") + std::strerror(errno);
      return result;
    }
    switch (run_->exit_reason) {
      case KVM_EXIT_IO:
        if (run_->io.direction == KVM_EXIT_IO_OUT && run_->io.port == HC_PORT) {
          Hypercall();
        } else if (run_->io.direction == KVM_EXIT_IO_OUT && run_->io.port == EXC_PORT) {
          if (!Exception(&result)) {
            if (result.kind == RunResult::kFault || result.kind == RunResult::kError) return result;
          }
        } else if (flat && run_->io.direction == KVM_EXIT_IO_OUT) {
          FlatHypercall();
        } else {
          // An application `in`/`out`: #GP on a Linux host. (PVM lets it
          // exit instead of faulting.)
          kvm_regs regs;
          ioctl(fd, KVM_GET_REGS, &regs);
          result.kind = RunResult::kFault;
          result.vector = 13;
          result.signal = SIGSEGV;
          result.status = 128 + SIGSEGV;
          result.regs.regs = regs;
          result.address = regs.rip;
          return result;
        }
        break;
      case KVM_EXIT_HLT:
        guest_.exited = true;
        guest_.exit_status = 0;
        break;
      case KVM_EXIT_SHUTDOWN:
        result.kind = RunResult::kError;
        result.message = "the guest CPU shut down (triple fault)";
        return result;
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
    if (guest_.exited) {
      result.kind = guest_.signal ? RunResult::kSignaled : RunResult::kExited;
      result.status = guest_.exit_status;
      result.signal = guest_.signal;
      result.message = guest_.reason;
      return result;
    }
  }
}

}  // namespace torov
