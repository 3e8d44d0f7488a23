#include "trace.h"

#include <time.h>

#include <algorithm>
#include <cstring>

namespace torov {

namespace {

constexpr size_t kHeader = 88;
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

Tracer::Tracer(const Process& guest) : process_(guest) { plan_.resize(kMaxHypercall * kTraceMaxOps); }

void Tracer::Configure(std::vector<TraceOp> plan, const std::array<uint8_t, kMaxHypercall / 8>& filter, bool records,
                       size_t buffer_bytes) {
  plan.resize(kMaxHypercall * kTraceMaxOps);
  plan_ = std::move(plan);
  filter_ = filter;
  records_ = records;
  limit_ = std::max<size_t>(buffer_bytes, 64 << 10);
  realtime_offset_ = Realtime() - static_cast<int64_t>(Monotonic());
}

bool Tracer::Begin(uint64_t nr, const uint64_t* args) {
  if (nr >= kMaxHypercall) return false;
  nr_ = nr;
  std::memcpy(args_, args, sizeof args_);
  recording_ = records_ && (filter_[nr / 8] >> (nr % 8)) & 1;
  if (recording_) {
    rec_.assign(kHeader, 0);
    const TraceOp* ops = &plan_[nr * kTraceMaxOps];
    for (int i = 0; i < kTraceMaxOps && ops[i].kind; i++)
      if (ops[i].when == TraceOp::kEntry) Capture(ops[i], i, 0);
  }
  start_ = Monotonic();
  return true;
}

void Tracer::End(int64_t result, uint8_t flags) {
  const uint64_t duration = Monotonic() - start_;
  const bool failed = result < 0 && result > -4096;
  if (recording_ && !(flags & kTraceSignal)) {
    const TraceOp* ops = &plan_[nr_ * kTraceMaxOps];
    if (!(flags & kTraceNoReturn))
      for (int i = 0; i < kTraceMaxOps && ops[i].kind; i++)
        if (ops[i].when == TraceOp::kExit || (ops[i].when == TraceOp::kExitOk && !failed)) Capture(ops[i], i, result);
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (!(flags & (kTraceNoReturn | kTraceSignal))) {  // strace -c counts calls that returned
    Count& c = counts_[nr_];
    c.calls++;
    c.errors += failed;
    c.nanos += duration;
  }
  if (!recording_) return;
  // The header: the blobs are in place already.
  int nblobs = 0;
  for (size_t at = kHeader; at < rec_.size(); nblobs++) {
    uint32_t len;
    std::memcpy(&len, rec_.data() + at + 4, 4);
    at += (kBlobHeader + len + 7) & ~size_t{7};
  }
  Put<uint32_t>(&rec_, 0, static_cast<uint32_t>(rec_.size()));
  Put<uint16_t>(&rec_, 4, static_cast<uint16_t>(nr_));
  Put<uint8_t>(&rec_, 6, flags);
  Put<uint8_t>(&rec_, 7, static_cast<uint8_t>(nblobs));
  Put<uint64_t>(&rec_, 8, ++seq_);
  Put<int64_t>(&rec_, 16, static_cast<int64_t>(start_) + realtime_offset_);
  Put<uint64_t>(&rec_, 24, duration);
  Put<int64_t>(&rec_, 32, result);
  std::memcpy(rec_.data() + 40, args_, sizeof args_);
  // Wait for room: a record is never dropped. JavaScript drains on its own
  // timer; past half full it is also told at once.
  room_.wait(lock, [this] { return closed_ || ready_.size() + rec_.size() <= limit_ || ready_.empty(); });
  if (closed_) return;
  ready_.insert(ready_.end(), rec_.begin(), rec_.end());
  const bool tell = !notified_ && ready_.size() * 2 >= limit_ && notify_;
  if (tell) notified_ = true;
  lock.unlock();
  if (tell) notify_();
}

void Tracer::Signal(int sig, int32_t code, int32_t pid, uint32_t uid) {
  if (!records_) return;
  nr_ = static_cast<uint64_t>(sig);
  const uint64_t args[6] = {static_cast<uint64_t>(sig), static_cast<uint64_t>(static_cast<int64_t>(code)),
                            static_cast<uint64_t>(pid), uid, 0, 0};
  std::memcpy(args_, args, sizeof args_);
  rec_.assign(kHeader, 0);
  recording_ = true;
  start_ = Monotonic();
  End(0, kTraceSignal);
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

void Tracer::Blob(int index, uint8_t flags, const uint8_t* data, uint32_t len, uint64_t full) {
  const size_t at = rec_.size();
  rec_.resize(at + kBlobHeader + len);
  rec_[at] = static_cast<uint8_t>(index);
  rec_[at + 1] = flags;
  Put<uint16_t>(&rec_, at + 2, 0);
  Put<uint32_t>(&rec_, at + 4, len);
  Put<uint64_t>(&rec_, at + 8, full);
  if (len) std::memcpy(rec_.data() + at + kBlobHeader, data, len);
  Align8(&rec_);
}

void Tracer::Capture(const TraceOp& op, int index, int64_t result) {
  if (op.arg < 0 || op.arg > 5) return;
  const uint64_t addr = args_[op.arg];
  const AddressSpace& mm = process_.mm;
  uint64_t size = 0;
  switch (op.size) {
    case TraceOp::kConst:
      size = static_cast<uint64_t>(op.constant);
      break;
    case TraceOp::kArg:
      if (op.size_arg < 0 || op.size_arg > 5) return;
      size = args_[op.size_arg];
      if (op.constant > 1) size = size > (~uint64_t{0} / op.constant) ? ~uint64_t{0} : size * op.constant;
      break;
    case TraceOp::kResult:
      size = result > 0 ? static_cast<uint64_t>(result) : 0;
      break;
    case TraceOp::kArgPointer: {
      if (op.size_arg < 0 || op.size_arg > 5) return;
      const uint8_t* p = mm.User(args_[op.size_arg], 4, Access::kRead);
      if (!p) return Blob(index, kCaptureFault, nullptr, 0, 0);
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
      if (n == 0 && max) return Blob(index, kCaptureFault, nullptr, 0, 0);
      const uint8_t* p = mm.User(addr, n, Access::kRead);
      const void* nul = p ? std::memchr(p, 0, n) : nullptr;
      const uint32_t len = nul ? static_cast<uint32_t>(static_cast<const uint8_t*>(nul) - p) : static_cast<uint32_t>(n);
      return Blob(index, nul ? 0 : kCaptureTruncated, p, len, len);
    }
    case TraceOp::kBytes: {
      const uint64_t want = std::min(size, max);
      if (want == 0) return Blob(index, 0, nullptr, 0, size);
      const uint64_t n = mm.UserExtent(addr, want, Access::kRead);
      if (n < want && n == 0) return Blob(index, kCaptureFault, nullptr, 0, size);
      const uint8_t* p = mm.User(addr, n, Access::kRead);
      return Blob(index, size > n ? kCaptureTruncated : 0, p, static_cast<uint32_t>(n), size);
    }
    case TraceOp::kIovec:
      return CaptureIovec(op, index, size, op.when == TraceOp::kEntry ? -1 : result);
    default:
      return;
  }
}

void Tracer::CaptureIovec(const TraceOp& op, int index, uint64_t count, int64_t limit) {
  // The iovec array, then each element's first bytes; at exit only as many
  // bytes in all as the call transferred (`limit`).
  const AddressSpace& mm = process_.mm;
  const uint64_t keep = std::min<uint64_t>(count, static_cast<uint64_t>(std::max(op.max_elems, 0)));
  const uint8_t* iov = mm.User(args_[op.arg], keep * 16, Access::kRead);
  if (!iov && keep) return Blob(index, kCaptureFault, nullptr, 0, count);
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
  Blob(index, count > keep ? kCaptureTruncated : 0, out.data(), static_cast<uint32_t>(out.size()), count);
}

}  // namespace torov
