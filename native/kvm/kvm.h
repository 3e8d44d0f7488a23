// /dev/kvm: opened once per process and shared by every VM in it.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fd.h"

namespace torov {

// kvm_cpuid2, kvm_msrs and kvm_xsave end in __DECLARE_FLEX_ARRAY, which some uapi
// headers (Linux 6.1) give a size of 12 bytes under C++ instead of 8: the
// ioctl numbers built from them are then wrong (EINVAL). These headers have
// the C layout, and every use of those ioctls goes through them.
struct KvmCpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
struct KvmMsrsHeader {
  uint32_t nmsrs;
  uint32_t pad;
};
struct KvmXsave {
  uint32_t region[1024];
};
static_assert(sizeof(KvmCpuidHeader) == 8 && sizeof(KvmMsrsHeader) == 8 && sizeof(KvmXsave) == 4096);
constexpr unsigned long kKvmGetXsave = _IOR(KVMIO, 0xa4, KvmXsave);
constexpr unsigned long kKvmSetXsave = _IOW(KVMIO, 0xa5, KvmXsave);
constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, KvmCpuidHeader);
constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmCpuidHeader);
constexpr unsigned long kKvmGetMsrs = _IOWR(KVMIO, 0x88, KvmMsrsHeader);
constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmMsrsHeader);

// What the host's KVM offers, read once when /dev/kvm is first opened.
struct KvmCaps {
  int vcpu_mmap_size = 0;
  bool sync_regs = false;       // KVM_CAP_SYNC_REGS: registers in kvm_run, no ioctl
  bool sync_sregs = false;      // ...and the special registers too
  bool xsave = false;           // KVM_CAP_XSAVE
  int max_vcpus = 1;            // KVM_CAP_MAX_VCPUS (else KVM_CAP_NR_VCPUS)
  bool immediate_exit = false;  // KVM_CAP_IMMEDIATE_EXIT: a stop request cannot be lost
  bool xcrs = false;            // KVM_CAP_XCRS
  bool guest_debug = false;     // KVM_CAP_SET_GUEST_DEBUG (PVM accepts it but ignores it at CPL 3)
  bool debugregs = false;       // KVM_CAP_DEBUGREGS
  int hw_breakpoints = 0;       // KVM_CAP_GUEST_DEBUG_HW_BPS
  std::string flavour;          // "pvm", "vmx", "svm" or "unknown": which kvm module is loaded
  // `syscall` from user mode reaches LSTAR still in user mode (PVM; assumed
  // for an unknown flavour): the stub's stores into its slot are user-mode
  // stores, so the slots must be user-writable.
  bool user_mode_syscall = true;
  std::string hypervisor;       // the host's own hypervisor by CPUID signature ("TCGTCGTCGTCG"...), "" if none
  std::vector<kvm_cpuid_entry2> cpuid;  // KVM_GET_SUPPORTED_CPUID
};

class Kvm {
 public:
  // The process-wide instance. Throws EKVM with a message that says what to
  // do when /dev/kvm is missing or not accessible.
  static Kvm& Get();

  int fd() const { return fd_.get(); }
  const KvmCaps& caps() const { return caps_; }

  // A new VM file descriptor.
  Fd CreateVm() const;

 private:
  Kvm();
  Fd fd_;
  KvmCaps caps_;
};

// Gives VM `vm` its memory: slot 0, guest physical 0 to `size`, backed
// by the host mapping at `base`. False when KVM refuses.
bool SetGuestMemory(int vm, uint8_t* base, uint64_t size);

// Look up a CPUID leaf in a table (nullptr when absent).
const kvm_cpuid_entry2* FindCpuid(const std::vector<kvm_cpuid_entry2>& table, uint32_t function,
                                  uint32_t index = 0);

}  // namespace torov
