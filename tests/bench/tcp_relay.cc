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
// on Linux: rpc_floor's "loopback TCP" row), TCP_NODELAY on both sockets
// (net::Accept and net::Connect).
// It runs until it is killed. A benchmark tool, not a product: no limits, no
// TLS, loopback only.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "net/socket.h"

ABSL_FLAG(std::string, target, "",
          "host:port to pass every accepted connection on to");

namespace {

using zeoraid::net::Socket;

// Copies from `from` to `to` until `from` ends or fails, then ends `to`'s
// writing side so the peer sees the end too. Plain blocking read/write: one
// system call each way per wake-up, nothing else.
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

// Both sockets have TCP_NODELAY (net::Accept and net::Connect set it).
void Relay(Socket client, const std::string& target) {
  absl::StatusOr<Socket> server =
      zeoraid::net::Connect(target, absl::Seconds(10));
  if (!server.ok()) {
    std::fprintf(stderr, "tcp_relay: connect to %s: %s\n", target.c_str(),
                 std::string(server.status().message()).c_str());
    return;
  }
  std::thread back(Pump, server->fd(), client.fd());
  Pump(client.fd(), server->fd());
  back.join();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Passes every loopback connection on to --target, doing nothing else.");
  absl::ParseCommandLine(argc, argv);
  // A write to a connection whose client has gone (ZEO servers send
  // invalidations to every connection) must fail, not kill the relay.
  signal(SIGPIPE, SIG_IGN);
  const std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) {
    std::fprintf(stderr, "tcp_relay: --target host:port is required\n");
    return 2;
  }
  absl::StatusOr<Socket> listener = zeoraid::net::Listen("127.0.0.1:0");
  absl::StatusOr<int> port = listener.ok()
                                 ? zeoraid::net::LocalPort(*listener)
                                 : absl::StatusOr<int>(listener.status());
  if (!port.ok()) {
    std::fprintf(stderr, "tcp_relay: listen: %s\n",
                 std::string(port.status().message()).c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%d\n", *port);
  std::fflush(stdout);
  for (;;) {
    absl::StatusOr<Socket> client =
        zeoraid::net::Accept(*listener, absl::InfiniteDuration());
    if (!client.ok()) {
      std::fprintf(stderr, "tcp_relay: accept: %s\n",
                   std::string(client.status().message()).c_str());
      return 1;
    }
    std::thread(Relay, *std::move(client), target).detach();
  }
}
