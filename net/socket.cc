#include "net/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zeoraid::net {

std::array<char, 4> EncodeFrameLength(uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
          static_cast<char>(n >> 8), static_cast<char>(n)};
}

absl::Time DeadlineAfter(absl::Duration timeout) {
  return timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                             : absl::Now() + timeout;
}

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

namespace {

absl::Status Errno(absl::string_view what) {
  int err = errno;
  std::string message = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ECONNREFUSED || err == ECONNRESET || err == EPIPE ||
      err == ENOTCONN || err == EHOSTUNREACH || err == ENETUNREACH) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

// Waits until fd is ready for `events`.
absl::Status WaitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    struct pollfd pfd = {fd, events, 0};
    int n = ::poll(&pfd, 1, PollTimeoutMs(deadline));
    if (n > 0) return absl::OkStatus();
    if (n == 0) return absl::DeadlineExceededError("socket timed out");
    if (errno != EINTR) return Errno("poll");
  }
}

struct Endpoint {
  sockaddr_storage addr;
  socklen_t len = 0;
};

absl::StatusOr<std::vector<Endpoint>> Resolve(absl::string_view address,
                                              bool passive) {
  std::vector<Endpoint> out;
  if (IsUnixPath(address)) {
    Endpoint ep;
    std::memset(&ep.addr, 0, sizeof(ep.addr));
    auto* un = reinterpret_cast<sockaddr_un*>(&ep.addr);
    if (address.size() >= sizeof(un->sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unix socket path too long: ", address));
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, address.data(), address.size());
    ep.len = sizeof(sockaddr_un);
    out.push_back(ep);
    return out;
  }
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", address, "' is not HOST:PORT or a path"));
  }
  std::string host(address.substr(0, colon));
  std::string port(address.substr(colon + 1));
  int port_number;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port in address '", address, "'"));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(),
                         &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve '", address, "': ", ::gai_strerror(rc)));
  }
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    Endpoint ep;
    std::memcpy(&ep.addr, ai->ai_addr, ai->ai_addrlen);
    ep.len = ai->ai_addrlen;
    out.push_back(ep);
  }
  ::freeaddrinfo(result);
  if (out.empty()) {
    return absl::UnavailableError(absl::StrCat("no address for ", address));
  }
  return out;
}

void SetBlocking(int fd, bool blocking) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK));
}

}  // namespace

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

void Socket::Shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

bool IsUnixPath(absl::string_view address) {
  return address.find('/') != absl::string_view::npos;
}

absl::StatusOr<Socket> Connect(absl::string_view address,
                               absl::Duration timeout) {
  absl::StatusOr<std::vector<Endpoint>> endpoints = Resolve(address, false);
  if (!endpoints.ok()) return endpoints.status();
  absl::Time deadline = DeadlineAfter(timeout);
  absl::Status last = absl::UnavailableError("no endpoint");
  for (const Endpoint& ep : *endpoints) {
    Socket sock(::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock.valid()) return Errno("socket");
    SetBlocking(sock.fd(), false);
    int rc = ::connect(sock.fd(), reinterpret_cast<const sockaddr*>(&ep.addr),
                       ep.len);
    if (rc != 0 && errno != EINPROGRESS) {
      last = Errno(absl::StrCat("connect to ", address));
      continue;
    }
    if (rc != 0) {
      absl::Status waited = WaitFor(sock.fd(), POLLOUT, deadline);
      if (!waited.ok()) {
        last = absl::DeadlineExceededError(
            absl::StrCat("connect to ", address, " timed out after ",
                         absl::FormatDuration(timeout)));
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(sock.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        last = Errno(absl::StrCat("connect to ", address));
        continue;
      }
    }
    SetBlocking(sock.fd(), true);
    if (ep.addr.ss_family != AF_UNIX) {
      int one = 1;
      ::setsockopt(sock.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return sock;
  }
  return last;
}

absl::StatusOr<Socket> Listen(absl::string_view address) {
  absl::StatusOr<std::vector<Endpoint>> endpoints = Resolve(address, true);
  if (!endpoints.ok()) return endpoints.status();
  const Endpoint& ep = endpoints->front();
  Socket sock(::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return Errno("socket");
  if (ep.addr.ss_family == AF_UNIX) {
    // A stale socket file from a previous run would make bind fail.
    ::unlink(reinterpret_cast<const sockaddr_un*>(&ep.addr)->sun_path);
  } else {
    int one = 1;
    ::setsockopt(sock.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  if (::bind(sock.fd(), reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) !=
      0) {
    return Errno(absl::StrCat("bind ", address));
  }
  if (::listen(sock.fd(), 128) != 0) return Errno("listen");
  return sock;
}

absl::StatusOr<int> LocalPort(const Socket& socket) {
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  if (::getsockname(socket.fd(), reinterpret_cast<sockaddr*>(&addr), &len) !=
      0) {
    return Errno("getsockname");
  }
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  }
  return absl::FailedPreconditionError("not a TCP socket");
}

std::string PeerAddress(const Socket& socket) {
  sockaddr_storage addr;
  socklen_t len = sizeof(addr);
  if (::getpeername(socket.fd(), reinterpret_cast<sockaddr*>(&addr), &len) !=
      0) {
    return "unknown";
  }
  char host[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(in6->sin6_port));
  }
  return "unix";
}

absl::StatusOr<Socket> Accept(const Socket& listener, absl::Duration timeout) {
  absl::Status ready = WaitFor(listener.fd(), POLLIN, DeadlineAfter(timeout));
  if (!ready.ok()) return ready;
  Socket sock(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!sock.valid()) return Errno("accept");
  int one = 1;
  ::setsockopt(sock.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return sock;
}

absl::StatusOr<size_t> ReadSome(const Socket& socket, char* out, size_t n,
                                absl::Time deadline) {
  // Bytes that are already there are taken without a poll first: a busy
  // connection's reads cost one system call each.
  bool wait = false;
  while (true) {
    if (wait) {
      absl::Status ready = WaitFor(socket.fd(), POLLIN, deadline);
      if (!ready.ok()) return ready;
    }
    ssize_t r = ::recv(socket.fd(), out, n, MSG_DONTWAIT);
    if (r > 0) return static_cast<size_t>(r);
    if (r == 0) return absl::UnavailableError("connection closed by peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait = true;
      continue;
    }
    return Errno("recv");
  }
}

absl::StatusOr<size_t> SendNow(int fd, absl::string_view a,
                               absl::string_view b) {
  struct iovec iov[2];
  int count = 0;
  if (!a.empty()) iov[count++] = {const_cast<char*>(a.data()), a.size()};
  if (!b.empty()) iov[count++] = {const_cast<char*>(b.data()), b.size()};
  if (count == 0) return 0;
  msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  while (true) {
    ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0) return static_cast<size_t>(w);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return Errno("send");
  }
}

namespace {

absl::Status ReadFull(const Socket& socket, char* out, size_t n,
                      absl::Time deadline) {
  size_t got = 0;
  while (got < n) {
    absl::StatusOr<size_t> r = ReadSome(socket, out + got, n - got, deadline);
    if (!r.ok()) return r.status();
    got += *r;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFrame(const Socket& socket,
                                      size_t max_frame_bytes,
                                      absl::Duration timeout) {
  absl::Time deadline = DeadlineAfter(timeout);
  unsigned char prefix[4];
  absl::Status st =
      ReadFull(socket, reinterpret_cast<char*>(prefix), 4, deadline);
  if (!st.ok()) return st;
  size_t size = (size_t{prefix[0]} << 24) | (size_t{prefix[1]} << 16) |
                (size_t{prefix[2]} << 8) | size_t{prefix[3]};
  if (size > max_frame_bytes) {
    return absl::OutOfRangeError(absl::StrCat(
        "frame of ", size, " bytes exceeds the limit of ", max_frame_bytes));
  }
  std::string payload(size, '\0');
  st = ReadFull(socket, payload.data(), size, deadline);
  if (!st.ok()) return st;
  return payload;
}

absl::Status WriteAll(const Socket& socket, absl::string_view a,
                      absl::string_view b, absl::Duration timeout) {
  const absl::Time deadline = DeadlineAfter(timeout);
  const size_t total = a.size() + b.size();
  size_t sent = 0;
  while (sent < total) {
    absl::StatusOr<size_t> w =
        sent < a.size() ? SendNow(socket.fd(), a.substr(sent), b)
                        : SendNow(socket.fd(), b.substr(sent - a.size()), {});
    if (!w.ok()) return w.status();
    sent += *w;
    if (*w == 0) {
      // Poll only once the socket's buffer is full.
      absl::Status ready = WaitFor(socket.fd(), POLLOUT, deadline);
      if (!ready.ok()) {
        return absl::DeadlineExceededError(
            absl::StrCat("send timed out after ", absl::FormatDuration(timeout),
                         ": the peer is not reading"));
      }
    }
  }
  return absl::OkStatus();
}

void AppendFrame(std::string* out, absl::string_view payload) {
  std::array<char, 4> prefix =
      EncodeFrameLength(static_cast<uint32_t>(payload.size()));
  out->append(prefix.data(), prefix.size());
  out->append(payload.data(), payload.size());
}

absl::Status WriteFrame(const Socket& socket, absl::string_view payload,
                        absl::Duration timeout) {
  if (payload.size() > 0xffffffffu) {
    return absl::OutOfRangeError("frame larger than 4 GiB");
  }
  std::array<char, 4> prefix =
      EncodeFrameLength(static_cast<uint32_t>(payload.size()));
  return WriteAll(socket, absl::string_view(prefix.data(), 4), payload,
                  timeout);
}

bool HasPendingInput(const Socket& socket) {
  struct pollfd pfd = {socket.fd(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) != 0;
}

}  // namespace zeoraid::net
