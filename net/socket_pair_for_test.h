// A connected pair of Unix stream sockets for the net tests: `ours` is the
// side under test, `peer` the other end.
#ifndef ZEORAID_NET_SOCKET_PAIR_FOR_TEST_H_
#define ZEORAID_NET_SOCKET_PAIR_FOR_TEST_H_

#include <sys/socket.h>

#include <string>

#include "gtest/gtest.h"
#include "net/socket.h"

namespace zeoraid::net {

struct SocketPair {
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ours = Socket(fds[0]);
    peer = Socket(fds[1]);
  }
  // Sends all of `bytes` from the peer (blocking).
  void Send(const std::string& bytes) {
    ASSERT_EQ(::send(peer.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  Socket ours;
  Socket peer;
};

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_SOCKET_PAIR_FOR_TEST_H_
