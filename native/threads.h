// The guest's threads: one vCPU and one native thread each.
//
// The main thread is the machine's vCPU thread; clone (a hypercall on the
// parent's thread) makes the others. A new native thread is started by its
// parent's, so it inherits the containment the first one put itself in
// (chroot, capabilities, seccomp). New KVM vCPUs are made by the service
// thread, which Node's thread starts before any containment: a contained
// thread could not create one. KVM frees vCPUs only with the VM, so a thread
// that ends leaves its vCPU to the next.
//
// The service thread also sends kicks again until they are taken: a kick
// is one signal, and it is lost when it comes just before a host call that
// waits.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kvm/vcpu.h"
#include "process.h"
#include "task.h"
#include "trace.h"

namespace torov {

class Threads : public ThreadHost {
 public:
  Threads(Process& process, int vm_fd, Tracer* tracer);
  ~Threads() override;
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;

  // The main thread's vCPU (id 0) and task (tid = pid), made on the caller's
  // thread before it contains itself.
  Vcpu& CreateMain();
  Vcpu* main() const { return main_ ? main_->vcpu.get() : nullptr; }
  // Runs the main thread on the caller's thread (its vCPU set up and given
  // its entry), then waits for every other thread: the process's result.
  RunResult RunMain();
  // A forked process's main thread, on the native thread its parent
  // started: its vCPU set up and given `start`, then as RunMain.
  RunResult RunForked(const ThreadStart& start);
  // The main thread's task (made by CreateMain).
  Task& main_task() const { return *main_->task; }
  // What a new thread or process starts with, taken from `parent`, which
  // is in a call (clone, fork): its registers as the call returns with rax
  // 0, on `stack` (0: the parent's) and with fs base `tls` when `set_tls`.
  // False when `parent` is not one of these threads.
  bool StartOf(Task& parent, uint64_t stack, bool set_tls, uint64_t tls, ThreadStart* out);
  // The debugger's software breakpoints (address, original byte), none
  // when no debugger is attached.
  std::vector<std::pair<uint64_t, uint8_t>> SoftBreakpoints();
  // A kill, or a debugger's interrupt, for every thread.
  void RequestStop(Process::StopRequest why, bool lose_first_kick = false);
  // Ends the service thread (after RunMain, or when the run never starts).
  void Shutdown();
  // A debugger: every thread, the ones made later too, parks at stops
  // (native/debug.h); nullptr when it detaches.
  void EnableDebug(DebugState* state, DebugMechanisms mechanisms, std::function<void()> report);
  void DisableDebug();
  // The live threads' tids and names, main first.
  std::vector<std::pair<int, std::string>> List();
  // How many vCPUs a process may have here.
  int limit() const { return limit_; }

  // ThreadHost
  int64_t Spawn(Task& parent, uint64_t stack, bool set_tls, uint64_t tls, uint64_t clear_child_tid,
                uint64_t child_tid_addr, uint64_t parent_tid_addr) override;
  bool WithTask(int tid, const std::function<void(Task&)>& fn) override;
  void ForEachTask(const std::function<void(Task&)>& fn) override;
  void KillOthers(const Task* self) override;
  void StopOthers(const Task* self) override;

 private:
  struct Thread {
    std::unique_ptr<Task> task;
    std::unique_ptr<Vcpu> vcpu;
    KvmVcpu* kvm = nullptr;
    std::thread native;  // not for the main thread, which runs on the machine's
    bool live = false;   // between its start and its end
    std::atomic<bool> finished{false};  // its native thread has nothing left to do
  };
  void ThreadMain(Thread* t, ThreadStart start);
  // A thread's end: what Linux does when a task exits (the robust list,
  // clear_child_tid), and the process's result when it decides it.
  void Ended(Thread* t, const RunResult& result_in);
  void Release(Task& task);
  // A vCPU for a new thread: a free one, or a new one made by the service
  // thread; nullptr at the limit.
  KvmVcpu* TakeVcpu();
  void Serve();
  void NoteKick();

  Process& process_;
  const int vm_fd_;
  Tracer* const tracer_;
  int limit_;

  std::mutex mutex_;  // everything below but the service's state
  std::condition_variable ended_;
  std::vector<std::unique_ptr<KvmVcpu>> kvm_vcpus_;
  std::vector<bool> kvm_busy_;
  std::vector<std::unique_ptr<Thread>> threads_;
  Thread* main_ = nullptr;
  int live_ = 0;
  int next_tid_ = 0;
  bool final_set_ = false;
  RunResult final_;
  DebugState* debug_ = nullptr;
  DebugMechanisms mechanisms_;
  std::function<void()> report_;

  // The service thread, under service_mutex_ (never held while taking mutex_).
  std::mutex service_mutex_;
  std::condition_variable service_cv_;
  std::condition_variable vcpu_made_;
  bool stopping_ = false;
  bool kicks_pending_ = false;
  std::vector<struct VcpuRequest*> wanted_;  // vCPUs Spawn waits for
  std::thread service_;
};

}  // namespace torov
