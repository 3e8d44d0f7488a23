// Sockets: AF_INET, AF_INET6 and AF_UNIX. Addresses and options are copied
// by the monitor; nothing the guest passes is handed to the host as a
// pointer. Unix socket path names resolve inside the MountPoint (through
// the confined parent directory's magic link); abstract names live in the
// host's network namespace and are refused. Only the socket options whose
// values are known to be flat pass (kSocketOptions); raw sockets never.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "hypercalls.h"
#include "iovec.h"

namespace torov {

namespace {

constexpr int kSockTypeMask = 0xf;  // the kernel's SOCK_TYPE_MASK

bool AllowedFamily(int family) { return family == AF_UNIX || family == AF_INET || family == AF_INET6; }

// The socket types and protocols an ordinary process uses: 0 when the host
// may make it, else the errno. Raw and packet sockets are refused as Linux
// refuses them to a process without CAP_NET_RAW (EPERM), whoever runs torov;
// protocols beyond TCP, UDP and ping (SCTP, DCCP...) would have the host
// kernel load their modules for the guest.
int SocketKind(int family, int type, int protocol) {
  if (type & ~(kSockTypeMask | SOCK_NONBLOCK | SOCK_CLOEXEC)) return EINVAL;
  const int base = type & kSockTypeMask;
  if (base == SOCK_RAW || base == SOCK_PACKET) return EPERM;
  if (base != SOCK_STREAM && base != SOCK_DGRAM && base != SOCK_SEQPACKET) return EINVAL;
  if (family == AF_UNIX) return protocol == 0 || protocol == PF_UNIX ? 0 : EPROTONOSUPPORT;
  if (base == SOCK_STREAM) return protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP ? 0 : EPROTONOSUPPORT;
  if (base == SOCK_DGRAM)
    return protocol == 0 || protocol == IPPROTO_UDP || protocol == (family == AF_INET ? static_cast<int>(IPPROTO_ICMP) : static_cast<int>(IPPROTO_ICMPV6))
               ? 0
               : EPROTONOSUPPORT;
  return EPROTONOSUPPORT;  // SOCK_SEQPACKET over IP is SCTP
}

// A guest socket address made safe for the host. For a unix path name, the
// confined parent directory stays open while the address is used.
struct HostAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  Fd dir;  // what the host path of a unix socket goes through, held until the call is made
};

int AddrIn(Process& g, uint64_t addr, uint64_t len, HostAddr* out, bool bind = false) {
  if (len > sizeof(sockaddr_storage)) return -EINVAL;
  if (!CopyInBytes(g, addr, &out->storage, len)) return -EFAULT;
  out->len = static_cast<socklen_t>(len);
  if (len < sizeof(sa_family_t)) return -EINVAL;
  if (out->storage.ss_family != AF_UNIX) return 0;
  auto* un = reinterpret_cast<sockaddr_un*>(&out->storage);
  const size_t path_len = len - offsetof(sockaddr_un, sun_path);
  if (path_len == 0) return 0;                 // unnamed
  if (un->sun_path[0] == '\0') return -EACCES;  // abstract: outside the sandbox
  std::string path(un->sun_path, strnlen(un->sun_path, path_len));
  std::string abs, host;
  if (int r = g.paths.Join(g.fds, AT_FDCWD, path, &abs); r < 0) return r;
  if (int r = g.paths.SocketPath(abs, bind, &out->dir, &host); r < 0) return r;
  if (host.size() >= sizeof(un->sun_path)) return -ENAMETOOLONG;
  std::memset(un->sun_path, 0, sizeof un->sun_path);
  std::memcpy(un->sun_path, host.c_str(), host.size());
  out->len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + host.size() + 1);
  return 0;
}

// Writes a host socket address back to the guest (addr, *addrlen in/out).
// Host paths of unix sockets are not shown to the guest.
int AddrOut(Process& g, const sockaddr_storage& ss, socklen_t len, uint64_t addr, uint64_t lenp) {
  if (!addr || !lenp) return 0;
  socklen_t room;
  if (!CopyIn(g, lenp, &room)) return -EFAULT;
  if (static_cast<int>(room) < 0) return -EINVAL;
  sockaddr_storage copy = ss;
  if (copy.ss_family == AF_UNIX && len > offsetof(sockaddr_un, sun_path)) {
    auto* un = reinterpret_cast<sockaddr_un*>(&copy);
    if (un->sun_path[0] == '/') len = offsetof(sockaddr_un, sun_path);
  }
  if (!CopyOutBytes(g, addr, &copy, std::min(room, len))) return -EFAULT;
  if (!CopyOut(g, lenp, len)) return -EFAULT;
  return 0;
}

int64_t Socket(Process& g, Task& t, const Args& a) {
  const int family = static_cast<int>(a[0]);
  const int type = static_cast<int>(a[1]);
  if (!AllowedFamily(family)) return -EAFNOSUPPORT;
  if (int e = SocketKind(family, type, static_cast<int>(a[2]))) return -e;
  int fd = socket(family, (type & ~SOCK_CLOEXEC) | SOCK_CLOEXEC, static_cast<int>(a[2]));
  if (fd < 0) return -errno;
  return InstallHostFd(g, fd, ((type & SOCK_NONBLOCK) ? O_NONBLOCK : 0) | ((type & SOCK_CLOEXEC) ? O_CLOEXEC : 0));
}

int64_t Socketpair(Process& g, Task& t, const Args& a) {
  const int family = static_cast<int>(a[0]);
  const int type = static_cast<int>(a[1]);
  if (family != AF_UNIX) return -EAFNOSUPPORT;
  if (int e = SocketKind(family, type, static_cast<int>(a[2]))) return -e;
  if (!g.mm.User(a[3], 8, Access::kWrite)) return -EFAULT;
  int host[2];
  if (socketpair(family, (type & ~SOCK_CLOEXEC) | SOCK_CLOEXEC, static_cast<int>(a[2]), host) < 0) return -errno;
  Fd s0(host[0]), s1(host[1]);
  const int flags = ((type & SOCK_NONBLOCK) ? O_NONBLOCK : 0) | ((type & SOCK_CLOEXEC) ? O_CLOEXEC : 0);
  int64_t r0 = InstallHostFd(g, s0.Release(), flags);
  if (r0 < 0) return r0;
  int64_t r1 = InstallHostFd(g, s1.Release(), flags);
  if (r1 < 0) {
    g.fds.Close(r0);
    return r1;
  }
  const int fds[2] = {static_cast<int>(r0), static_cast<int>(r1)};
  CopyOut(g, a[3], fds);
  return 0;
}

int64_t Bind(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  HostAddr addr;
  if (int r = AddrIn(g, a[1], a[2], &addr, true); r < 0) return r;
  return HostResult(bind(f->host.get(), reinterpret_cast<sockaddr*>(&addr.storage), addr.len));
}

int64_t Connect(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  HostAddr addr;
  if (int r = AddrIn(g, a[1], a[2], &addr); r < 0) return r;
  int r = connect(f->host.get(), reinterpret_cast<sockaddr*>(&addr.storage), addr.len);
  if (r == 0) return 0;
  int err = errno;
  if (err == EINTR) err = EINPROGRESS;  // not restarted by Linux either
  if (err == EINPROGRESS && !f->nonblock) {
    // A blocking guest on a host socket that is not: wait for the outcome.
    pollfd p{f->host.get(), POLLOUT, 0};
    while (poll(&p, 1, -1) < 0 && errno == EINTR)
      if (t.interrupted()) return -EINTR;
    int soerr = 0;
    socklen_t l = sizeof soerr;
    getsockopt(f->host.get(), SOL_SOCKET, SO_ERROR, &soerr, &l);
    return -soerr;
  }
  return -err;
}

int64_t Listen(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return HostResult(listen(f->host.get(), static_cast<int>(a[1])));
}

int64_t AcceptImpl(Process& g, Task& t, uint64_t fd, uint64_t addr, uint64_t lenp, int flags) {
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return -EINVAL;
  const std::shared_ptr<OpenFile> f = g.fds.Get(fd);
  if (!f) return -EBADF;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int64_t host = HostIo(t, *f, POLLIN, [&] {
    len = sizeof ss;
    return accept4(f->host.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC | (flags & SOCK_NONBLOCK));
  });
  if (host < 0) return host;
  Fd conn(static_cast<int>(host));
  if (int r = AddrOut(g, ss, len, addr, lenp); r < 0) return r;
  return InstallHostFd(g, conn.Release(),
                       ((flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0) | ((flags & SOCK_CLOEXEC) ? O_CLOEXEC : 0));
}
int64_t Accept(Process& g, Task& t, const Args& a) { return AcceptImpl(g, t, a[0], a[1], a[2], 0); }
int64_t Accept4(Process& g, Task& t, const Args& a) { return AcceptImpl(g, t, a[0], a[1], a[2], static_cast<int>(a[3])); }

int64_t Shutdown(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  return HostResult(shutdown(f->host.get(), static_cast<int>(a[1])));
}

int64_t Sendto(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  uint8_t* buf;
  size_t n;
  if (!GuestBuffer(g, a[1], a[2], Access::kRead, &buf, &n)) return -EFAULT;
  HostAddr addr;
  if (a[4]) {
    if (int r = AddrIn(g, a[4], a[5], &addr); r < 0) return r;
  }
  const int flags = static_cast<int>(a[3]) | MSG_NOSIGNAL;
  return HostIo(t, *f, POLLOUT, [&] {
    return sendto(f->host.get(), buf, n, flags, a[4] ? reinterpret_cast<sockaddr*>(&addr.storage) : nullptr,
                  a[4] ? addr.len : 0);
  }, flags & MSG_DONTWAIT);
}

int64_t Recvfrom(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  uint8_t* buf;
  size_t n;
  if (!GuestBuffer(g, a[1], a[2], Access::kWrite, &buf, &n)) return -EFAULT;
  sockaddr_storage ss{};
  socklen_t slen = sizeof ss;
  int64_t r = HostIo(t, *f, POLLIN, [&] {
    slen = sizeof ss;
    return recvfrom(f->host.get(), buf, n, static_cast<int>(a[3]), reinterpret_cast<sockaddr*>(&ss), &slen);
  }, a[3] & MSG_DONTWAIT);
  if (r < 0) return r;
  if (a[4]) {
    if (int e = AddrOut(g, ss, slen, a[4], a[5]); e < 0) return e;
  }
  return r;
}

// struct msghdr as the guest lays it out (the same as the host's on x86-64,
// but every pointer in it is a guest address).
struct GuestMsghdr {
  uint64_t name;
  uint32_t namelen;
  uint32_t pad0;
  uint64_t iov;
  uint64_t iovlen;
  uint64_t control;
  uint64_t controllen;
  int32_t flags;
  uint32_t pad1;
};

int64_t Sendmsg(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  GuestMsghdr m;
  if (!CopyIn(g, a[1], &m)) return -EFAULT;
  HostAddr addr;
  if (m.name && m.namelen) {
    if (int r = AddrIn(g, m.name, m.namelen, &addr); r < 0) return r;
  }
  std::vector<iovec> iov;
  if (int r = GuestIovecs(g, m.iov, m.iovlen, Access::kRead, &iov); r < 0) return r;
  // Control messages: SCM_RIGHTS carries guest fds, which become host fds.
  std::vector<uint8_t> control;
  // The files SCM_RIGHTS names stay open until the host call is made: a
  // host fd number whose file another thread closed meanwhile could be
  // anything by then, the monitor's own descriptors included.
  std::vector<std::shared_ptr<OpenFile>> passing;
  if (m.control && m.controllen) {
    if (m.controllen > 64 * 1024) return -ENOBUFS;
    control.resize(m.controllen);
    if (!CopyInBytes(g, m.control, control.data(), m.controllen)) return -EFAULT;
    // The whole chain is checked before anything in it is used, as the
    // kernel checks it (CMSG_OK): each header inside the buffer, and its
    // length within what is left of it from there. glibc's CMSG_NXTHDR
    // checks less, and a length past the end would let the guest make us
    // read and rewrite the heap beyond the copy.
    std::vector<cmsghdr*> chain;
    for (size_t off = 0; control.size() - off >= sizeof(cmsghdr);) {
      cmsghdr* c = reinterpret_cast<cmsghdr*>(control.data() + off);
      if (c->cmsg_len < sizeof(cmsghdr) || c->cmsg_len > control.size() - off) return -EINVAL;
      if (c->cmsg_level != SOL_SOCKET && c->cmsg_level != IPPROTO_IP && c->cmsg_level != IPPROTO_IPV6) return -EINVAL;
      chain.push_back(c);
      const size_t step = CMSG_ALIGN(c->cmsg_len);
      if (step >= control.size() - off) break;
      off += step;
    }
    // SCM_RIGHTS carries guest fds, which become host fds (at most 253, as
    // the kernel's SCM_MAX_FD).
    for (cmsghdr* c : chain) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      if (count > 253) return -EINVAL;
      int* fds = reinterpret_cast<int*>(CMSG_DATA(c));
      for (size_t i = 0; i < count; i++) {
        const std::shared_ptr<OpenFile> passed = g.fds.Get(fds[i]);
        if (!passed) return -EBADF;
        // A memfd in flight (or in another process) keeps its pages where
        // no guest fd shows them: it counts until the guest ends.
        if (passed->memfd) g.memfds.Sent(passed->memfd);
        fds[i] = passed->host.get();
        passing.push_back(passed);
      }
    }
  }
  msghdr h{};
  h.msg_name = m.name && m.namelen ? &addr.storage : nullptr;
  h.msg_namelen = m.name && m.namelen ? addr.len : 0;
  h.msg_iov = iov.data();
  h.msg_iovlen = iov.size();
  h.msg_control = control.empty() ? nullptr : control.data();
  h.msg_controllen = control.size();
  const int flags = static_cast<int>(a[2]) | MSG_NOSIGNAL;
  return HostIo(t, *f, POLLOUT, [&] { return sendmsg(f->host.get(), &h, flags); }, flags & MSG_DONTWAIT);
}

int64_t Recvmsg(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  GuestMsghdr m;
  if (!CopyIn(g, a[1], &m)) return -EFAULT;
  std::vector<iovec> iov;
  if (int r = GuestIovecs(g, m.iov, m.iovlen, Access::kWrite, &iov); r < 0) return r;
  sockaddr_storage ss{};
  std::vector<uint8_t> control(std::min<uint64_t>(m.control ? m.controllen : 0, 64 * 1024));
  msghdr h{};
  h.msg_name = &ss;
  h.msg_namelen = sizeof ss;
  h.msg_iov = iov.data();
  h.msg_iovlen = iov.size();
  h.msg_control = control.empty() ? nullptr : control.data();
  h.msg_controllen = control.size();
  const int flags = static_cast<int>(a[2]) | MSG_CMSG_CLOEXEC;
  int64_t r = HostIo(t, *f, POLLIN, [&] {
    h.msg_namelen = sizeof ss;
    h.msg_controllen = control.size();
    return recvmsg(f->host.get(), &h, flags);
  }, flags & MSG_DONTWAIT);
  if (r < 0) return r;
  // Received fds join the guest's table.
  if (h.msg_controllen) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      int* fds = reinterpret_cast<int*>(CMSG_DATA(c));
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int64_t gfd = InstallReceivedFd(g, fds[i], (a[2] & MSG_CMSG_CLOEXEC) ? O_CLOEXEC : 0);
        fds[i] = gfd < 0 ? -1 : static_cast<int>(gfd);
      }
    }
    if (!CopyOutBytes(g, m.control, control.data(), h.msg_controllen)) return -EFAULT;
  }
  GuestMsghdr back = m;
  back.controllen = h.msg_controllen;
  back.flags = h.msg_flags;
  if (m.name) {
    socklen_t len = h.msg_namelen;
    if (ss.ss_family == AF_UNIX && len > offsetof(sockaddr_un, sun_path) &&
        reinterpret_cast<sockaddr_un*>(&ss)->sun_path[0] == '/')
      len = offsetof(sockaddr_un, sun_path);
    if (!CopyOutBytes(g, m.name, &ss, std::min<socklen_t>(len, m.namelen))) return -EFAULT;
    back.namelen = len;
  }
  if (!CopyOut(g, a[1], back)) return -EFAULT;
  return r;
}

// sendmmsg/recvmmsg: one msghdr after another, each through the single
// call above; msg_len follows each 56-byte header.
int64_t MultiMsg(Process& g, Task& t, const Args& a, bool send) {
  if (!g.fds.Get(a[0])) return -EBADF;
  const uint64_t vlen = std::min<uint64_t>(a[2], 1024);
  unsigned flags = static_cast<unsigned>(a[3]);
  if (!send && a[4]) return -EINVAL;  // recvmmsg's timeout is not emulated
  int64_t done = 0;
  for (uint64_t i = 0; i < vlen; i++) {
    const uint64_t hdr = a[1] + i * 64;
    const Args args(a[0], hdr, flags, 0, 0, 0);
    const int64_t r = send ? Sendmsg(g, t, args) : Recvmsg(g, t, args);
    if (r < 0) return done ? done : r;
    if (!CopyOut(g, hdr + 56, static_cast<uint32_t>(r))) return done ? done : -EFAULT;
    done++;
    if (!send && (flags & MSG_WAITFORONE)) flags |= MSG_DONTWAIT;
  }
  return done;
}
int64_t Sendmmsg(Process& g, Task& t, const Args& a) { return MultiMsg(g, t, a, true); }
int64_t Recvmmsg(Process& g, Task& t, const Args& a) { return MultiMsg(g, t, a, false); }

// The socket options whose value the monitor knows to be flat (integers,
// timevals, addresses, names): the value is copied, and the host kernel
// reads only that copy. Anything else (firewall tables, multicast routing,
// IPsec policies, BPF programs, zero-copy receive: options whose values
// hold pointers or need privilege) is refused with ENOPROTOOPT, as Linux
// answers an option it does not know.
struct SocketOption {
  int level, name;
};
constexpr SocketOption kSocketOptions[] = {
    {SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_REUSEPORT}, {SOL_SOCKET, SO_TYPE}, {SOL_SOCKET, SO_ERROR},
    {SOL_SOCKET, SO_DONTROUTE}, {SOL_SOCKET, SO_BROADCAST}, {SOL_SOCKET, SO_SNDBUF}, {SOL_SOCKET, SO_RCVBUF},
    {SOL_SOCKET, SO_KEEPALIVE}, {SOL_SOCKET, SO_OOBINLINE}, {SOL_SOCKET, SO_NO_CHECK}, {SOL_SOCKET, SO_PRIORITY},
    {SOL_SOCKET, SO_LINGER}, {SOL_SOCKET, SO_PASSCRED}, {SOL_SOCKET, SO_PEERCRED}, {SOL_SOCKET, SO_RCVLOWAT},
    {SOL_SOCKET, SO_SNDLOWAT}, {SOL_SOCKET, SO_RCVTIMEO}, {SOL_SOCKET, SO_SNDTIMEO}, {SOL_SOCKET, SO_BINDTODEVICE},
    {SOL_SOCKET, SO_TIMESTAMP}, {SOL_SOCKET, SO_TIMESTAMPNS}, {SOL_SOCKET, SO_TIMESTAMPING},
    {SOL_SOCKET, SO_ACCEPTCONN}, {SOL_SOCKET, SO_PROTOCOL}, {SOL_SOCKET, SO_DOMAIN}, {SOL_SOCKET, SO_RXQ_OVFL},
    {SOL_SOCKET, SO_PEEK_OFF}, {SOL_SOCKET, SO_BUSY_POLL}, {SOL_SOCKET, SO_INCOMING_CPU}, {SOL_SOCKET, SO_ZEROCOPY},
    {SOL_SOCKET, SO_PASSSEC}, {SOL_SOCKET, SO_PEERSEC}, {SOL_SOCKET, SO_COOKIE}, {SOL_SOCKET, SO_SELECT_ERR_QUEUE},
    {SOL_SOCKET, SO_BINDTOIFINDEX},
    {IPPROTO_TCP, TCP_NODELAY}, {IPPROTO_TCP, TCP_MAXSEG}, {IPPROTO_TCP, TCP_CORK}, {IPPROTO_TCP, TCP_KEEPIDLE},
    {IPPROTO_TCP, TCP_KEEPINTVL}, {IPPROTO_TCP, TCP_KEEPCNT}, {IPPROTO_TCP, TCP_SYNCNT}, {IPPROTO_TCP, TCP_LINGER2},
    {IPPROTO_TCP, TCP_DEFER_ACCEPT}, {IPPROTO_TCP, TCP_WINDOW_CLAMP}, {IPPROTO_TCP, TCP_INFO},
    {IPPROTO_TCP, TCP_QUICKACK}, {IPPROTO_TCP, TCP_CONGESTION}, {IPPROTO_TCP, TCP_USER_TIMEOUT},
    {IPPROTO_TCP, TCP_FASTOPEN}, {IPPROTO_TCP, TCP_FASTOPEN_CONNECT}, {IPPROTO_TCP, TCP_NOTSENT_LOWAT},
    {IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS}, {IPPROTO_TCP, TCP_CC_INFO},
    {IPPROTO_IP, IP_TOS}, {IPPROTO_IP, IP_TTL}, {IPPROTO_IP, IP_OPTIONS}, {IPPROTO_IP, IP_RECVOPTS},
    {IPPROTO_IP, IP_RETOPTS}, {IPPROTO_IP, IP_PKTINFO}, {IPPROTO_IP, IP_MTU_DISCOVER}, {IPPROTO_IP, IP_RECVERR},
    {IPPROTO_IP, IP_RECVTTL}, {IPPROTO_IP, IP_RECVTOS}, {IPPROTO_IP, IP_MTU}, {IPPROTO_IP, IP_FREEBIND},
    {IPPROTO_IP, IP_MULTICAST_IF}, {IPPROTO_IP, IP_MULTICAST_TTL}, {IPPROTO_IP, IP_MULTICAST_LOOP},
    {IPPROTO_IP, IP_ADD_MEMBERSHIP}, {IPPROTO_IP, IP_DROP_MEMBERSHIP}, {IPPROTO_IP, IP_MULTICAST_ALL},
    {IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT}, {IPPROTO_IP, IP_RECVORIGDSTADDR}, {IPPROTO_IP, IP_RECVFRAGSIZE},
    {IPPROTO_IPV6, IPV6_V6ONLY}, {IPPROTO_IPV6, IPV6_UNICAST_HOPS}, {IPPROTO_IPV6, IPV6_MULTICAST_IF},
    {IPPROTO_IPV6, IPV6_MULTICAST_HOPS}, {IPPROTO_IPV6, IPV6_MULTICAST_LOOP}, {IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP},
    {IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP}, {IPPROTO_IPV6, IPV6_RECVPKTINFO}, {IPPROTO_IPV6, IPV6_RECVHOPLIMIT},
    {IPPROTO_IPV6, IPV6_RECVERR}, {IPPROTO_IPV6, IPV6_MTU_DISCOVER}, {IPPROTO_IPV6, IPV6_MTU},
    {IPPROTO_IPV6, IPV6_TCLASS}, {IPPROTO_IPV6, IPV6_RECVTCLASS}, {IPPROTO_IPV6, IPV6_DONTFRAG},
    {IPPROTO_IPV6, IPV6_RECVPATHMTU}, {IPPROTO_IPV6, IPV6_UNICAST_IF}, {IPPROTO_IPV6, IPV6_MULTICAST_ALL},
    {IPPROTO_IPV6, IPV6_RECVORIGDSTADDR},
    {IPPROTO_UDP, UDP_CORK}, {IPPROTO_UDP, UDP_SEGMENT}, {IPPROTO_UDP, UDP_GRO},
};

bool KnownOption(int level, int name) {
  for (const auto& o : kSocketOptions)
    if (o.level == level && o.name == name) return true;
  return false;
}

int64_t Setsockopt(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  const int level = static_cast<int>(a[1]), name = static_cast<int>(a[2]);
  if (!KnownOption(level, name)) return -ENOPROTOOPT;
  // A socket of root's joining a port root's services listen on.
  if (level == SOL_SOCKET && name == SO_REUSEPORT && g.sockets_of_root) return -EPERM;
  if (a[4] > 4096) return -EINVAL;
  std::vector<uint8_t> val(a[4]);
  if (a[4] && !CopyInBytes(g, a[3], val.data(), a[4])) return -EFAULT;
  return HostResult(setsockopt(f->host.get(), level, name, val.data(), static_cast<socklen_t>(a[4])));
}

int64_t Getsockopt(Process& g, Task& t, const Args& a) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  const int level = static_cast<int>(a[1]), name = static_cast<int>(a[2]);
  if (!KnownOption(level, name)) return -ENOPROTOOPT;
  socklen_t len;
  if (!CopyIn(g, a[4], &len)) return -EFAULT;
  if (static_cast<int>(len) < 0) return -EINVAL;
  std::vector<uint8_t> val(std::min<socklen_t>(len, 4096));
  socklen_t got = static_cast<socklen_t>(val.size());
  if (getsockopt(f->host.get(), level, name, val.data(), &got) < 0) return -errno;
  if (!CopyOutBytes(g, a[3], val.data(), std::min(got, len))) return -EFAULT;
  return CopyOut(g, a[4], got) ? 0 : -EFAULT;
}

int64_t SockName(Process& g, Task& t, const Args& a, bool peer) {
  const std::shared_ptr<OpenFile> f = g.fds.Get(a[0]);
  if (!f) return -EBADF;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int r = peer ? getpeername(f->host.get(), reinterpret_cast<sockaddr*>(&ss), &len)
               : getsockname(f->host.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  if (r < 0) return -errno;
  if (!a[1] || !a[2]) return -EFAULT;
  return AddrOut(g, ss, len, a[1], a[2]);
}
int64_t Getsockname(Process& g, Task& t, const Args& a) { return SockName(g, t, a, false); }
int64_t Getpeername(Process& g, Task& t, const Args& a) { return SockName(g, t, a, true); }

}  // namespace

void RegisterNetHypercalls(HypercallTable& table) {
  table.handlers[SYS_socket] = Socket;
  table.handlers[SYS_socketpair] = Socketpair;
  table.handlers[SYS_bind] = Bind;
  table.handlers[SYS_connect] = Connect;
  table.handlers[SYS_listen] = Listen;
  table.handlers[SYS_accept] = Accept;
  table.handlers[SYS_accept4] = Accept4;
  table.handlers[SYS_shutdown] = Shutdown;
  table.handlers[SYS_sendto] = Sendto;
  table.handlers[SYS_recvfrom] = Recvfrom;
  table.handlers[SYS_sendmsg] = Sendmsg;
  table.handlers[SYS_recvmsg] = Recvmsg;
  table.handlers[SYS_sendmmsg] = Sendmmsg;
  table.handlers[SYS_recvmmsg] = Recvmmsg;
  table.handlers[SYS_setsockopt] = Setsockopt;
  table.handlers[SYS_getsockopt] = Getsockopt;
  table.handlers[SYS_getsockname] = Getsockname;
  table.handlers[SYS_getpeername] = Getpeername;
}

}  // namespace torov
