#define _GNU_SOURCE
// Sockets inside one process: TCP over loopback (non-blocking connect,
// accept, poll), UDP, socketpair with a passed descriptor, and a Unix socket
// whose path lies in the working directory.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int failures;
#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s (%s)\n", __LINE__, #c, strerror(errno)); failures++; } } while (0)

int main(void) {
  int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(srv >= 0);
  int on = 1;
  CHECK(setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(srv, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(listen(srv, 4) == 0);
  socklen_t len = sizeof a;
  CHECK(getsockname(srv, (struct sockaddr *)&a, &len) == 0 && a.sin_port != 0);
  int cli = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int r = connect(cli, (struct sockaddr *)&a, sizeof a);
  CHECK(r == 0 || errno == EINPROGRESS);
  struct sockaddr_in peer;
  len = sizeof peer;
  int conn = accept4(srv, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
  CHECK(conn >= 0 && peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
  struct pollfd pf = {cli, POLLOUT, 0};
  CHECK(poll(&pf, 1, 1000) == 1);
  int err = -1;
  len = sizeof err;
  CHECK(getsockopt(cli, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
  CHECK(setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0);
  CHECK(send(cli, "hello", 5, 0) == 5);
  char buf[64] = {0};
  CHECK(recv(conn, buf, sizeof buf, 0) == 5 && !strcmp(buf, "hello"));
  CHECK(shutdown(cli, SHUT_WR) == 0);
  CHECK(recv(conn, buf, sizeof buf, 0) == 0);
  close(cli);
  close(conn);
  close(srv);
  printf("tcp ok\n");

  int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
  a.sin_port = 0;
  CHECK(bind(u1, (struct sockaddr *)&a, sizeof a) == 0);
  len = sizeof a;
  getsockname(u1, (struct sockaddr *)&a, &len);
  CHECK(sendto(u2, "datagram", 8, 0, (struct sockaddr *)&a, sizeof a) == 8);
  struct sockaddr_in from;
  len = sizeof from;
  memset(buf, 0, sizeof buf);
  CHECK(recvfrom(u1, buf, sizeof buf, 0, (struct sockaddr *)&from, &len) == 8 && !strcmp(buf, "datagram"));
  close(u1);
  close(u2);
  printf("udp ok\n");

  int sp[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
  int p[2];
  pipe(p);
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {"x", 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &p[1], sizeof(int));
  CHECK(sendmsg(sp[0], &msg, 0) == 1);
  char one;
  struct iovec riov = {&one, 1};
  struct msghdr rmsg = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  CHECK(recvmsg(sp[1], &rmsg, 0) == 1);
  int passed = -1;
  memcpy(&passed, CMSG_DATA(CMSG_FIRSTHDR(&rmsg)), sizeof(int));
  CHECK(passed > 2 && write(passed, "via passed fd", 13) == 13);
  CHECK(read(p[0], buf, 13) == 13 && !memcmp(buf, "via passed fd", 13));
  printf("socketpair ok\n");

  // Calls that must not wait, on blocking sockets: MSG_DONTWAIT, and
  // recvmmsg's MSG_WAITFORONE once one message came.
  int nb[2];
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, nb) == 0);
  errno = 0;
  CHECK(recv(nb[0], buf, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN);
  errno = 0;
  CHECK(recvmsg(nb[0], &rmsg, MSG_DONTWAIT) == -1 && errno == EAGAIN);
  CHECK(send(nb[1], "one", 3, MSG_DONTWAIT) == 3);
  char m1[8], m2[8];
  struct iovec v1 = {m1, sizeof m1}, v2 = {m2, sizeof m2};
  struct mmsghdr mm[2] = {{.msg_hdr = {.msg_iov = &v1, .msg_iovlen = 1}}, {.msg_hdr = {.msg_iov = &v2, .msg_iovlen = 1}}};
  CHECK(recvmmsg(nb[0], mm, 2, MSG_WAITFORONE, NULL) == 1 && mm[0].msg_len == 3);
  close(nb[0]);
  close(nb[1]);
  printf("dontwait ok\n");

  int us = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  strcpy(un.sun_path, "server.sock");
  unlink("server.sock");
  CHECK(bind(us, (struct sockaddr *)&un, sizeof un) == 0);
  CHECK(access("server.sock", F_OK) == 0);
  CHECK(listen(us, 1) == 0);
  int uc = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(connect(uc, (struct sockaddr *)&un, sizeof un) == 0);
  int ua = accept(us, NULL, NULL);
  CHECK(ua >= 0 && write(uc, "unix", 4) == 4 && read(ua, buf, 4) == 4);
  unlink("server.sock");
  printf("unix ok\n");
  printf("failures=%d\n", failures);
  return failures != 0;
}
