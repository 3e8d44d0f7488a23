// Event descriptors and kernel-side copies: epoll over a pipe, an eventfd
// and a timerfd; memfd; splice, tee and copy_file_range; sendmmsg and
// recvmmsg; utimes and the old getdents.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

static int failures;
#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s (%s)\n", __LINE__, #c, strerror(errno)); failures++; } } while (0)

int main(void) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  int p[2];
  CHECK(ep >= 0 && pipe(p) == 0);
  int ev = eventfd(0, EFD_NONBLOCK);
  int tf = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  struct epoll_event e = {.events = EPOLLIN, .data.u64 = 0x1111};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) == 0);
  e.data.u64 = 0x2222;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) == 0);
  e.data.u64 = 0x3333;
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, tf, &e) == 0);
  struct epoll_event out[4];
  CHECK(epoll_wait(ep, out, 4, 0) == 0);
  CHECK(write(p[1], "x", 1) == 1);
  uint64_t one = 5;
  CHECK(write(ev, &one, 8) == 8);
  int n = epoll_wait(ep, out, 4, 1000);
  unsigned long seen = 0;
  for (int i = 0; i < n; i++) seen |= out[i].data.u64;
  printf("epoll: %d ready, data %lx\n", n, seen);
  struct itimerspec its = {.it_value = {0, 3000000}};
  CHECK(timerfd_settime(tf, 0, &its, NULL) == 0);
  char c;
  read(p[0], &c, 1);
  read(ev, &one, 8);
  n = epoll_wait(ep, out, 4, 2000);
  printf("timer: %d ready, data %lx\n", n, n == 1 ? (unsigned long)out[0].data.u64 : 0UL);
  uint64_t expirations = 0;
  CHECK(read(tf, &expirations, 8) == 8 && expirations >= 1);
  CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL) == 0);

  int mf = memfd_create("scratch", MFD_CLOEXEC);
  CHECK(mf >= 0 && write(mf, "memory file", 11) == 11);
  char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, mf, 0);
  CHECK(m != MAP_FAILED && memcmp(m, "memory file", 11) == 0);
  printf("memfd: %.11s\n", m);

  int f = open("spliced", O_CREAT | O_RDWR | O_TRUNC, 0644);
  CHECK(write(p[1], "through a pipe", 14) == 14);
  CHECK(splice(p[0], NULL, f, NULL, 14, 0) == 14);
  int g = open("copied", O_CREAT | O_RDWR | O_TRUNC, 0644);
  loff_t off = 8;
  CHECK(copy_file_range(f, &off, g, NULL, 6, 0) == 6 && off == 14);
  char buf[32] = {0};
  CHECK(pread(g, buf, 6, 0) == 6);
  printf("splice+copy_file_range: %s\n", buf);
  int q[2];
  pipe(q);
  write(p[1], "teed", 4);
  CHECK(tee(p[0], q[1], 4, 0) == 4);
  memset(buf, 0, sizeof buf);
  CHECK(read(q[0], buf, 4) == 4 && read(p[0], buf + 4, 4) == 4);
  printf("tee: %s\n", buf);

  int sp[2];
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sp) == 0);
  struct iovec iov[3] = {{"one", 3}, {"two", 3}, {"three", 5}};
  struct mmsghdr msgs[3];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < 3; i++) msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
  CHECK(sendmmsg(sp[0], msgs, 3, 0) == 3);
  char rb[3][8];
  struct iovec riov[3];
  struct mmsghdr rmsgs[3];
  memset(rmsgs, 0, sizeof rmsgs);
  memset(rb, 0, sizeof rb);
  for (int i = 0; i < 3; i++) {
    riov[i] = (struct iovec){rb[i], 8};
    rmsgs[i].msg_hdr = (struct msghdr){.msg_iov = &riov[i], .msg_iovlen = 1};
  }
  n = recvmmsg(sp[1], rmsgs, 3, 0, NULL);
  printf("mmsg: %d: %s/%u %s/%u %s/%u\n", n, rb[0], rmsgs[0].msg_len, rb[1], rmsgs[1].msg_len, rb[2], rmsgs[2].msg_len);

  struct timeval tv[2] = {{1000000000, 0}, {1000000000, 500000}};
  CHECK(utimes("copied", tv) == 0);
  struct stat st;
  CHECK(stat("copied", &st) == 0 && st.st_mtim.tv_sec == 1000000000 && st.st_mtim.tv_nsec == 500000000);
  int d = open(".", O_RDONLY | O_DIRECTORY);
  char dents[4096];
  long got = syscall(SYS_getdents, d, dents, sizeof dents);
  int entries = 0;
  for (long pos = 0; pos < got; pos += *(unsigned short *)(dents + pos + 16)) entries++;
  printf("getdents: %d entries\n", entries);
  printf("failures=%d\n", failures);
  return failures != 0;
}
