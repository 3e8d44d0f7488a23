// The fork path: fork, vfork and the clones that make a process.
//
// A child is a new VM. The maker (an uncontained thread, guest.h) makes it:
// the VM and its memory slot, a Process copied from the parent (ids,
// limits, dispositions, cwd, the open files shared), the parent's memory
// (GuestRam::CopyFrom: the pages the parent has, not its whole RAM; shared
// file mappings map the file again) and the child's threads' service with
// its main vCPU. The child's main thread is then started by the parent's
// vCPU thread, so that it inherits that thread's containment (chroot,
// capabilities, seccomp filter) exactly as a new guest thread does.
//
// The memory is a copy made at the fork, not copy-on-write (DESIGN.md asks
// for a view; see README's "Processes" for what it costs and why).
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <time.h>

#include <cstring>

#include "../errors.h"
#include "../kvm/kvm.h"
#include "guest.h"
#include "member.h"

namespace torov {

int64_t Guest::Fork(Process& parent, Task& t, const ForkRequest& r) {
  Threads* parent_threads = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (Member* p = Find(parent.pid); p && !p->ended) parent_threads = p->threads_view;
  }
  ThreadStart start;
  if (!parent_threads || !parent_threads->StartOf(t, r.stack, r.set_tls, r.tls, &start)) return -EAGAIN;
  Member* m;
  int pid;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ending_ || parent.interrupted()) return -EAGAIN;
    int live = 0;
    for (auto& [p, c] : members_)
      if (!c->reaped) live++;
    if (live >= limit_) return -EAGAIN;
    pid = NewId();
    auto made = std::make_unique<Member>();
    made->pid = pid;
    made->ppid = parent.pid;
    made->pgid = parent.pgid.load();
    made->sid = parent.sid.load();
    made->exit_signal = r.exit_signal;
    m = made.get();
    members_[pid] = std::move(made);
  }

  const std::vector<std::pair<uint64_t, uint8_t>> breakpoints = parent_threads->SoftBreakpoints();
  // The VM, its memory and its threads, on the maker.
  int error = -ENOMEM;
  const bool ok = OnMaker([&] {
    auto child = std::make_shared<Process>(parent, pid, Process::kFork);
    Fd vm;
    try {
      vm = Kvm::Get().CreateVm();
    } catch (const Error&) {
      error = -EAGAIN;
      return false;
    }
    if (!SetGuestMemory(vm.get(), child->ram.base(), child->ram.size())) {
      error = -ENOMEM;
      return false;
    }
    if (!child->mm.ForkFrom(parent.mm, pagemap_)) {
      error = -ENOMEM;
      return false;
    }
    // A debugged parent's breakpoints are not the child's: it runs on
    // undebugged (GDB's follow-fork-mode parent, detach-on-fork on).
    for (const auto& [addr, original] : breakpoints)
      if (child->mm.DebuggerExtent(addr, 1, Access::kWrite) == 1) *child->ram.Phys(addr, 1) = original;
    child->guest = this;
    auto threads = std::make_unique<Threads>(*child, vm.get(), tracer_);
    threads->CreateMain();
    std::lock_guard<std::mutex> lock(mutex_);
    m->owned = child;
    m->process = child.get();
    m->threads_view = threads.get();
    m->threads = std::move(threads);
    m->vm = std::move(vm);
    return true;
  });
  if (!ok) {
    std::unique_ptr<Member> gone;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = members_.find(pid);
      gone = std::move(it->second);
      members_.erase(it);
    }
    // Whatever was made goes on the maker, as a child's end does.
    if (gone->threads || gone->owned) {
      auto* raw = gone.release();
      OnMaker([raw] {
        raw->threads.reset();
        raw->owned.reset();
        delete raw;
        return true;
      });
    }
    return error;
  }

  // The child's main thread: what Linux's copy_process gives a task that
  // is not a thread of its parent's.
  Process& child = *m->process;
  Task& task = m->threads_view->main_task();
  task.sigmask = t.sigmask.load();
  std::memcpy(task.altstack, t.altstack, sizeof task.altstack);
  const std::array<char, 16> name = t.name();
  task.set_name(name.data(), strnlen(name.data(), name.size()));
  task.clear_child_tid = r.clear_child_tid;
  task.rseq_area = t.rseq_area;
  const uint32_t value = static_cast<uint32_t>(pid);
  if (r.child_tid) {
    const auto hold = child.mm.Hold();
    if (uint8_t* p = child.mm.User(r.child_tid, 4, Access::kWrite)) std::memcpy(p, &value, 4);
  }
  if (r.parent_tid) {
    const auto hold = parent.mm.Hold();
    if (uint8_t* p = parent.mm.User(r.parent_tid, 4, Access::kWrite)) std::memcpy(p, &value, 4);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    m->made = true;
    try {
      m->native = std::thread([this, m, start] { ChildMain(m, start); });
    } catch (const std::system_error&) {
      m->made = false;
    }
    if (!m->made) {
      // No host thread for it: it never ran, and nobody waits for it.
      m->ended = m->reaped = true;
      const int gone = pid;
      std::lock_guard<std::mutex> maker_lock(maker_mutex_);
      maker_work_.push_back([this, gone] { Free(gone); });
      maker_cv_.notify_all();
      return -EAGAIN;
    }
  }
  if (r.vfork) {
    // The parent waits until the child has exec'd or ended. Only a kill
    // ends the wait early (Linux's is killable, not interruptible).
    for (;;) {
      const uint32_t seen = generation_.load();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (m->vfork_released || ending_) break;
      }
      if (parent.stop_request.load() == Process::kKill) break;
      Sleep(seen);
    }
  }
  return pid;
}

void Guest::ChildMain(Member* m, ThreadStart start) {
  pthread_setname_np(pthread_self(), "torov-vcpu");
  // Its own fs context (the guest's umask), from its parent's: the chroot
  // stays.
  unshare(CLONE_FS);
  RunResult result = m->threads_view->RunForked(start);
  timespec cpu{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  Ended(m, result, static_cast<uint64_t>(cpu.tv_sec) * 1000000 + static_cast<uint64_t>(cpu.tv_nsec) / 1000);
}

}  // namespace torov
