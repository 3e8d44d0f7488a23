// The raw KVM baseline for `npm run bench`: a guest at CPL 3 looping on
// `out` to the hypercall port, with nothing done per exit but counting. It
// is what one exit costs on this host, the floor under every hypercall.
#include <napi.h>
#include <sys/ioctl.h>

#include <chrono>

#include "errors.h"
#include "guest.h"
#include "guest/runtime.h"
#include "kvm.h"
#include "machine.h"
#include "vcpu.h"

extern "C" const uint8_t torov_runtime_image[];
extern "C" const uint8_t torov_runtime_image_end[];

namespace torov {

namespace {

constexpr uint64_t kCode = 0x400000;
constexpr uint64_t kStack = 0x600000;

}  // namespace

// rawExitBenchmark(iterations) -> microseconds per exit
Napi::Value RawExitBenchmark(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t iterations = info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 20000;
  try {
    Fd vm = Kvm::Get().CreateVm();
    GuestConfig config;
    config.memory_bytes = 16 << 20;
    config.exe = "/proc/self/exe";
    config.exe_name = "raw-exit";
    Guest guest(config);
    const size_t image = static_cast<size_t>(torov_runtime_image_end - torov_runtime_image);
    std::memcpy(guest.ram.Phys(RT_BASE, image), torov_runtime_image, image);
    // loop: out HC_PORT, al; jmp loop
    const uint8_t code[] = {0xe6, HC_PORT, 0xeb, 0xfc};
    guest.mm.AddMapping(kCode, kCode + kPageSize, PROT_READ | PROT_EXEC, VmaKind::kImage);
    guest.mm.AddMapping(kStack - kPageSize, kStack, PROT_READ | PROT_WRITE, VmaKind::kStack);
    std::memcpy(guest.ram.Phys(kCode, sizeof code), code, sizeof code);
    kvm_userspace_memory_region region{};
    region.memory_size = guest.ram.size();
    region.userspace_addr = reinterpret_cast<uint64_t>(guest.ram.base());
    if (ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0) throw SystemError("EKVM", "KVM_SET_USER_MEMORY_REGION");
    Vcpu vcpu(vm.get(), guest, 0);
    vcpu.Setup();
    vcpu.SetEntry({kCode, kStack});
    // Warm up (page faults, first entry), then time.
    for (int i = 0; i < 100; i++) vcpu.RunOnce();
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < iterations; i++)
      if (!vcpu.RunOnce()) throw Error("EKVM", "the raw-exit guest stopped looping");
    const std::chrono::duration<double, std::micro> took = std::chrono::steady_clock::now() - start;
    return Napi::Number::New(env, took.count() / iterations);
  } catch (const Error& e) {
    throw ToJsError(env, e.code(), e.what());
  }
}

}  // namespace torov
