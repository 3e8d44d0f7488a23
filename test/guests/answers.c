// Calls whose answers torov makes up or shapes itself, each printed as
// "what: result": the test holds what Linux answers a process started by a
// shell (the leader of its process group, not of its session).
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

int main(void) {
  // poll: an fd that is not open does not hide the ready ones.
  int p[2];
  pipe(p);
  write(p[1], "x", 1);
  struct pollfd fds[2] = {{.fd = 999, .events = POLLIN}, {.fd = p[0], .events = POLLIN}};
  TRY("poll with a closed fd and a ready one", poll(fds, 2, 1000));
  printf("their revents: %s %s\n", fds[0].revents == POLLNVAL ? "POLLNVAL" : "?", fds[1].revents == POLLIN ? "POLLIN" : "?");
  // epoll_wait: as many events as the buffer holds, far past 4096.
  static struct epoll_event events[5000];
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
  TRY("epoll_wait for up to 5000 events", epoll_wait(ep, events, 5000, 1000));
  printf("its event's data: %s\n", events[0].data.u64 == 0x1122334455667788ULL ? "intact" : "changed");
  // A path that goes on below a file is not a directory.
  TRY("utimensat /dev/null/x", utimensat(AT_FDCWD, "/dev/null/x", NULL, 0));
  TRY("open /dev/null/x", open("/dev/null/x", O_RDONLY));
  TRY("mkdir /dev/zero/x", mkdir("/dev/zero/x", 0755));
  TRY("stat /proc/self/exe/x", ({ struct stat st; stat("/proc/self/exe/x", &st); }));
  // Process groups and sessions.
  TRY("setpgid(0, 0)", setpgid(0, 0));
  TRY("setpgid(0, getpid())", setpgid(0, getpid()));
  TRY("setpgid into another group", setpgid(0, getpid() + 1000));
  TRY("setpgid of another process", setpgid(getpid() + 1000, 0));
  TRY("setsid", setsid());
  TRY("getpgrp is its pid", getpgrp() == getpid());
  TRY("getsid(0) is not its pid", getsid(0) != getpid());
  // Identity: moving among its own ids works, anything else does not.
  const uid_t uid = getuid();
  const gid_t gid = getgid();
  TRY("setuid(its uid)", setuid(uid));
  TRY("setuid(another uid)", setuid(uid + 1));
  TRY("setresuid(-1, -1, -1)", setresuid(-1, -1, -1));
  TRY("setresuid(its uid x3)", setresuid(uid, uid, uid));
  TRY("setreuid(another uid, -1)", setreuid(uid + 1, -1));
  TRY("setgid(its gid)", setgid(gid));
  TRY("setresgid(another gid, -1, -1)", setresgid(gid + 1, -1, -1));
  TRY("setgroups", setgroups(0, NULL));
  TRY("getuid unchanged", getuid() == uid && geteuid() == uid);
  return 0;
}
