// A scratch VM for diagnostics (the raw-exit benchmark, the debug probe):
// the real runtime and CPU set-up, 16 MiB, and a page of code at 0x400000.
#pragma once

#include <memory>
#include <vector>

#include "fd.h"
#include "process.h"
#include "kvm/vcpu.h"

namespace torov {

class ScratchVm {
 public:
  static constexpr uint64_t kCode = 0x400000;
  static constexpr uint64_t kStack = 0x600000;

  explicit ScratchVm(const std::vector<uint8_t>& code);
  Vcpu& vcpu() { return *vcpu_; }
  Process& guest() { return *process_; }

 private:
  Fd vm_;
  std::unique_ptr<Process> process_;
  std::unique_ptr<KvmVcpu> kvm_;
  std::unique_ptr<Task> task_;
  std::unique_ptr<Vcpu> vcpu_;
};

}  // namespace torov
