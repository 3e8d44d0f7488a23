#include "trace.h"

#include <time.h>

#include <algorithm>
#include <cstring>

namespace torov {

namespace {

constexpr size_t kHeader = 96;
constexpr size_t kBlobHeader = 16;

uint64_t Monotonic() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

int64_t Realtime() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

template <typename T>
void Put(std::vector<uint8_t>* v, size_t at, T value) {
  std::memcpy(v->data() + at, &value, sizeof value);
}

void Align8(std::vector<uint8_t>* v) { v->resize((v->size() + 7) & ~size_t{7}, 0); }

}  // namespace

Tracer::Tracer() { plan_.resize(kMaxHypercall * kTraceMaxOps); }

void Tracer::Configure(std::vector<TraceOp> plan, const SyscallSet& filter, bool records,
                       size_t buffer_bytes) {
  plan.resize(kMaxHypercall * kTraceMaxOps);
  plan_ = std::move(plan);
  filter_ = filter;
  records_ = records;
  limit_ = std::max<size_t>(buffer_bytes, 64 << 10);
  realtime_offset_ = Realtime() - static_cast<int64_t>(Monotonic());
}

bool Tracer::Begin(TraceCall& call, int tid, uint64_t nr, const uint64_t* args) {
  if (nr >= kMaxHypercall) return false;
  call.nr = nr;
  call.tid = tid;
  std::memcpy(call.args, args, sizeof call.args);
  call.recording = records_ && filter_.Has(nr);
  if (call.recording) {
    call.rec.assign(kHeader, 0);
    const TraceOp* ops = &plan_[nr * kTraceMaxOps];
    for (int i = 0; i < kTraceMaxOps && ops[i].kind; i++)
      if (ops[i].when == TraceOp::kEntry) Capture(call, ops[i], i, 0);
  }
  call.start = Monotonic();
  return true;
}

void Tracer::End(TraceCall& call, int64_t result, uint8_t flags) {
  const uint64_t duration = Monotonic() - call.start;
  const bool failed = result < 0 && result > -4096;
  if (call.recording && !(flags & (kTraceSignal | kTraceProcessEnd))) {
    const TraceOp* ops = &plan_[call.nr * kTraceMaxOps];
    if (!(flags & kTraceNoReturn))
      for (int i = 0; i < kTraceMaxOps && ops[i].kind; i++)
        if (ops[i].when == TraceOp::kExit || (ops[i].when == TraceOp::kExitOk && !failed)) Capture(call, ops[i], i, result);
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (!(flags & (kTraceNoReturn | kTraceSignal | kTraceProcessEnd))) {  // strace -c counts calls that returned
    Count& c = counts_[call.nr];
    c.calls++;
    c.errors += failed;
    c.nanos += duration;
  }
  if (!call.recording) return;
  // The header: the blobs are in place already.
  int nblobs = 0;
  for (size_t at = kHeader; at < call.rec.size(); nblobs++) {
    uint32_t len;
    std::memcpy(&len, call.rec.data() + at + 4, 4);
    at += (kBlobHeader + len + 7) & ~size_t{7};
  }
  Put<uint32_t>(&call.rec, 0, static_cast<uint32_t>(call.rec.size()));
  Put<uint16_t>(&call.rec, 4, static_cast<uint16_t>(call.nr));
  Put<uint8_t>(&call.rec, 6, flags);
  Put<uint8_t>(&call.rec, 7, static_cast<uint8_t>(nblobs));
  Put<uint64_t>(&call.rec, 8, ++seq_);
  Put<int64_t>(&call.rec, 16, static_cast<int64_t>(call.start) + realtime_offset_);
  Put<uint64_t>(&call.rec, 24, duration);
  Put<int64_t>(&call.rec, 32, result);
  std::memcpy(call.rec.data() + 40, call.args, sizeof call.args);
  Put<uint32_t>(&call.rec, 88, static_cast<uint32_t>(call.tid));
  Put<uint32_t>(&call.rec, 92, 0);
  // Wait for room: a record is never dropped. JavaScript drains on its own
  // timer; past half full it is also told at once.
  room_.wait(lock, [this, &call] { return closed_ || ready_.size() + call.rec.size() <= limit_ || ready_.empty(); });
  if (closed_) return;
  ready_.insert(ready_.end(), call.rec.begin(), call.rec.end());
  const bool tell = !notified_ && ready_.size() * 2 >= limit_ && notify_;
  if (tell) notified_ = true;
  lock.unlock();
  if (tell) notify_();
}

void Tracer::Signal(TraceCall& call, int tid, int sig, int32_t code, int32_t pid, uint32_t uid) {
  if (!records_) return;
  call.tid = tid;
  call.nr = static_cast<uint64_t>(sig);
  const uint64_t args[6] = {static_cast<uint64_t>(sig), static_cast<uint64_t>(static_cast<int64_t>(code)),
                            static_cast<uint64_t>(pid), uid, 0, 0};
  std::memcpy(call.args, args, sizeof call.args);
  call.rec.assign(kHeader, 0);
  call.recording = true;
  call.start = Monotonic();
  End(call, 0, kTraceSignal);
}

void Tracer::ProcessEnd(int pid, bool killed, int value) {
  if (!records_ || !enabled()) return;
  TraceCall call;
  call.tid = pid;
  call.nr = 0;
  call.args[0] = killed ? 1 : 0;
  call.args[1] = static_cast<uint64_t>(value);
  call.rec.assign(kHeader, 0);
  call.recording = true;
  call.start = Monotonic();
  End(call, 0, kTraceProcessEnd);
}

std::vector<uint8_t> Tracer::Take() {
  std::vector<uint8_t> out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    out.swap(ready_);
    notified_ = false;
  }
  room_.notify_all();
  return out;
}

void Tracer::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  room_.notify_all();
}

std::array<Tracer::Count, kMaxHypercall> Tracer::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

void Tracer::Blob(TraceCall& call, int index, uint8_t flags, const uint8_t* data, uint32_t len, uint64_t full) {
  const size_t at = call.rec.size();
  call.rec.resize(at + kBlobHeader + len);
  call.rec[at] = static_cast<uint8_t>(index);
  call.rec[at + 1] = flags;
  Put<uint16_t>(&call.rec, at + 2, 0);
  Put<uint32_t>(&call.rec, at + 4, len);
  Put<uint64_t>(&call.rec, at + 8, full);
  if (len) std::memcpy(call.rec.data() + at + kBlobHeader, data, len);
  Align8(&call.rec);
}

void Tracer::Capture(TraceCall& call, const TraceOp& op, int index, int64_t result) {
  if (op.arg < 0 || op.arg > 5) return;
  const uint64_t addr = call.args[op.arg];
  if (!call.mm) return;
  const AddressSpace& mm = *call.mm;
  // Held so that what the accessor found mapped stays so until it is
  // copied: another thread may unmap it meanwhile.
  const auto hold = mm.Hold();
  uint64_t size = 0;
  switch (op.size) {
    case TraceOp::kConst:
      size = static_cast<uint64_t>(op.constant);
      break;
    case TraceOp::kArg:
      if (op.size_arg < 0 || op.size_arg > 5) return;
      size = call.args[op.size_arg];
      if (op.constant > 1) size = size > (~uint64_t{0} / op.constant) ? ~uint64_t{0} : size * op.constant;
      break;
    case TraceOp::kResult:
      size = result > 0 ? static_cast<uint64_t>(result) : 0;
      break;
    case TraceOp::kArgPointer: {
      if (op.size_arg < 0 || op.size_arg > 5) return;
      const uint8_t* p = mm.User(call.args[op.size_arg], 4, Access::kRead);
      if (!p) return Blob(call, index, kCaptureFault, nullptr, 0, 0);
      uint32_t n;
      std::memcpy(&n, p, 4);
      size = n;
      break;
    }
    default:
      return;
  }
  const uint64_t max = static_cast<uint64_t>(std::max(op.max, 0));
  switch (op.kind) {
    case TraceOp::kString: {
      // Up to max bytes, stopping at the NUL; unreadable memory ends it.
      const uint64_t n = mm.UserExtent(addr, max, Access::kRead);
      if (n == 0 && max) return Blob(call, index, kCaptureFault, nullptr, 0, 0);
      const uint8_t* p = mm.User(addr, n, Access::kRead);
      const void* nul = p ? std::memchr(p, 0, n) : nullptr;
      const uint32_t len = nul ? static_cast<uint32_t>(static_cast<const uint8_t*>(nul) - p) : static_cast<uint32_t>(n);
      return Blob(call, index, nul ? 0 : kCaptureTruncated, p, len, len);
    }
    case TraceOp::kBytes: {
      const uint64_t want = std::min(size, max);
      if (want == 0) return Blob(call, index, 0, nullptr, 0, size);
      const uint64_t n = mm.UserExtent(addr, want, Access::kRead);
      if (n < want && n == 0) return Blob(call, index, kCaptureFault, nullptr, 0, size);
      const uint8_t* p = mm.User(addr, n, Access::kRead);
      return Blob(call, index, size > n ? kCaptureTruncated : 0, p, static_cast<uint32_t>(n), size);
    }
    case TraceOp::kIovec:
      return CaptureIovec(call, op, index, size, op.when == TraceOp::kEntry ? -1 : result);
    default:
      return;
  }
}

void Tracer::CaptureIovec(TraceCall& call, const TraceOp& op, int index, uint64_t count, int64_t limit) {
  // The iovec array, then each element's first bytes; at exit only as many
  // bytes in all as the call transferred (`limit`).
  if (!call.mm) return;
  const AddressSpace& mm = *call.mm;
  const auto hold = mm.Hold();
  const uint64_t keep = std::min<uint64_t>(count, static_cast<uint64_t>(std::max(op.max_elems, 0)));
  const uint8_t* iov = mm.User(call.args[op.arg], keep * 16, Access::kRead);
  if (!iov && keep) return Blob(call, index, kCaptureFault, nullptr, 0, count);
  std::vector<uint8_t> out(8 + keep * 24, 0);
  Put<uint32_t>(&out, 0, static_cast<uint32_t>(keep));
  uint64_t left = limit < 0 ? ~uint64_t{0} : static_cast<uint64_t>(limit);
  for (uint64_t i = 0; i < keep; i++) {
    uint64_t base, len;
    std::memcpy(&base, iov + i * 16, 8);
    std::memcpy(&len, iov + i * 16 + 8, 8);
    const uint64_t want = std::min({len, left, static_cast<uint64_t>(std::max(op.max, 0))});
    left -= std::min(len, left);
    const uint64_t n = want ? mm.UserExtent(base, want, Access::kRead) : 0;
    const uint8_t* p = n ? mm.User(base, n, Access::kRead) : nullptr;
    const size_t at = 8 + i * 24;
    Put<uint64_t>(&out, at, base);
    Put<uint64_t>(&out, at + 8, len);
    Put<uint32_t>(&out, at + 16, static_cast<uint32_t>(n));
    Put<uint32_t>(&out, at + 20, want && !n ? kCaptureFault : 0);
    if (n) out.insert(out.end(), p, p + n);
  }
  Blob(call, index, count > keep ? kCaptureTruncated : 0, out.data(), static_cast<uint32_t>(out.size()), count);
}

}  // namespace torov
