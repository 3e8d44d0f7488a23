// The wait path: a parent finds a child that has ended (wait4, waitid),
// and reaps it, unless it only looks (WNOWAIT).
#include <signal.h>

#include "../hypercalls/hypercalls.h"
#include "guest.h"
#include "member.h"

namespace torov {

namespace {

// Whether `t` has a signal to take that would do something: a wait ends
// for a handler or a kill, not for a signal that is ignored (SIGCHLD's
// default), which Linux never wakes a waiter for.
bool Interrupting(Task& t) {
  Process& g = t.process;
  if (g.interrupted()) return true;
  uint64_t pending = t.Deliverable();
  if (!pending) return false;
  std::lock_guard<std::mutex> lock(g.signal_mutex);
  while (pending) {
    const int sig = __builtin_ctzll(pending) + 1;
    pending &= pending - 1;
    const uint64_t handler = g.sigactions[sig].handler;
    if (handler == reinterpret_cast<uint64_t>(SIG_IGN)) continue;
    if (handler == reinterpret_cast<uint64_t>(SIG_DFL) && DefaultIsIgnore(sig)) continue;
    return true;
  }
  return false;
}

}  // namespace

bool Guest::Matches(const Member& m, const Process& parent, const WaitRequest& r) const {
  if (m.first || !m.made || m.reaped || m.ppid != parent.pid) return false;
  switch (r.which) {
    case WaitRequest::kPid:
      if (m.pid != r.id) return false;
      break;
    case WaitRequest::kGroup:
      if (m.pgid != r.id) return false;
      break;
    case WaitRequest::kAny:
      break;
  }
  // A child that sends its parent something other than SIGCHLD at its end
  // is a "clone" child: only __WCLONE or __WALL waits find it.
  if (r.all) return true;
  return r.clone_only == (m.exit_signal != SIGCHLD);
}

int64_t Guest::Wait(Process& parent, Task& t, const WaitRequest& r, WaitResult* out) {
  for (;;) {
    const uint32_t seen = generation_.load();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      bool any = false;
      for (auto it = members_.begin(); it != members_.end(); ++it) {
        Member& m = *it->second;
        if (!Matches(m, parent, r)) continue;
        any = true;
        if (!m.ended || !r.exited) continue;
        *out = m.result;
        if (!r.nowait) {
          m.reaped = true;
          if (m.freed) members_.erase(it);
        }
        return out->pid;
      }
      if (!any) return -ECHILD;
    }
    if (r.nohang) return 0;
    if (Interrupting(t)) return -EINTR;
    Sleep(seen);
  }
}

}  // namespace torov
