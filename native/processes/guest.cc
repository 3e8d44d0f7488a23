#include "guest.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "../errors.h"
#include "../hypercalls/hypercalls.h"
#include "../teardown.h"
#include "member.h"

namespace torov {

Guest::Guest(int process_limit, Tracer* tracer) : limit_(process_limit), tracer_(tracer) {
  // Read by the maker for fork's copies: opened here, before any thread
  // leaves the host's view.
  pagemap_ = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  maker_ = std::thread([this] { Maker(); });
}

Guest::~Guest() {
  KillOthers(true);
  {
    std::lock_guard<std::mutex> lock(maker_mutex_);
    maker_stop_ = true;
  }
  maker_cv_.notify_all();
  if (maker_.joinable()) maker_.join();
  if (pagemap_ >= 0) close(pagemap_);
}

void Guest::AddFirst(Process& first, Threads& threads) {
  auto m = std::make_unique<Member>();
  m->pid = first.pid;
  m->ppid = first.ppid.load();
  m->pgid = first.pgid.load();
  m->sid = first.sid.load();
  m->first = true;
  m->made = true;
  m->process = &first;
  m->threads_view = &threads;
  first.guest = this;
  std::lock_guard<std::mutex> lock(mutex_);
  first_pid_ = first.pid;
  next_id_.store(first.pid);
  members_[first.pid] = std::move(m);
}

Guest::Member* Guest::Find(int pid) {
  auto it = members_.find(pid);
  // A reaped child's record lingers until its memory is freed: it is gone.
  return it == members_.end() || it->second->reaped ? nullptr : it->second.get();
}

void Guest::Bump() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&generation_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

void Guest::Sleep(uint32_t seen) {
  // A kick (a signal to this thread) ends it early with EINTR; the timeout
  // only bounds a wake that never comes.
  const timespec timeout = {0, 200 * 1000 * 1000};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&generation_), FUTEX_WAIT_PRIVATE, seen, &timeout, nullptr, 0);
}

// ---- the maker

bool Guest::OnMaker(const std::function<bool()>& fn) {
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false, ok = false;
  {
    std::lock_guard<std::mutex> lock(maker_mutex_);
    if (maker_stop_) return false;
    maker_work_.push_back([&] {
      bool r = false;
      try {
        r = fn();
      } catch (const Error&) {
        r = false;
      } catch (const std::bad_alloc&) {
        r = false;
      }
      std::lock_guard<std::mutex> l(done_mutex);
      ok = r;
      done = true;
      done_cv.notify_all();
    });
  }
  maker_cv_.notify_all();
  std::unique_lock<std::mutex> l(done_mutex);
  done_cv.wait(l, [&] { return done; });
  return ok;
}

void Guest::Maker() {
  pthread_setname_np(pthread_self(), "torov-maker");
  // Signals are Node's, as for the other monitor threads, but the faults
  // this thread could take copying memory (a shared file's end: memory.cc
  // survives them).
  sigset_t set;
  sigfillset(&set);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&set, s);
  pthread_sigmask(SIG_SETMASK, &set, nullptr);
  std::unique_lock<std::mutex> lock(maker_mutex_);
  for (;;) {
    maker_cv_.wait(lock, [this] { return maker_stop_ || !maker_work_.empty(); });
    if (maker_work_.empty()) return;  // stopping, and nothing left to do
    std::function<void()> work = std::move(maker_work_.front());
    maker_work_.pop_front();
    lock.unlock();
    work();
    lock.lock();
  }
}

void Guest::Free(int pid) {
  std::thread native;
  std::unique_ptr<Threads> threads;
  std::shared_ptr<Process> process;
  Fd vm;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = members_.find(pid);
    Member* m = it == members_.end() ? nullptr : it->second.get();
    if (!m || m->first) return;
    native = std::move(m->native);
    threads = std::move(m->threads);
    process = std::move(m->owned);
    vm = std::move(m->vm);
    m->process = nullptr;
    m->threads_view = nullptr;
    m->freed = true;
    if (m->reaped) members_.erase(pid);
  }
  if (native.joinable()) native.join();
  threads.reset();  // its service thread and vCPUs, before the memory they run in
  process.reset();
  vm.Reset();
  Bump();
}

// ---- ends

namespace {

// Whether `g` asked for no zombies: SIGCHLD ignored, or SA_NOCLDWAIT.
bool NoZombies(Process& g) {
  std::lock_guard<std::mutex> lock(g.signal_mutex);
  const kernel_sigaction_t& act = g.sigactions[SIGCHLD];
  return act.handler == reinterpret_cast<uint64_t>(SIG_IGN) || (act.flags & SA_NOCLDWAIT);
}

}  // namespace

void Guest::Ended(Member* m, const RunResult& r, uint64_t cpu_us) {
  Process& p = *m->process;
  // What Linux's do_exit does before it tells the parent: the files close
  // (a pipe's reader sees its end as the parent sees the child's).
  ReleaseGuestFiles(p.fds.TakeAll());
  WaitResult w;
  w.pid = m->pid;
  w.uid = p.uid.load();
  w.utime_us = cpu_us;
  if (r.kind == RunResult::kExited || r.kind == RunResult::kThreadExit) {
    w.code = CLD_EXITED;
    w.status = r.status & 0xff;
    w.wstatus = w.status << 8;
  } else {
    const int sig = r.kind == RunResult::kError || r.signal <= 0 || r.signal > 64 ? SIGKILL : r.signal;
    w.code = CLD_KILLED;
    w.status = sig;
    w.wstatus = sig;
  }
  int parent_pid = 0, exit_signal = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    m->result = w;
    m->ended = true;
    parent_pid = m->ppid;
    exit_signal = m->exit_signal;
    m->vfork_released = true;
    Reparent(m->pid);
    Member* parent = Find(parent_pid);
    if (parent && parent->process && !parent->ended) {
      Process& pp = *parent->process;
      if (exit_signal == SIGCHLD && NoZombies(pp)) m->reaped = true;
      if (exit_signal) SignalProcess(pp, nullptr, exit_signal, w.code);
    } else {
      m->reaped = true;  // nobody is left to wait for it
    }
  }
  if (tracer_) tracer_->ProcessEnd(m->pid, w.code != CLD_EXITED, w.status);
  Bump();
  // Its memory and threads go on the maker: this thread is one of them.
  const int pid = m->pid;
  std::lock_guard<std::mutex> lock(maker_mutex_);
  if (!maker_stop_) maker_work_.push_back([this, pid] { Free(pid); });
  maker_cv_.notify_all();
}

// An orphan's parent becomes the first process, as Linux's init (or the
// subreaper) takes them; its zombies go with it.
void Guest::Reparent(int pid) {
  bool zombies = false;
  for (auto& [cpid, c] : members_) {
    if (c->first || c->ppid != pid) continue;
    c->ppid = first_pid_;
    if (c->process) c->process->ppid = first_pid_;
    if (c->ended && !c->reaped) zombies = true;
  }
  if (!zombies) return;
  Member* first = Find(first_pid_);
  if (first && first->process && !first->ended && NoZombies(*first->process)) {
    for (auto& [cpid, c] : members_)
      if (!c->first && c->ppid == first_pid_ && c->ended) c->reaped = true;
  }
}

void Guest::RequestStopOthers(Process::StopRequest why) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [pid, m] : members_)
    if (!m->first && m->threads_view && !m->ended) m->threads_view->RequestStop(why);
}

void Guest::KillOthers(bool wait) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ending_ = true;
    for (auto& [pid, m] : members_) {
      if (m->first || !m->threads_view || m->ended) continue;
      m->process->Kill(SIGKILL, "its guest ended");
      m->threads_view->RequestStop(Process::kKill);
    }
  }
  Bump();  // a vfork parent waiting, a wait
  if (!wait) return;
  for (;;) {
    const uint32_t seen = generation_.load();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      bool left = false;
      for (auto& [pid, m] : members_)
        if (!m->first && !m->freed) left = true;
      if (!left) return;
      // A fork under way when the end came is killed as it starts.
      for (auto& [pid, m] : members_)
        if (!m->first && m->threads_view && !m->ended) m->threads_view->RequestStop(Process::kKill);
    }
    Sleep(seen);
  }
}

// ---- signals, groups and sessions

int64_t Guest::Kill(Process& sender, Task& t, int64_t pid, int sig) {
  std::vector<Process*> targets;
  std::lock_guard<std::mutex> lock(mutex_);
  bool zombie = false;
  if (pid > 0) {
    Member* m = Find(static_cast<int>(pid));
    if (!m) {
      // A thread's tid names its process, as on Linux.
      for (auto& [ppid, c] : members_)
        if (!c->reaped && c->threads_view && !c->ended && c->threads_view->WithTask(static_cast<int>(pid), [](Task&) {})) m = c.get();
    }
    if (m && m->process && !m->ended) targets.push_back(m->process);
    else if (m) zombie = true;
  } else {
    const int group = pid == 0 ? sender.pgid.load() : static_cast<int>(-pid);
    for (auto& [ppid, m] : members_) {
      if (m->reaped) continue;  // gone, its record not yet
      if (pid == -1) {
        // Every process but init and the caller (Linux's kill(-1)).
        if (m->pid == 1 || m->process == &sender) continue;
      } else if (m->pgid != group) {
        continue;
      }
      if (m->process && !m->ended) targets.push_back(m->process);
      else zombie = true;
    }
  }
  if (targets.empty()) return zombie ? 0 : -ESRCH;
  if (sig == 0) return 0;
  for (Process* p : targets) SignalProcess(*p, p == &sender ? &t : nullptr, sig, SI_USER);
  return 0;
}

bool Guest::WithProcess(int pid, const std::function<void(Process&)>& fn) {
  std::lock_guard<std::mutex> lock(mutex_);
  Member* m = Find(pid);
  if (!m || !m->process || m->ended) return false;
  fn(*m->process);
  return true;
}

int64_t Guest::SetPgid(Process& caller, int pid, int pgid) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pid == 0) pid = caller.pid;
  if (pgid == 0) pgid = pid;
  Member* m = Find(pid);
  if (!m || (m->pid != caller.pid && m->ppid != caller.pid)) return -ESRCH;
  if (m->pid != caller.pid && m->execed) return -EACCES;
  if (m->sid != caller.sid.load()) return -EPERM;
  if (m->sid == m->pid) return -EPERM;  // a session leader
  if (pgid != pid) {
    bool exists = false;
    for (auto& [ppid, c] : members_)
      if (c->pgid == pgid && c->sid == m->sid && !c->ended && !c->reaped) exists = true;
    // The first process's group and session are the host's: its group is
    // there to join whether or not a guest process still leads it.
    if (!exists && !(pgid == caller.pgid.load() && pgid != caller.pid)) return -EPERM;
  }
  m->pgid = pgid;
  if (m->process) m->process->pgid = pgid;
  return 0;
}

int64_t Guest::SetSid(Process& caller) {
  std::lock_guard<std::mutex> lock(mutex_);
  Member* m = Find(caller.pid);
  if (!m) return -EPERM;
  for (auto& [ppid, c] : members_)
    if (c->pgid == caller.pid && !c->ended && !c->reaped) return -EPERM;  // it leads a group
  m->pgid = m->sid = caller.pid;
  caller.pgid = caller.pid;
  caller.sid = caller.pid;
  return caller.pid;
}

int64_t Guest::PgidOf(int pid) {
  std::lock_guard<std::mutex> lock(mutex_);
  Member* m = Find(pid);
  return m && !m->ended ? m->pgid : -ESRCH;
}

int64_t Guest::SidOf(int pid) {
  std::lock_guard<std::mutex> lock(mutex_);
  Member* m = Find(pid);
  return m && !m->ended ? m->sid : -ESRCH;
}

}  // namespace torov
