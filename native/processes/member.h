// One process in the tree (native/processes/guest.h), as the tree keeps
// it: every field under Guest's mutex_.
#pragma once

#include <memory>
#include <thread>

#include "guest.h"

namespace torov {

struct Guest::Member {
  int pid = 0;
  int ppid = 0;
  int pgid = 0, sid = 0;
  int exit_signal = SIGCHLD;
  bool first = false;  // the machine's: neither owned nor freed here
  bool made = false;   // its fork has finished: a wait may find it
  bool execed = false; // it has called execve (setpgid by its parent: EACCES)
  // While it runs: its process and threads (a child's owned here); null
  // once its memory is freed.
  Process* process = nullptr;
  Threads* threads_view = nullptr;
  std::shared_ptr<Process> owned;
  std::unique_ptr<Threads> threads;
  Fd vm;
  std::thread native;  // a child's main thread
  // Its end: a zombie until reaped (then the record goes once freed).
  bool ended = false;
  bool reaped = false;
  bool freed = false;
  bool vfork_released = false;  // a vfork parent may go on
  WaitResult result;
};

}  // namespace torov
