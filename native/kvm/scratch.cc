#include "kvm/scratch.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstring>

#include "errors.h"
#include "kvm/runtime.h"
#include "kvm/kvm.h"

extern "C" const uint8_t torov_runtime_image[];
extern "C" const uint8_t torov_runtime_image_end[];

namespace torov {

ScratchVm::ScratchVm(const std::vector<uint8_t>& code) {
  vm_ = Kvm::Get().CreateVm();
  GuestConfig config;
  config.memory_bytes = 16 << 20;
  config.exe = "/proc/self/exe";
  config.exe_name = "scratch";
  config.stdio = {-1, -1, -1};
  process_ = std::make_unique<Process>(config);
  const size_t image = static_cast<size_t>(torov_runtime_image_end - torov_runtime_image);
  std::memcpy(process_->ram.Phys(RT_BASE, image), torov_runtime_image, image);
  process_->mm.AddMapping(kCode, kCode + kPageSize, PROT_READ | PROT_EXEC, VmaKind::kImage);
  process_->mm.AddMapping(kStack - kPageSize, kStack, PROT_READ | PROT_WRITE, VmaKind::kStack);
  std::memcpy(process_->ram.Phys(kCode, code.size()), code.data(), code.size());
  kvm_userspace_memory_region region{};
  region.memory_size = process_->ram.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(process_->ram.base());
  if (ioctl(vm_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0) throw SystemError("EKVM", "KVM_SET_USER_MEMORY_REGION");
  kvm_ = std::make_unique<KvmVcpu>(vm_.get(), 0);
  task_ = std::make_unique<Task>(*process_, process_->pid);
  vcpu_ = std::make_unique<Vcpu>(*kvm_, *process_, *task_);
  vcpu_->Setup();
  vcpu_->SetEntry({kCode, kStack});
}

}  // namespace torov
