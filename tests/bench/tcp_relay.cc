// tcp_relay: a process that does nothing but pass bytes on, to measure what a
// process in the path of a ZEO call costs on this machine before it does any
// work. chain_floor.py puts one or two of these between a ZEO client and a
// plain runzeo, where the translator and raidcore stand in a RAID.
//
//   bazel-bin/tests/bench/tcp_relay --target 127.0.0.1:PORT
//
// It listens on a free loopback port, prints "listening on 127.0.0.1:PORT",
// and for each connection it accepts opens one to the target and copies
// bytes both ways, a blocking thread per direction (the cheapest wake-up path
// on Linux: rpc_floor's "loopback TCP" row), TCP_NODELAY on both sockets.
// It runs until it is killed. A benchmark tool, not a product: no limits, no
// TLS, loopback only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::string, target, "",
          "host:port to pass every accepted connection on to (loopback IPv4)");

namespace {

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Copies from `from` to `to` until `from` ends or fails, then ends `to`'s
// writing side so the peer sees the end too.
void Pump(int from, int to) {
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = read(from, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t sent = 0; sent < n;) {
      ssize_t w = write(to, buffer + sent, n - sent);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        shutdown(from, SHUT_RD);
        shutdown(to, SHUT_WR);
        return;
      }
      sent += w;
    }
  }
  shutdown(to, SHUT_WR);
}

void Relay(int client, sockaddr_in target) {
  int server = socket(AF_INET, SOCK_STREAM, 0);
  if (server < 0 || connect(server, reinterpret_cast<sockaddr*>(&target),
                            sizeof target) != 0) {
    std::fprintf(stderr, "tcp_relay: connect to the target: %s\n",
                 std::strerror(errno));
    if (server >= 0) close(server);
    close(client);
    return;
  }
  NoDelay(client);
  NoDelay(server);
  std::thread back(Pump, server, client);
  Pump(client, server);
  back.join();
  close(server);
  close(client);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Passes every loopback connection on to --target, doing nothing else.");
  absl::ParseCommandLine(argc, argv);
  // A write to a connection whose client has gone (ZEO servers send
  // invalidations to every connection) must fail, not kill the relay.
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> parts =
      absl::StrSplit(absl::GetFlag(FLAGS_target), ':');
  int port = 0;
  sockaddr_in target{};
  target.sin_family = AF_INET;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port <= 0 ||
      port > 65535 ||
      inet_pton(AF_INET, parts[0].c_str(), &target.sin_addr) != 1) {
    std::fprintf(stderr, "tcp_relay: --target must be IPv4:port, got '%s'\n",
                 absl::GetFlag(FLAGS_target).c_str());
    return 2;
  }
  target.sin_port = htons(port);

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof self;
  if (bind(listener, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0 ||
      listen(listener, 64) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&self), &length) != 0) {
    std::fprintf(stderr, "tcp_relay: listen: %s\n", std::strerror(errno));
    return 1;
  }
  std::printf("listening on 127.0.0.1:%d\n", ntohs(self.sin_port));
  std::fflush(stdout);
  for (;;) {
    int client = accept(listener, nullptr, nullptr);
    if (client < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::fprintf(stderr, "tcp_relay: accept: %s\n", std::strerror(errno));
      return 1;
    }
    std::thread(Relay, client, target).detach();
  }
}
