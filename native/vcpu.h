// A vCPU: its KVM fd and kvm_run mapping, its initial state, and the run
// loop that turns exits into hypercalls, faults and the guest's end.
//
// States: Created -> Running (Run() on the vCPU thread) -> Exited. All
// ioctls on the vCPU fd are made by the thread that runs it.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>

#include "fd.h"
#include "guest.h"

namespace torov {

// The application's registers at a stop, as a process would have them.
struct AppRegs {
  kvm_regs regs{};
  uint64_t fs_base = 0, gs_base = 0;
  uint16_t cs = 0, ss = 0, ds = 0, es = 0, fs = 0, gs = 0;
};

// How a run ended.
struct RunResult {
  enum Kind { kExited, kSignaled, kFault, kKilled, kError } kind = kExited;
  int status = 0;  // exit status (128 + signal when signaled)
  int signal = 0;
  std::string message;  // kError: what went wrong; kSignaled: why
  // kFault: the CPU exception and the application's state at it.
  int vector = -1;
  uint64_t error_code = 0;
  uint64_t address = 0;  // the faulting address (#PF), else rip
  AppRegs regs;
};

struct InitialState {
  uint64_t rip = 0;
  uint64_t rsp = 0;
};

class Vcpu : public CpuControl {
 public:
  Vcpu(int vm_fd, Guest& guest, int index);
  ~Vcpu() override;
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  // Long mode at CPL 3 with the runtime's GDT/IDT/TSS and syscall MSRs.
  // Independent of the program, so it runs while the loader works.
  void Setup();
  // The program's entry point and initial stack.
  void SetEntry(const InitialState& init);
  // Runs until the guest exits, faults, is killed or KVM fails.
  RunResult Run();
  // One KVM_RUN that must end in an exit on HC_PORT (the raw-exit benchmark).
  bool RunOnce();
  // From another thread: make Run() return kKilled soon.
  void RequestStop(pthread_t thread);

  // CpuControl
  bool SetSegmentBase(bool fs, uint64_t base) override;
  bool GetSegmentBase(bool fs, uint64_t* base) override;

 private:
  void Hypercall();
  void FlatHypercall();
  // Handles an exception exit; returns true when the guest goes on.
  bool Exception(RunResult* out);
  void Dispatch(uint64_t nr, const uint64_t* args, int64_t* ret);
  bool ReadAppRegs(AppRegs* out, uint64_t* frame_out);

  Guest& guest_;
  Fd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
};

// The signal a Linux process gets for a CPU exception vector.
int SignalForVector(int vector);
// Installs the (empty) handler of the signal used to interrupt a vCPU
// thread, without SA_RESTART so blocked host calls return EINTR.
int KickSignal();

}  // namespace torov
