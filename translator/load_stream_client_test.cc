#include "translator/load_stream_client.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "gtest/gtest.h"

namespace zeoraid::translator {
namespace {

// A raidcore stand-in whose LoadBeforeStream answers each load with its oid
// as data, `delay` * (id % 3) after it came (so answers come out of order);
// an oid of "end" ends the stream with UNAVAILABLE, "bye" is answered and
// then ends it, "hang" is never answered.
class FakeStorage final : public v1::Storage::Service {
 public:
  explicit FakeStorage(absl::Duration delay = absl::ZeroDuration())
      : delay_(delay) {}
  grpc::Status LoadBeforeStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::LoadBeforeStreamResponse,
                               v1::LoadBeforeStreamRequest>* stream) override {
    (void)context;
    streams_.fetch_add(1);
    // Answers wait here until due; a writer thread sends them.
    Mutex mu;
    CondVar cv;
    std::multimap<absl::Time, v1::LoadBeforeStreamResponse> due;
    bool reading = true;
    std::thread writer([&] {
      MutexLock lock(&mu);
      while (reading || !due.empty()) {
        if (due.empty()) {
          cv.Wait(&mu);
          continue;
        }
        auto next = due.begin();
        if (next->first > absl::Now()) {
          cv.WaitUntil(&mu, CondVar::DeadlineAfter(next->first - absl::Now()));
          continue;
        }
        v1::LoadBeforeStreamResponse answer = next->second;
        due.erase(next);
        stream->Write(answer);
      }
    });
    grpc::Status status = grpc::Status::OK;
    v1::LoadBeforeStreamRequest request;
    while (stream->Read(&request)) {
      (request.alone() ? alone_ : accompanied_).fetch_add(1);
      const std::string& oid = request.load().oid();
      if (oid == "end") {
        status =
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "raidcore stopped");
        break;
      }
      if (oid == "hang") continue;
      v1::LoadBeforeStreamResponse answer;
      answer.set_id(request.id());
      answer.mutable_load()->set_found(true);
      answer.mutable_load()->set_data(oid);
      MutexLock lock(&mu);
      due.emplace(absl::Now() + delay_ * static_cast<int>(request.id() % 3),
                  answer);
      cv.Signal();
      if (oid == "bye") {
        status =
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "raidcore stopped");
        break;
      }
    }
    {
      MutexLock lock(&mu);
      reading = false;
      cv.Signal();
    }
    writer.join();
    return status;
  }
  int streams() const { return streams_.load(); }
  // Requests marked alone (nothing else of the translator's in flight), and
  // the others.
  int alone() const { return alone_.load(); }
  int accompanied() const { return accompanied_.load(); }

 private:
  const absl::Duration delay_;
  std::atomic<int> streams_{0};
  std::atomic<int> alone_{0};
  std::atomic<int> accompanied_{0};
};

// A raidcore from before the load stream.
class OldStorage final : public v1::Storage::Service {};

class Harness {
 public:
  explicit Harness(grpc::Service* service) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    stub_ = v1::Storage::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  ~Harness() { server_->Shutdown(); }
  v1::Storage::Stub* stub() { return stub_.get(); }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Storage::Stub> stub_;
};

grpc::Status Load(LoadStreamClient* client, const std::string& oid,
                  v1::LoadBeforeResponse* response,
                  absl::Duration timeout = absl::Seconds(10)) {
  v1::LoadBeforeRequest request;
  request.set_oid(oid);
  request.set_before(std::string(8, '\xff'));
  return client->LoadBefore(request, response, timeout);
}

TEST(LoadStreamClientTest, OneCallerGetsItsAnswer) {
  FakeStorage storage;
  Harness harness(&storage);
  LoadStreamClient client(harness.stub());
  for (int i = 0; i < 20; ++i) {
    v1::LoadBeforeResponse response;
    ASSERT_TRUE(Load(&client, absl::StrCat("oid", i), &response).ok());
    EXPECT_EQ(response.data(), absl::StrCat("oid", i));
  }
  EXPECT_EQ(storage.streams(), 1);  // one stream for every call
  // One call at a time: raidcore may read the next with this one's answer.
  EXPECT_EQ(storage.alone(), 20);
  EXPECT_EQ(storage.accompanied(), 0);
}

// Answers come back out of order: whichever caller reads must hand each
// answer to its own waiter, and pass the lead on when its own has come (else
// a caller left waiting with nobody reading waits for its timeout, 5 s).
TEST(LoadStreamClientTest, ConcurrentCallersEachGetTheirOwnAnswer) {
  constexpr int kThreads = 8;
  FakeStorage storage(absl::Milliseconds(2));
  Harness harness(&storage);
  LoadStreamClient client(harness.stub());
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string oid = absl::StrCat("t", t, "-", i);
        v1::LoadBeforeResponse response;
        grpc::Status st = Load(&client, oid, &response, absl::Seconds(5));
        if (!st.ok()) {
          failed.fetch_add(1);
        } else if (response.data() != oid) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  const absl::Time start = absl::Now();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));  // no caller left waiting
  // Calls sent while others were unanswered are not marked alone: raidcore
  // reads on at once instead of after an answer.
  EXPECT_EQ(storage.alone() + storage.accompanied(), kThreads * 50);
  EXPECT_GT(storage.accompanied(), kThreads * 50 / 2);
}

TEST(LoadStreamClientTest, AnEndedStreamFailsItsCallsAndIsReopened) {
  FakeStorage storage;
  Harness harness(&storage);
  LoadStreamClient client(harness.stub());
  v1::LoadBeforeResponse response;
  ASSERT_TRUE(Load(&client, "a", &response).ok());
  // Tried on a second stream, which ends as well.
  grpc::Status ended = Load(&client, "end", &response);
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ended.error_message(), "raidcore stopped");
  EXPECT_EQ(storage.streams(), 2);
  ASSERT_TRUE(Load(&client, "b", &response).ok());
  EXPECT_EQ(response.data(), "b");
  EXPECT_EQ(storage.streams(), 3);
}

// raidcore restarted while nobody was loading: the next load finds the stream
// dead, and is sent again on a new one instead of failing.
TEST(LoadStreamClientTest, AStreamThatDiedWhileIdleIsReplacedUnnoticed) {
  FakeStorage storage;
  Harness harness(&storage);
  LoadStreamClient client(harness.stub());
  v1::LoadBeforeResponse response;
  ASSERT_TRUE(Load(&client, "bye", &response).ok());
  absl::SleepFor(absl::Milliseconds(100));
  grpc::Status st = Load(&client, "c", &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(response.data(), "c");
  EXPECT_EQ(storage.streams(), 2);
}

// A caller stuck as the leader in Read is released by the watchdog, which
// cancels the stream; the next call gets a new one.
TEST(LoadStreamClientTest, AnUnansweredCallTimesOut) {
  FakeStorage storage;
  Harness harness(&storage);
  LoadStreamClient client(harness.stub());
  v1::LoadBeforeResponse response;
  const absl::Time start = absl::Now();
  grpc::Status st = Load(&client, "hang", &response, absl::Milliseconds(300));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(Load(&client, "c", &response).ok());
  EXPECT_EQ(response.data(), "c");
}

TEST(LoadStreamClientTest, AnOldRaidcoreIsUnimplementedForGood) {
  OldStorage storage;
  Harness harness(&storage);
  LoadStreamClient client(harness.stub());
  v1::LoadBeforeResponse response;
  EXPECT_EQ(Load(&client, "a", &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Load(&client, "a", &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace zeoraid::translator
