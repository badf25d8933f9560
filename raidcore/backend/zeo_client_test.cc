// ZeoClient against a scripted ZEO server on a loopback socket.
#include "raidcore/backend/zeo_client.h"

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

// Reads one frame and decodes it as a call.
zeo::Message ReadCall(const net::Socket& peer) {
  absl::StatusOr<std::string> frame =
      net::ReadFrame(peer, 1 << 20, absl::Seconds(5));
  EXPECT_TRUE(frame.ok()) << frame.status();
  if (!frame.ok()) return zeo::Message();
  absl::StatusOr<zeo::Message> call = zeo::DecodeMessage(
      *frame, kPickle, zeo::DecodeLimits(), zeo::GlobalPolicy::kClient);
  EXPECT_TRUE(call.ok()) << call.status();
  return call.ok() ? *std::move(call) : zeo::Message();
}

// Whether the server has bytes to read within `wait`.
bool Readable(const net::Socket& peer, absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  while (absl::Now() < deadline) {
    if (net::HasPendingInput(peer)) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return net::HasPendingInput(peer);
}

// A transaction's one-way calls wait in the connection and leave with its
// vote, in the order they were made.
TEST(ZeoClientTest, QueuedCallsLeaveWithTheNextCall) {
  Connected c = ConnectThroughFactory();
  ASSERT_NE(c.client, nullptr);
  ASSERT_TRUE(c.client->Queue("tpc_begin", {Value::Int(7)}).ok());
  ASSERT_TRUE(
      c.client
          ->Queue("storea", {Value::Bytes(std::string(8, '\1')), Value::None(),
                             Value::Bytes("data"), Value::Int(7)})
          .ok());
  EXPECT_FALSE(Readable(c.server, absl::Milliseconds(100)));
  std::unique_ptr<BackendConnection::PendingCall> vote =
      c.client->Start("vote", {Value::Int(7)}, absl::Seconds(5));
  EXPECT_EQ(ReadCall(c.server).name, "tpc_begin");
  EXPECT_EQ(ReadCall(c.server).name, "storea");
  zeo::Message voted = ReadCall(c.server);
  EXPECT_EQ(voted.name, "vote");
  ASSERT_TRUE(
      net::WriteFrame(
          c.server, zeo::EncodeMessage(
                        zeo::MakeReply(voted.msgid, Value::List({})), kPickle))
          .ok());
  absl::StatusOr<ZeoReply> reply = vote->Await();
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->is_error);
}

// Flush writes what waits; a queue past its bound goes out by itself, so a
// big transaction's stores reach the server while more are queued.
TEST(ZeoClientTest, FlushAndTheBoundSendWhatIsQueued) {
  Connected c = ConnectThroughFactory();
  ASSERT_NE(c.client, nullptr);
  ASSERT_TRUE(c.client->Queue("tpc_begin", {Value::Int(1)}).ok());
  EXPECT_FALSE(Readable(c.server, absl::Milliseconds(50)));
  ASSERT_TRUE(c.client->Flush().ok());
  EXPECT_EQ(ReadCall(c.server).name, "tpc_begin");

  const std::string record(1000, 'x');
  int queued = 0;
  while (!net::HasPendingInput(c.server) &&
         queued * record.size() < 2 * ZeoClient::kQueuedBytes) {
    ASSERT_TRUE(c.client
                    ->Queue("storea",
                            {Value::Bytes(std::string(8, '\2')), Value::None(),
                             Value::Bytes(record), Value::Int(1)})
                    .ok());
    ++queued;
  }
  EXPECT_TRUE(Readable(c.server, absl::Seconds(5)));
  EXPECT_LE(queued * record.size(), ZeoClient::kQueuedBytes + record.size());
  EXPECT_GE(queued * record.size(), ZeoClient::kQueuedBytes / 2);
  // Every store arrives, the held rest with the flush.
  ASSERT_TRUE(c.client->Flush().ok());
  for (int i = 0; i < queued; ++i) {
    ASSERT_EQ(ReadCall(c.server).name, "storea") << i;
  }
  EXPECT_FALSE(Readable(c.server, absl::Milliseconds(50)));
}

}  // namespace
}  // namespace zeoraid::raidcore
