// FakeBackend: an in-memory BackendConnection for unit tests of the RAID core.
// It records every call, answers like a well-behaved ZEO server by default
// (tpc_finish returns the tid given to tpc_begin; new_oids counts from 1), and
// can be told to fail or answer otherwise.
#ifndef ZEORAID_RAIDCORE_BACKEND_FAKE_BACKEND_H_
#define ZEORAID_RAIDCORE_BACKEND_FAKE_BACKEND_H_

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/worker_pool.h"
#include "raidcore/backend/backend_connection.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

class FakeBackend : public BackendConnection {
 public:
  struct RecordedCall {
    std::string method;
    zeo::Value::Items args;
  };

  explicit FakeBackend(std::string tid = std::string(zeo::kZeroTid))
      : tid_(std::move(tid)) {}

  // The next calls of `method` answer `reply` (an application answer).
  void SetReply(const std::string& method, ZeoReply reply) {
    MutexLock lock(&mu_);
    replies_[method] = std::move(reply);
  }
  // The next calls of `method` answer `replies` in turn, before SetReply's
  // answer or the default.
  void QueueReplies(const std::string& method, std::vector<ZeoReply> replies) {
    MutexLock lock(&mu_);
    for (ZeoReply& r : replies) queued_[method].push_back(std::move(r));
  }
  // The next calls of `method` fail with `status` (a transport failure).
  void SetFailure(const std::string& method, absl::Status status) {
    MutexLock lock(&mu_);
    failures_[method] = std::move(status);
  }
  std::vector<RecordedCall> calls() const {
    MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::string> methods() const {
    MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const RecordedCall& c : calls_) out.push_back(c.method);
    return out;
  }
  bool closed() const {
    MutexLock lock(&mu_);
    return closed_;
  }

  absl::StatusOr<ZeoReply> Call(absl::string_view method,
                                zeo::Value::Items args,
                                absl::Duration) override {
    MutexLock lock(&mu_);
    std::string name(method);
    calls_.push_back({name, args});
    if (closed_) return absl::UnavailableError("fake backend closed");
    if (auto it = failures_.find(name); it != failures_.end()) {
      return it->second;
    }
    if (auto it = queued_.find(name);
        it != queued_.end() && !it->second.empty()) {
      ZeoReply reply = std::move(it->second.front());
      it->second.pop_front();
      return reply;
    }
    if (auto it = replies_.find(name); it != replies_.end()) return it->second;
    if (name == "vote") return ZeoReply::Result(zeo::Value::List({}));
    if (name == "new_oids") {  // counts from 1, as a fresh FileStorage
      const int64_t n = args.empty() ? 100 : args[0].int_value();
      zeo::Value::Items oids;
      for (int64_t i = 0; i < n; ++i) {
        oids.push_back(zeo::Value::Bytes(zeo::TidFromUint64(++last_oid_)));
      }
      return ZeoReply::Result(zeo::Value::List(std::move(oids)));
    }
    if (name == "tpc_finish") {
      tid_ = begun_tid_;
      return ZeoReply::Result(zeo::Value::Bytes(begun_tid_));
    }
    return ZeoReply::Result(zeo::Value::None());
  }

  // From now on StartThen answers on a thread of this fake's own, as
  // ZeoClient answers on its reader thread (the default answers on the
  // caller's).
  void AnswerOnOwnThread() { reader_ = std::make_unique<WorkerPool>(1); }
  // Runs the answers still queued and ends that thread (call before the last
  // reference to the fake may go: an answer's continuation may hold one, and
  // a thread cannot join itself).
  void StopAnswering() { reader_.reset(); }
  void StartThen(absl::string_view method, zeo::Value::Items args,
                 absl::Duration timeout, ReplyCallback done) override {
    if (reader_ == nullptr) {
      BackendConnection::StartThen(method, std::move(args), timeout,
                                   std::move(done));
      return;
    }
    // Recorded now, in the order the calls were sent.
    absl::StatusOr<ZeoReply> answer = Call(method, std::move(args), timeout);
    reader_->Submit(
        [done = std::move(done), answer = std::move(answer)] { done(answer); });
  }

  absl::Status Send(absl::string_view method, zeo::Value::Items args) override {
    MutexLock lock(&mu_);
    if (closed_) return absl::UnavailableError("fake backend closed");
    if (method == "tpc_begin" && args.size() > 4) {
      begun_tid_ = args[4].string_value();
    }
    calls_.push_back({std::string(method), std::move(args)});
    return absl::OkStatus();
  }

  std::string registered_tid() const override {
    MutexLock lock(&mu_);
    return tid_;
  }
  bool alive() const override { return !closed(); }
  zeo::Value last_info() const override {
    return zeo::Value::Dict({{zeo::Value::Str("length"), zeo::Value::Int(1)},
                             {zeo::Value::Str("size"), zeo::Value::Int(100)}});
  }
  void Close() override {
    MutexLock lock(&mu_);
    closed_ = true;
  }

 private:
  mutable Mutex mu_;
  std::string tid_ ABSL_GUARDED_BY(mu_);
  std::string begun_tid_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_oid_ ABSL_GUARDED_BY(mu_) = 0;  // the last new_oids handed out
  std::vector<RecordedCall> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ZeoReply> replies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::deque<ZeoReply>> queued_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  // Set before any call (AnswerOnOwnThread); destroyed first, so that no
  // answer runs on a destroyed fake.
  std::unique_ptr<WorkerPool> reader_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_BACKEND_FAKE_BACKEND_H_
