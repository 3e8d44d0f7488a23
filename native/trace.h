// Hypercall tracing: the data plane of `torov trace`, `torov profile` and
// the debugger's `monitor trace`.
//
// For each traced hypercall the vCPU thread writes one binary record into a
// bounded buffer that JavaScript takes in batches (src/trace/records.ts
// reads them; the layout is below and must match). What guest memory a
// record carries (the path, the bytes written, the struct stat returned...)
// is not decided here: JavaScript sends a capture plan built from the
// hypercall table (src/trace/plan.ts). When the buffer is full the vCPU
// waits for JavaScript: no record is ever dropped. Per-number counts and
// times (`-c`) are kept without records.
//
// Record: 96-byte header, then `nblobs` captures, each 8-aligned.
//   u32 size (whole record, 8-aligned)   u16 nr   u8 flags   u8 nblobs
//   u64 seq   u64 start (CLOCK_REALTIME ns)   u64 duration ns   i64 result
//   u64 args[6]   u32 tid (the thread that made the call)   u32 0
// Capture: u8 op (index in the plan of this number)  u8 flags  u16 0
//   u32 length (bytes that follow)  u64 full (the length the call named,
//   or the string's length when it ended within the limit)  bytes...
// An iovec capture's bytes: u32 count, u32 0, then count x {u64 base,
// u64 len, u32 got, u32 flags}, then the captured bytes of each element.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "process.h"
#include "syscall_set.h"

namespace torov {

enum TraceRecordFlags : uint8_t {
  kTraceDenied = 1,    // the policy refused it: it never reached the host
  kTraceNoReturn = 2,  // exit/exit_group, or the guest ended inside it
  kTraceSignal = 4,    // not a call: a signal delivered (nr = the signal; args = signo, code, pid, uid)
  kTraceProcessEnd = 8,  // not a call: a process other than the first ended (tid = its pid;
                         // args = 0 and its status, or 1 and the signal that killed it)
};

enum TraceCaptureFlags : uint8_t {
  kCaptureTruncated = 1,  // more bytes than the limit (a string without its NUL within it)
  kCaptureFault = 2,      // the guest pointer was not readable
};

// One capture in the plan: what to copy from the guest and when.
struct TraceOp {
  enum Kind : int32_t { kString = 1, kBytes = 2, kIovec = 3 };
  enum When : int32_t { kEntry = 0, kExit = 1, kExitOk = 2 };
  enum Size : int32_t {
    kConst = 0,      // `constant` bytes
    kArg = 1,        // args[size_arg] x constant (1 when 0)
    kResult = 2,     // the result, when positive
    kArgPointer = 3, // the u32 that args[size_arg] points to (a socklen_t *)
  };
  int32_t arg = 0;
  int32_t kind = 0;
  int32_t when = 0;
  int32_t size = 0;
  int32_t size_arg = 0;
  int32_t constant = 0;
  int32_t max = 0;        // bytes kept (per element for iovecs)
  int32_t max_elems = 0;  // iovecs: elements kept
};
constexpr int kTraceOpInts = 8;  // TraceOp as the plan's Int32Array has it
constexpr int kTraceMaxOps = 6;  // per hypercall

// One thread's call being recorded (each vCPU has its own).
struct TraceCall {
  std::vector<uint8_t> rec;
  uint64_t nr = 0;
  uint64_t args[6] = {};
  uint64_t start = 0;
  bool recording = false;
  int tid = 0;
  // The memory its captures are read from: its process's (the tracer is
  // the guest's, every process's).
  const AddressSpace* mm = nullptr;
};

class Tracer {
 public:
  Tracer();

  // Set while the vCPU is not in a hypercall (before start, or parked).
  // `plan`: for each number, up to kTraceMaxOps ops (kind 0 ends the list);
  // `filter`: the numbers to record.
  void Configure(std::vector<TraceOp> plan, const SyscallSet& filter, bool records,
                 size_t buffer_bytes);
  void Enable(bool on) { enabled_.store(on, std::memory_order_release); }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }

  // A vCPU thread, around one hypercall of thread `tid`. Begin() returns
  // false when it is not traced (nothing else to do then).
  bool Begin(TraceCall& call, int tid, uint64_t nr, const uint64_t* args);
  void End(TraceCall& call, int64_t result, uint8_t flags);
  // A signal delivered to the guest, between hypercalls (strace's
  // "--- SIGUSR1 {...} ---"): recorded whatever the filter says, never counted.
  void Signal(TraceCall& call, int tid, int sig, int32_t code, int32_t pid, uint32_t uid);

  // A child process's end (strace -f's "+++ exited with N +++"), recorded
  // whatever the filter says, never counted.
  void ProcessEnd(int pid, bool killed, int value);
  // JavaScript: the records written so far (empty when none).
  std::vector<uint8_t> Take();
  // Called on the vCPU thread when the buffer passes half full.
  void SetNotify(std::function<void()> notify) { notify_ = std::move(notify); }
  // Ends any wait for room (the machine is going away).
  void Close();

  struct Count {
    uint64_t calls = 0, errors = 0, nanos = 0;
  };
  std::array<Count, kMaxHypercall> counts() const;

 private:
  void Capture(TraceCall& call, const TraceOp& op, int index, int64_t result);
  void CaptureIovec(TraceCall& call, const TraceOp& op, int index, uint64_t count, int64_t limit);
  void Blob(TraceCall& call, int index, uint8_t flags, const uint8_t* data, uint32_t len, uint64_t full);

  std::atomic<bool> enabled_{false};
  std::vector<TraceOp> plan_;  // kMaxHypercall x kTraceMaxOps
  SyscallSet filter_;
  bool records_ = false;
  size_t limit_ = 4 << 20;
  int64_t realtime_offset_ = 0;  // CLOCK_REALTIME - CLOCK_MONOTONIC, at Configure

  uint64_t seq_ = 0;  // under mutex_

  // Shared with JavaScript.
  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::vector<uint8_t> ready_;
  bool notified_ = false;
  bool closed_ = false;
  std::array<Count, kMaxHypercall> counts_{};
  std::function<void()> notify_;
};

}  // namespace torov
