#include "kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpuid.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "errors.h"

namespace torov {

std::string Hex(unsigned long long value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", value);
  return buf;
}

namespace {

std::string DetectFlavour() {
  struct stat st;
  if (stat("/sys/module/kvm_pvm", &st) == 0) return "pvm";
  if (stat("/sys/module/kvm_intel", &st) == 0) return "vmx";
  if (stat("/sys/module/kvm_amd", &st) == 0) return "svm";
  return "unknown";
}

// The hypervisor this host itself runs under, by its CPUID signature (leaf
// 0x40000000, present when CPUID.1:ECX bit 31 says there is one); "" on bare
// metal. QEMU's software CPU signs "TCGTCGTCGTCG".
std::string DetectHypervisor() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 31))) return "";
  __cpuid(0x40000000, a, b, c, d);
  char vendor[13];
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &c, 4);
  std::memcpy(vendor + 8, &d, 4);
  vendor[12] = 0;
  std::string s(vendor);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s.empty() ? "unknown" : s;
}

}  // namespace

Kvm& Kvm::Get() {
  // Not a function-local static: a failed open must be retried and reported
  // again by the next VM, not cached as a half-built object.
  static std::mutex mutex;
  static std::unique_ptr<Kvm> instance;
  std::lock_guard<std::mutex> lock(mutex);
  if (!instance) instance.reset(new Kvm());
  return *instance;
}

Kvm::Kvm() {
  // Only a character device is KVM. A regular file at the path is what a
  // probe that opened it read-write as root left behind (`exec 3<>/dev/kvm`
  // creates one): say so, rather than that it "speaks KVM API -1".
  struct stat st;
  if (stat("/dev/kvm", &st) == 0 && !S_ISCHR(st.st_mode)) {
    const char* what = S_ISREG(st.st_mode) ? "a regular file" : S_ISDIR(st.st_mode) ? "a directory" : "not a device";
    throw Error("EKVM", std::string("/dev/kvm is ") + what +
                            ", not the KVM device: this machine has no KVM (something created it by opening the path; remove it)");
  }
  // No O_CREAT: opening must never make anything.
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      throw Error("EKVM", "/dev/kvm does not exist: this machine has no KVM (load the kvm module, or enable nested virtualisation)");
    if (err == EACCES || err == EPERM)
      throw Error("EKVM", "/dev/kvm: permission denied (add your user to the 'kvm' group, or run as root)");
    throw SystemError("EKVM", "/dev/kvm", err);
  }
  fd_.Reset(fd);
  int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version < 0)
    throw Error("EKVM", std::string("/dev/kvm is a character device but not KVM (KVM_GET_API_VERSION: ") + std::strerror(errno) + ")");
  if (version != KVM_API_VERSION)
    throw Error("EKVM", "/dev/kvm speaks KVM API " + std::to_string(version) + ", torov needs " +
                            std::to_string(KVM_API_VERSION));
  caps_.vcpu_mmap_size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (caps_.vcpu_mmap_size <= 0) throw SystemError("EKVM", "KVM_GET_VCPU_MMAP_SIZE");
  auto has = [fd](long cap) { return ioctl(fd, KVM_CHECK_EXTENSION, cap); };
  caps_.sync_regs = (has(KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS) != 0;
  caps_.sync_sregs = caps_.sync_regs && (has(KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_SREGS) != 0;
  caps_.xsave = has(KVM_CAP_XSAVE) > 0;
  caps_.max_vcpus = has(KVM_CAP_MAX_VCPUS);
  if (caps_.max_vcpus <= 0) caps_.max_vcpus = has(KVM_CAP_NR_VCPUS);
  if (caps_.max_vcpus <= 0) caps_.max_vcpus = 4;  // what KVM_CAP_NR_VCPUS's absence promises
  caps_.immediate_exit = has(KVM_CAP_IMMEDIATE_EXIT) > 0;
  caps_.xcrs = has(KVM_CAP_XCRS) > 0;
  caps_.guest_debug = has(KVM_CAP_SET_GUEST_DEBUG) > 0;
  caps_.debugregs = has(KVM_CAP_DEBUGREGS) > 0;
  caps_.hw_breakpoints = has(KVM_CAP_GUEST_DEBUG_HW_BPS);
  if (caps_.hw_breakpoints < 0) caps_.hw_breakpoints = 0;
  caps_.flavour = DetectFlavour();
  caps_.user_mode_syscall = caps_.flavour != "vmx" && caps_.flavour != "svm";
  caps_.hypervisor = DetectHypervisor();

  // KVM_GET_SUPPORTED_CPUID fails with E2BIG until the table is large enough.
  for (uint32_t n = 64; n <= 4096; n *= 2) {
    std::vector<uint8_t> buf(sizeof(KvmCpuidHeader) + n * sizeof(kvm_cpuid_entry2));
    auto* header = reinterpret_cast<KvmCpuidHeader*>(buf.data());
    header->nent = n;
    if (ioctl(fd, kKvmGetSupportedCpuid, buf.data()) == 0) {
      auto* entries = reinterpret_cast<kvm_cpuid_entry2*>(buf.data() + sizeof(KvmCpuidHeader));
      caps_.cpuid.assign(entries, entries + header->nent);
      break;
    }
    if (errno != E2BIG) throw SystemError("EKVM", "KVM_GET_SUPPORTED_CPUID");
  }
  if (caps_.cpuid.empty()) throw Error("EKVM", "KVM_GET_SUPPORTED_CPUID: table too large");
}

Fd Kvm::CreateVm() const {
  int vm;
  // EINTR is possible while KVM waits for RCU; retry as kvmtool does.
  do vm = ioctl(fd_.get(), KVM_CREATE_VM, 0);
  while (vm < 0 && errno == EINTR);
  if (vm < 0) throw SystemError("EKVM", "KVM_CREATE_VM");
  return Fd(vm);
}

bool SetGuestMemory(int vm, uint8_t* base, uint64_t size) {
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(base);
  return ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) == 0;
}

const kvm_cpuid_entry2* FindCpuid(const std::vector<kvm_cpuid_entry2>& table, uint32_t function,
                                  uint32_t index) {
  for (const auto& e : table)
    if (e.function == function && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == index))
      return &e;
  return nullptr;
}

}  // namespace torov
