// A guest that tries everything a sandbox must refuse, and reports what it
// got: lengths that overflow, ioctls nobody forwards (KVM's among them),
// processes and privileges it cannot have, signals to others, descriptors it
// never opened, and, last, all the memory it can get. Each line is
// "what: result"; the test knows what each must be.
//   hostile [connect PORT]   also try to reach 127.0.0.1:PORT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report.h"

// A process-making call: its child ends at once; the parent says whether
// it got one and reaped it (a wait that names it, whatever its exit signal).
static void child_of(const char *what, long pid) {
  if (pid == 0) _exit(0);
  if (pid < 0) {
    report(what, pid);
    return;
  }
  int st;
  const long got = waitpid((pid_t)pid, &st, __WALL);
  printf("%s: a child, %s\n", what, got == pid && WIFEXITED(st) ? "reaped" : "lost");
  fflush(stdout);
}

int main(int argc, char **argv) {
  static char buf[64];
  // ---- lengths and pointers that overflow
  TRY("write len wraps the address space", syscall(SYS_write, 1, buf, (size_t)-64));
  TRY("write from the top of the address space", syscall(SYS_write, 1, (void *)0xfffffffffffff000UL, 64));
  TRY("read len far past the buffer", syscall(SYS_read, 0, (void *)0x7ffffffff000UL, (size_t)1 << 62));
  struct iovec iov[2] = {{buf, SSIZE_MAX}, {buf, SSIZE_MAX}};
  TRY("writev lengths sum past SSIZE_MAX", syscall(SYS_writev, 1, iov, 2));
  TRY("writev iovcnt past IOV_MAX", syscall(SYS_writev, 1, iov, 1 << 20));
  TRY("pread negative offset", syscall(SYS_pread64, 0, buf, 1, -1L));
  TRY("poll nfds huge", syscall(SYS_poll, buf, (unsigned long)1 << 40, 0));
  struct timeval zero = {0, 0};
  TRY("select nfds past FD_SETSIZE", syscall(SYS_select, 1 << 20, buf, NULL, NULL, &zero));
  TRY("connect (denied) with sockaddr len huge", syscall(SYS_connect, 0, buf, 1 << 30));
  // Allowed calls, so that the monitor's own address checks answer: on a
  // real socket (Linux looks at the socket before the address).
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  TRY("sendto sockaddr len huge", syscall(SYS_sendto, udp, buf, 1, 0, buf, 1 << 30));
  TRY("bind sockaddr len huge", syscall(SYS_bind, udp, buf, 1 << 30));
  TRY("sendto sockaddr len 1", syscall(SYS_sendto, udp, buf, 1, 0, buf, 1));
  close(udp);
  TRY("mmap len huge", (long)syscall(SYS_mmap, 0, (size_t)1 << 62, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  TRY("mmap fixed over the runtime", (long)syscall(SYS_mmap, 0x1000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  TRY("mprotect the runtime", syscall(SYS_mprotect, 0x1000, 4096, PROT_READ | PROT_WRITE | PROT_EXEC));
  TRY("munmap the runtime", syscall(SYS_munmap, 0x1000, 0x8000));
  TRY("mremap len huge", (long)syscall(SYS_mremap, buf, 4096, (size_t)1 << 62, MREMAP_MAYMOVE));
  // A control-message chain whose second header claims the whole buffer:
  // Linux refuses it (each length must fit what is left after its header);
  // a monitor that checked it against the whole buffer would read and
  // rewrite past its copy. Every int it could reach says fd 1.
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0) {
    union {
      struct cmsghdr align;
      int words[64];
    } control;
    for (int i = 0; i < 64; i++) control.words[i] = 1;
    struct cmsghdr *first = &control.align;
    memset(first, 0, sizeof *first);  // musl's cmsg_len is 32 bits and a pad
    first->cmsg_len = CMSG_LEN(sizeof(int));
    first->cmsg_level = SOL_SOCKET;
    first->cmsg_type = SCM_RIGHTS;
    struct cmsghdr *second = (struct cmsghdr *)((char *)first + CMSG_SPACE(sizeof(int)));
    memset(second, 0, sizeof *second);
    second->cmsg_len = 128;  // the whole buffer, from 24 bytes in
    second->cmsg_level = SOL_SOCKET;
    second->cmsg_type = SCM_RIGHTS;
    struct iovec one = {buf, 1};
    struct msghdr m = {.msg_iov = &one, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = 128};
    TRY("sendmsg a cmsg length past the buffer's end", syscall(SYS_sendmsg, pair[0], &m, 0));
    first->cmsg_len = 128;  // one header as long as the buffer: valid
    TRY("sendmsg a cmsg as long as the buffer", syscall(SYS_sendmsg, pair[0], &m, 0));
    first->cmsg_len = 8;
    TRY("sendmsg a cmsg length shorter than its header", syscall(SYS_sendmsg, pair[0], &m, 0));
    close(pair[0]);
    close(pair[1]);
  }
  char longpath[PATH_MAX + 16];
  memset(longpath, 'a', sizeof longpath - 1);
  longpath[sizeof longpath - 1] = 0;
  TRY("open a path longer than PATH_MAX", syscall(SYS_open, longpath, O_RDONLY));

  // ---- ioctls the monitor does not forward, KVM's first
  TRY("ioctl KVM_GET_API_VERSION on stdin", syscall(SYS_ioctl, 0, 0xae00, 0));
  TRY("ioctl KVM_CREATE_VM on stdout", syscall(SYS_ioctl, 1, 0xae01, 0));
  TRY("ioctl KVM_RUN on stderr", syscall(SYS_ioctl, 2, 0xae80, 0));
  char c = 'x';
  TRY("ioctl TIOCSTI (type into the terminal)", syscall(SYS_ioctl, 0, TIOCSTI, &c));
  TRY("open /dev/kvm", syscall(SYS_open, "/dev/kvm", O_RDWR));

  // ---- processes, privileges, other processes
  child_of("fork", syscall(SYS_fork));
  child_of("vfork", syscall(SYS_vfork));
  child_of("clone", syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  child_of("clone3", syscall(SYS_clone3, buf, 64));
  char *args[] = {"/bin/sh", NULL};
  TRY("execve", syscall(SYS_execve, "/bin/sh", args, NULL));
  TRY("ptrace attach to pid 1", syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0, 0));
  TRY("process_vm_readv pid 1", syscall(SYS_process_vm_readv, 1, iov, 1, iov, 1, 0));
  TRY("mount", syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL));
  TRY("chroot", syscall(SYS_chroot, "/"));
  TRY("unshare", syscall(SYS_unshare, CLONE_NEWUSER));
  TRY("setns", syscall(SYS_setns, 0, 0));
  TRY("bpf", syscall(SYS_bpf, 0, buf, 64));
  TRY("init_module", syscall(SYS_init_module, buf, 64, ""));
  TRY("reboot", syscall(SYS_reboot, 0xfee1dead, 0x28121969, 0x1234567, NULL));
  // Another process: init, or (when the guest is pid 1 itself, Newpid) the
  // pid the monitor's parent would likely have.
  const pid_t me = getpid(), other = me == 1 ? 2 : 1;
  TRY("getpid", me);
  TRY("kill another process", syscall(SYS_kill, other, SIGKILL));
  TRY("kill another process group", syscall(SYS_kill, -(other + 1), SIGKILL));
  TRY("kill -1 (everyone)", syscall(SYS_kill, -1, SIGTERM));
  TRY("tgkill another thread", syscall(SYS_tgkill, getpid(), getpid() + 1, SIGKILL));
  TRY("rt_sigaction SIGKILL", syscall(SYS_rt_sigaction, SIGKILL, buf, NULL, 8));

  // ---- descriptors it never opened
  int seen = 0;
  for (int fd = 3; fd < 65536; fd++) seen += fcntl(fd, F_GETFD) >= 0;
  printf("descriptors 3..65535 open: %d\n", seen);
  TRY("close a monitor-range fd", syscall(SYS_close, 1023));

  if (argc > 2 && strcmp(argv[1], "connect") == 0) {
    int s;
    TRY("socket", s = socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    TRY("connect to the host", connect(s, (struct sockaddr *)&a, sizeof a));
  }

  // ---- all the memory it can get: mapped and touched, until refused
  size_t total = 0;
  const size_t chunk = 8 << 20;
  for (;;) {
    char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) break;
    memset(p, 0xa5, chunk);
    total += chunk;
  }
  printf("mmap until refused: %s after %zu MiB\n", errname(errno), total >> 20);
  void *b0 = sbrk(0);
  long grown = 0;
  while (sbrk(1 << 20) != (void *)-1) grown++;
  printf("brk until refused: %s (%ld MiB more)\n", errname(errno), grown);
  (void)b0;
  // Still alive; wait to be told to go (the test reads the monitor's memory now).
  printf("alive\n");
  fflush(stdout);
  read(0, buf, 1);
  return 0;
}
