// ZeoClient against a scripted ZEO server on a loopback socket.
#include "raidcore/backend/zeo_client.h"

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/notification.h"
#include "gtest/gtest.h"
#include "net/socket.h"
#include "zeo/message.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

constexpr zeo::Encoding kPickle = zeo::Encoding::kPickle;

// Reads one call and answers it with `result`.
void AnswerCall(const net::Socket& peer, const Value& result) {
  absl::StatusOr<std::string> frame =
      net::ReadFrame(peer, 1 << 20, absl::Seconds(5));
  ASSERT_TRUE(frame.ok()) << frame.status();
  absl::StatusOr<zeo::Message> call = zeo::DecodeMessage(
      *frame, kPickle, zeo::DecodeLimits(), zeo::GlobalPolicy::kClient);
  ASSERT_TRUE(call.ok()) << call.status();
  ASSERT_TRUE(
      net::WriteFrame(peer, zeo::EncodeMessage(
                                zeo::MakeReply(call->msgid, result), kPickle))
          .ok());
}

// A connection from the factory (as the RAID holds its backends) to a
// scripted server, and the server's end of it.
struct Connected {
  std::shared_ptr<BackendConnection> client;
  net::Socket server;
};

Connected ConnectThroughFactory() {
  Connected out;
  absl::StatusOr<net::Socket> listener = net::Listen("127.0.0.1:0");
  EXPECT_TRUE(listener.ok()) << listener.status();
  if (!listener.ok()) return out;
  std::thread server([&] {
    absl::StatusOr<net::Socket> peer = net::Accept(*listener, absl::Seconds(5));
    ASSERT_TRUE(peer.ok()) << peer.status();
    ASSERT_TRUE(net::WriteFrame(*peer, "Z5").ok());
    absl::StatusOr<std::string> hello =
        net::ReadFrame(*peer, 64, absl::Seconds(5));
    ASSERT_TRUE(hello.ok());
    AnswerCall(*peer, Value::Bytes(std::string(8, '\0')));  // register
    AnswerCall(*peer, Value::Dict({}));                     // get_info
    out.server = std::move(*peer);
  });
  ZeoClientOptions options;
  options.address = absl::StrCat("127.0.0.1:", *net::LocalPort(*listener));
  options.label = "scripted";
  ZeoClientFactory factory({{"b", options}});
  absl::StatusOr<std::shared_ptr<BackendConnection>> client =
      factory.Connect("b");
  server.join();
  EXPECT_TRUE(client.ok()) << client.status();
  if (client.ok()) out.client = std::move(*client);
  return out;
}

// A commit's continuation may hold the last reference to a backend the RAID
// has just dropped, and it runs on that connection's reader thread, which
// the destructor joins: the connection must then end on another thread.
TEST(ZeoClientTest, TheLastReferenceMayGoOnTheReaderThread) {
  Connected c = ConnectThroughFactory();
  ASSERT_NE(c.client, nullptr);
  Notification answered;
  std::shared_ptr<BackendConnection> last = std::move(c.client);
  BackendConnection* raw = last.get();
  raw->StartThen("lastTransaction", {}, absl::Seconds(5),
                 [&answered, held = std::move(last)](
                     absl::StatusOr<ZeoReply> reply) mutable {
                   EXPECT_TRUE(reply.ok()) << reply.status();
                   held.reset();  // the last reference, on the reader thread
                   answered.Notify();
                 });
  AnswerCall(c.server, Value::Bytes(std::string(8, '\1')));
  ASSERT_TRUE(answered.WaitFor(absl::Seconds(5)));
  // The connection closes: the server sees its end.
  absl::StatusOr<std::string> after =
      net::ReadFrame(c.server, 1 << 20, absl::Seconds(5));
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnavailable)
      << after.status();
}

}  // namespace
}  // namespace zeoraid::raidcore
