#include "threads.h"

#include <linux/futex.h>
#include <pthread.h>

#include <algorithm>
#include <cstring>

#include "errors.h"
#include "kvm/kvm.h"
#include "kvm/runtime.h"
#include "processes/guest.h"

namespace torov {

namespace {

// Linux's ROBUST_LIST_LIMIT: a list longer than this (or a loop) is not walked further.
constexpr int kRobustListLimit = 2048;

}  // namespace

// A request to the service thread for one new vCPU.
struct VcpuRequest {
  int index;
  std::unique_ptr<KvmVcpu> made;
  std::string error;
  bool done = false;
};

Threads::Threads(Process& process, int vm_fd, Tracer* tracer)
    : process_(process), vm_fd_(vm_fd), tracer_(tracer),
      limit_(std::min(RT_MAX_VCPUS, Kvm::Get().caps().max_vcpus)) {
  process_.threads = this;
  next_tid_ = process_.pid;
  service_ = std::thread([this] { Serve(); });
}

Threads::~Threads() {
  Shutdown();
  for (auto& t : threads_)
    if (t->native.joinable()) t->native.join();
  process_.threads = nullptr;
}

void Threads::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(service_mutex_);
    stopping_ = true;
  }
  service_cv_.notify_all();
  vcpu_made_.notify_all();
  if (service_.joinable()) service_.join();
}

Vcpu& Threads::CreateMain() {
  auto kvm = std::make_unique<KvmVcpu>(vm_fd_, 0);
  auto t = std::make_unique<Thread>();
  t->task = std::make_unique<Task>(process_, process_.pid);
  t->task->set_name(process_.config.exe_name.data(), process_.config.exe_name.size());
  t->kvm = kvm.get();
  t->vcpu = std::make_unique<Vcpu>(*kvm, process_, *t->task);
  t->vcpu->SetTracer(tracer_);
  t->vcpu->SetKickNotice([this] { NoteKick(); });
  std::lock_guard<std::mutex> lock(mutex_);
  kvm_vcpus_.push_back(std::move(kvm));
  kvm_busy_.push_back(true);
  main_ = t.get();
  main_->live = true;
  live_ = 1;
  threads_.push_back(std::move(t));
  return *main_->vcpu;
}

RunResult Threads::RunMain() {
  RunResult result;
  try {
    result = main_->vcpu->Run();
  } catch (const Error& e) {
    result.kind = RunResult::kError;
    result.message = e.what();
  }
  Ended(main_, result);
  std::vector<std::thread> natives;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    ended_.wait(lock, [this] { return live_ == 0; });
    for (auto& t : threads_)
      if (t->native.joinable()) natives.push_back(std::move(t->native));
  }
  for (std::thread& n : natives) n.join();
  std::lock_guard<std::mutex> lock(mutex_);
  return final_set_ ? final_ : result;
}

RunResult Threads::RunForked(const ThreadStart& start) {
  try {
    main_->vcpu->Setup();
    main_->vcpu->SetStart(start);
  } catch (const Error& e) {
    RunResult result;
    result.kind = RunResult::kError;
    result.message = e.what();
    Ended(main_, result);
    return result;
  }
  return RunMain();
}

bool Threads::StartOf(Task& parent, uint64_t stack, bool set_tls, uint64_t tls, ThreadStart* out) {
  Vcpu* vcpu = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& t : threads_)
      if (t->task.get() == &parent) vcpu = t->vcpu.get();
  }
  return vcpu && vcpu->ForkState(stack, set_tls, tls, out);
}

std::vector<std::pair<uint64_t, uint8_t>> Threads::SoftBreakpoints() {
  DebugState* debug;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    debug = debug_;
  }
  if (!debug) return {};
  std::lock_guard<std::mutex> lock(debug->mutex);
  return {debug->soft_breaks.begin(), debug->soft_breaks.end()};
}

void Threads::EnableDebug(DebugState* state, DebugMechanisms mechanisms, std::function<void()> report) {
  std::lock_guard<std::mutex> lock(mutex_);
  debug_ = state;
  mechanisms_ = mechanisms;
  report_ = std::move(report);
  for (auto& t : threads_)
    if (t->live) t->vcpu->EnableDebug(debug_, mechanisms_, report_, t.get() == main_);
}

void Threads::DisableDebug() {
  std::lock_guard<std::mutex> lock(mutex_);
  debug_ = nullptr;
}

std::vector<std::pair<int, std::string>> Threads::List() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<int, std::string>> out;
  for (auto& t : threads_) {
    if (!t->live) continue;
    const std::array<char, 16> name = t->task->name();
    out.emplace_back(t->task->tid, std::string(name.data(), strnlen(name.data(), name.size())));
  }
  return out;
}

KvmVcpu* Threads::TakeVcpu() {
  int index;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < kvm_vcpus_.size(); i++) {
      if (!kvm_busy_[i] && kvm_vcpus_[i]) {
        kvm_busy_[i] = true;
        return kvm_vcpus_[i].get();
      }
    }
    if (static_cast<int>(kvm_vcpus_.size()) >= limit_) return nullptr;
    index = static_cast<int>(kvm_vcpus_.size());
    kvm_vcpus_.push_back(nullptr);  // reserved until made
    kvm_busy_.push_back(true);
  }
  VcpuRequest request{index, nullptr, {}, false};
  {
    std::unique_lock<std::mutex> lock(service_mutex_);
    if (stopping_) return nullptr;
    wanted_.push_back(&request);
    service_cv_.notify_all();
    vcpu_made_.wait(lock, [&] { return request.done || stopping_; });
    if (!request.done) {
      wanted_.erase(std::remove(wanted_.begin(), wanted_.end(), &request), wanted_.end());
      return nullptr;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!request.made) {
    // The host would not make this one: no more threads from here on.
    limit_ = index;
    return nullptr;
  }
  kvm_vcpus_[index] = std::move(request.made);
  return kvm_vcpus_[index].get();
}

int64_t Threads::Spawn(Task& parent, uint64_t stack, bool set_tls, uint64_t tls, uint64_t clear_child_tid,
                       uint64_t child_tid_addr, uint64_t parent_tid_addr) {
  Vcpu* parent_vcpu = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Threads that have ended for good: their records go (their vCPUs stay).
    for (auto it = threads_.begin(); it != threads_.end();) {
      Thread* t = it->get();
      if (t != main_ && !t->live && t->finished.load()) {
        if (t->native.joinable()) t->native.join();
        it = threads_.erase(it);
      } else {
        if (t->task.get() == &parent) parent_vcpu = t->vcpu.get();
        ++it;
      }
    }
  }
  if (!parent_vcpu) return -EAGAIN;
  KvmVcpu* kvm = TakeVcpu();
  if (!kvm) return -EAGAIN;
  auto t = std::make_unique<Thread>();
  int tid;
  if (process_.guest) {
    tid = process_.guest->NewId();  // unique among every process's threads
  } else {
    std::lock_guard<std::mutex> lock(mutex_);
    tid = ++next_tid_;
  }
  t->task = std::make_unique<Task>(process_, tid);
  Task& task = *t->task;
  // As Linux's copy_process for a thread: the signal mask and name are the
  // parent's; the alternate stack is not.
  task.sigmask = parent.sigmask.load();
  const std::array<char, 16> name = parent.name();
  task.set_name(name.data(), strnlen(name.data(), name.size()));
  task.clear_child_tid = clear_child_tid;
  t->kvm = kvm;
  t->vcpu = std::make_unique<Vcpu>(*kvm, process_, task);
  t->vcpu->SetTracer(tracer_);
  t->vcpu->SetKickNotice([this] { NoteKick(); });
  ThreadStart start;
  parent_vcpu->ForkState(stack, set_tls, tls, &start);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (debug_) t->vcpu->EnableDebug(debug_, mechanisms_, report_, false);
  }
  {
    const auto hold = process_.mm.Hold();
    const uint32_t value = static_cast<uint32_t>(tid);
    // Atomic where aligned, as Release's clearing store: a word of guest
    // memory another thread of the monitor may store to (the guest reuses
    // a thread's tid word once its clear_child_tid wake has come).
    for (uint64_t addr : {parent_tid_addr, child_tid_addr}) {
      uint8_t* p = addr ? process_.mm.User(addr, 4, Access::kWrite) : nullptr;
      if (p && addr % 4 == 0) __atomic_store_n(reinterpret_cast<uint32_t*>(p), value, __ATOMIC_SEQ_CST);
      else if (p) std::memcpy(p, &value, 4);
    }
  }
  process_.mm.set_threaded();
  Thread* raw = t.get();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    raw->live = true;
    live_++;
    threads_.push_back(std::move(t));
    try {
      // Started from the parent's thread, so it shares its containment.
      raw->native = std::thread([this, raw, start] { ThreadMain(raw, start); });
    } catch (const std::system_error&) {
      raw->live = false;
      live_--;
      raw->finished = true;
      kvm_busy_[kvm->index()] = false;
      return -EAGAIN;
    }
  }
  return tid;
}

void Threads::ThreadMain(Thread* t, ThreadStart start) {
  pthread_setname_np(pthread_self(), "torov-vcpu");
  RunResult result;
  try {
    t->vcpu->Setup();
    t->vcpu->SetStart(start);
    result = t->vcpu->Run();
  } catch (const Error& e) {
    result.kind = RunResult::kError;
    result.message = e.what();
  }
  Ended(t, result);
  t->finished = true;
}

void Threads::Release(Task& task) {
  // What Linux's mm_release and exit_robust_list do for a thread that
  // ends: mark the robust futexes it held as their owner's death and wake
  // a waiter of each, then clear and wake clear_child_tid (pthread_join).
  Process& g = process_;
  auto read64 = [&g](uint64_t addr, uint64_t* out) {
    const uint8_t* p = g.mm.User(addr, 8, Access::kRead);
    if (!p) return false;
    std::memcpy(out, p, 8);
    return true;
  };
  auto death = [&](uint64_t addr) {
    if (addr & 3) return;
    const auto hold = g.mm.Hold();
    auto* word = reinterpret_cast<uint32_t*>(g.mm.User(addr, 4, Access::kWrite));
    if (!word) return;
    uint32_t old = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    for (;;) {
      if ((old & FUTEX_TID_MASK) != static_cast<uint32_t>(task.tid)) return;
      const uint32_t next = (old & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
      if (__atomic_compare_exchange_n(word, &old, next, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) break;
    }
    if (old & FUTEX_WAITERS) g.futexes.Wake(addr, 1);
  };
  if (task.robust_list) {
    // struct robust_list_head { list.next, futex_offset, list_op_pending }
    uint64_t entry, offset, pending;
    const uint64_t head = task.robust_list;
    if (read64(head, &entry) && read64(head + 8, &offset) && read64(head + 16, &pending)) {
      entry &= ~uint64_t{1};
      pending &= ~uint64_t{1};
      for (int i = 0; entry != head && i < kRobustListLimit; i++) {
        uint64_t next;
        if (!read64(entry, &next)) break;
        if (entry != pending) death(entry + offset);
        entry = next & ~uint64_t{1};
      }
      if (pending) death(pending + offset);
    }
  }
  if (task.clear_child_tid) {
    const uint32_t zero = 0;
    bool cleared;
    {
      const auto hold = g.mm.Hold();
      uint8_t* p = g.mm.User(task.clear_child_tid, 4, Access::kWrite);
      cleared = p != nullptr;
      if (p) __atomic_store_n(reinterpret_cast<uint32_t*>(p), zero, __ATOMIC_SEQ_CST);
    }
    if (cleared) g.futexes.Wake(task.clear_child_tid, 1);
  }
}

void Threads::Ended(Thread* t, const RunResult& result_in) {
  RunResult result = result_in;
  result.tid = t->task->tid;
  if (result.kind == RunResult::kThreadExit) Release(*t->task);
  bool kill_others = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    t->live = false;
    live_--;
    kvm_busy_[t->kvm->index()] = false;
    switch (result.kind) {
      case RunResult::kThreadExit:
        // The last thread to end ends the process, with its own status.
        if (live_ == 0 && !final_set_) {
          process_.Exit(result.status);
          final_ = result;
          final_.kind = RunResult::kExited;
          final_set_ = true;
        }
        break;
      case RunResult::kFault:
      case RunResult::kError:
        // A thread's crash is the process's: every thread ends with it.
        if (!final_set_) {
          final_ = result;
          final_set_ = true;
        }
        if (result.kind == RunResult::kFault) process_.Kill(result.signal, "fault");
        else process_.Kill(SIGKILL, result.message);
        kill_others = true;
        break;
      case RunResult::kKilled:
        if (process_.exited || final_set_) break;
        [[fallthrough]];
      default:  // kExited, kSignaled: the process ended, as this thread saw it
        if (!final_set_) {
          final_ = result;
          final_set_ = true;
        }
        break;
    }
  }
  if (kill_others) KillOthers(t->task.get());
  ended_.notify_all();
  DebugState* debug;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    debug = debug_;
  }
  if (debug) {
    // The debugger's list loses it; an all-stop waits for one thread fewer.
    std::lock_guard<std::mutex> lock(debug->mutex);
    debug->threads.erase(t->task->tid);
    debug->changed.notify_all();
  }
}

bool Threads::WithTask(int tid, const std::function<void(Task&)>& fn) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& t : threads_) {
    if (t->live && t->task->tid == tid) {
      fn(*t->task);
      return true;
    }
  }
  return false;
}

void Threads::ForEachTask(const std::function<void(Task&)>& fn) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& t : threads_)
    if (t->live) fn(*t->task);
}

void Threads::KillOthers(const Task* self) {
  process_.stop_request.store(Process::kKill);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& t : threads_)
    if (t->live && t->task.get() != self) t->vcpu->Kick();
  if (debug_) {
    // Threads parked for the debugger (a step with the others held) end too.
    std::lock_guard<std::mutex> debug_lock(debug_->mutex);
    for (auto& [tid, ts] : debug_->threads) {
      if (!ts.parked || (self && tid == self->tid)) continue;
      ts.order = Order{OrderKind::kKill};
      ts.ordered.store(true);
    }
    debug_->changed.notify_all();
  }
}

void Threads::StopOthers(const Task* self) {
  int none = Process::kNoStop;
  process_.stop_request.compare_exchange_strong(none, Process::kInterrupt);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& t : threads_)
    if (t->live && t->task.get() != self && !t->task->parked.load()) t->vcpu->Kick();
}

void Threads::RequestStop(Process::StopRequest why, bool lose_first_kick) {
  if (why == Process::kKill) {
    process_.stop_request.store(Process::kKill);
  } else {
    int none = Process::kNoStop;
    process_.stop_request.compare_exchange_strong(none, why);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& t : threads_)
    if (t->live) t->vcpu->Kick(!lose_first_kick);
}

void Threads::NoteKick() {
  {
    std::lock_guard<std::mutex> lock(service_mutex_);
    kicks_pending_ = true;
  }
  service_cv_.notify_all();
}

void Threads::Serve() {
  pthread_setname_np(pthread_self(), "torov-threads");
  std::unique_lock<std::mutex> lock(service_mutex_);
  for (;;) {
    if (stopping_) {
      for (VcpuRequest* r : wanted_) r->done = false;
      vcpu_made_.notify_all();
      return;
    }
    if (!wanted_.empty()) {
      VcpuRequest* r = wanted_.front();
      wanted_.erase(wanted_.begin());
      lock.unlock();
      try {
        r->made = std::make_unique<KvmVcpu>(vm_fd_, r->index);
      } catch (const Error& e) {
        r->error = e.what();
      }
      lock.lock();
      r->done = true;
      vcpu_made_.notify_all();
      continue;
    }
    if (kicks_pending_) {
      // Every few milliseconds, the signal again to each thread that has
      // not taken its kick.
      kicks_pending_ = false;
      service_cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return stopping_ || !wanted_.empty(); });
      if (stopping_ || !wanted_.empty()) {
        kicks_pending_ = true;
        continue;
      }
      lock.unlock();
      bool any = false;
      {
        std::lock_guard<std::mutex> threads_lock(mutex_);
        for (auto& t : threads_) {
          if (t->live && t->task->kick_pending.load() && !t->task->parked.load()) {
            t->vcpu->Resignal();
            any = true;
          }
        }
      }
      lock.lock();
      if (any) kicks_pending_ = true;
      continue;
    }
    service_cv_.wait(lock, [this] { return stopping_ || kicks_pending_ || !wanted_.empty(); });
  }
}

}  // namespace torov
