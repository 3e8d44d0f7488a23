// The vCPU thread's seccomp filter: after set-up, the thread that runs the
// guest may make only the host system calls its allowed hypercalls need and
// its run loop needs, each with the arguments they use (the rules come from
// src/vmm/seccomp.ts). Anything else fails with EPERM: ioctl on fds other
// than the VM's own, openat2 from anything but the MountPoint's fd, an *at
// call from the cwd (AT_FDCWD), an executable or file mapping... A bug in a
// hypercall handler then still cannot open a socket for a guest that may
// not, and so on. It applies to this thread only; Node's threads are not
// affected.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace torov {

// Values known only when the filter is installed (src/vmm/seccomp.ts's
// FilterSlot): the VM's fds, the directories the thread opened for itself,
// the process and the thread.
enum class FilterSlot : uint8_t { kNone, kVm, kVcpu, kRoot, kDev, kExe, kProcFds, kPid, kTid, kMounts };

struct FilterValue {
  FilterSlot slot = FilterSlot::kNone;
  uint32_t value = 0;  // when slot is kNone: the low 32 bits of the argument
};

// One condition on the low 32 bits of one argument.
struct ArgCheck {
  enum Kind : uint8_t { kIn, kNotIn, kClear, kSet };
  uint8_t arg = 0;
  Kind kind = kIn;
  std::vector<FilterValue> values;  // kIn, kNotIn
  uint32_t mask = 0;                // kClear: none of these bits; kSet: all of them
};

// A host call admitted when every check holds; several rules for one
// number are alternatives.
struct FilterRule {
  int nr = -1;
  std::vector<ArgCheck> when;
  // 0: the call is admitted; else it fails with this errno without
  // reaching the kernel (clone3 -> ENOSYS, so that libc falls back).
  int error = 0;
};

// What the slots stand for on this thread; -1: absent (a check against an
// absent fd never holds). The pid and tid are the caller's own.
struct FilterContext {
  int vm = -1, vcpu = -1, root = -1, dev = -1, exe = -1, proc_fds = -1;
  std::vector<int> mounts;  // every mount's root ("mounts": all of them)
};

// A slot by its name in src/vmm/seccomp.ts ("vm", "root", "pid"...).
bool FilterSlotFromName(const std::string& name, FilterSlot* out);

// Reads the rules from JavaScript ([{ nr, when: [{ arg, in | notIn | clear | set }] }]).
std::vector<FilterRule> FilterRulesFromJs(const Napi::Value& v);

// Installs the filter on the calling thread. Returns "" when installed,
// else why not (the run goes on without it).
std::string InstallSeccomp(const std::vector<FilterRule>& rules, const FilterContext& ctx);

// Installs the filter on a scratch thread, with stand-ins for the slots
// (/dev/null for the VM and vCPU fds, the real /, /dev, program folder and
// /proc/self/fd), makes the calls given, and reports each one's result or
// -errno (torov doctor, the tests). A call's arguments are numbers, slots,
// or pointers to bytes the probe holds (a string, a buffer). The rules must
// admit exit(2), or the thread could not end: such a filter is not tried.
struct ProbeArg {
  enum Kind : uint8_t { kNumber, kSlot, kBytes, kOther };
  Kind kind = kNumber;
  uint64_t number = 0;
  FilterSlot slot = FilterSlot::kNone;
  std::vector<uint8_t> bytes;  // kBytes: passed as a pointer to a copy
};
struct ProbeCall {
  long nr = 0;
  std::vector<ProbeArg> args;
};
struct SeccompProbe {
  std::string installed;         // "" or why not
  std::vector<int64_t> results;  // return value or -errno, one per call
};
SeccompProbe ProbeSeccomp(const std::vector<FilterRule>& rules, const std::vector<ProbeCall>& calls);

}  // namespace torov
