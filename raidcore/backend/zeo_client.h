// ZeoClient: raidcore's connection to one real ZEO server, speaking the ZEO 5
// client protocol (handshake, register, pipelined synchronous calls matched by
// msgid, one-way calls, and the server's one-way callbacks, which raidcore
// ignores).
#ifndef ZEORAID_RAIDCORE_BACKEND_ZEO_CLIENT_H_
#define ZEORAID_RAIDCORE_BACKEND_ZEO_CLIENT_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "base/alarm_thread.h"
#include "base/mutex.h"
#include "net/socket.h"
#include "raidcore/backend/backend_connection.h"
#include "zeo/limits.h"
#include "zeo/message.h"

namespace zeoraid::raidcore {

struct ZeoClientOptions {
  std::string address;  // host:port or unix socket path
  std::string storage = "1";
  absl::Duration connect_timeout = absl::Seconds(5);
  // Longest a write to the backend may block.
  absl::Duration call_timeout = absl::Seconds(10);
  zeo::DecodeLimits limits;
  std::string label;  // for logs: the backend name
  // Told about every synchronous call's end (metrics): method, time from its
  // start, and whether it got no answer. May be empty.
  std::function<void(const std::string& method, absl::Duration duration,
                     bool failed)>
      call_observer;
};

class ZeoClient final : public BackendConnection {
 public:
  // Connects, completes the handshake and registers (never blocks longer than
  // connect_timeout for each step).
  static absl::StatusOr<std::unique_ptr<ZeoClient>> Connect(
      const ZeoClientOptions& options);
  ~ZeoClient() override;

  absl::StatusOr<ZeoReply> Call(absl::string_view method,
                                zeo::Value::Items args,
                                absl::Duration timeout) override;
  // Writes the call and returns; the answer is matched by msgid.
  std::unique_ptr<PendingCall> Start(absl::string_view method,
                                     zeo::Value::Items args,
                                     absl::Duration timeout) override;
  // `done` runs on the reader thread with the answer; on the thread that
  // fails the connection (reader, deadline alarm, Close) when there is none.
  // A call unanswered after `timeout` fails the connection, as Call's does.
  void StartThen(absl::string_view method, zeo::Value::Items args,
                 absl::Duration timeout, ReplyCallback done) override;
  // One blob transfer at a time on a connection (blob_mu_): the server's
  // receiveBlob* callbacks name the revision, and are matched to it.
  absl::StatusOr<ZeoReply> SendBlob(const std::string& oid,
                                    const std::string& serial, SpoolFile* into,
                                    absl::Duration timeout) override;
  // A call msgpack cannot carry (on an M5 backend) is not sent: Call answers
  // a StorageError; after such a Send, the next Call does (see unsent_).
  absl::Status Send(absl::string_view method, zeo::Value::Items args) override;
  // Holds at most kQueuedBytes; a frame that takes it past them goes out with
  // the ones before it.
  absl::Status Queue(absl::string_view method, zeo::Value::Items args) override;
  absl::Status QueueCall(OneWayCall& call) override;
  absl::Status Flush() override;
  static constexpr size_t kQueuedBytes = 64 << 10;
  std::string registered_tid() const override { return registered_tid_; }
  bool read_only() const override { return read_only_; }
  bool supports_blobs() const override { return blobs_; }
  std::string protocol() const override {
    return encoding_ == zeo::Encoding::kMsgpack ? "M5" : "Z5";
  }
  zeo::Value last_info() const override;
  bool alive() const override;
  absl::Time last_heard() const override;
  void Close() override;
  // Whether the caller is this connection's reader thread (which runs
  // StartThen's callbacks, and which the destructor joins).
  bool OnReaderThread() const {
    return std::this_thread::get_id() == reader_.get_id();
  }

 private:
  ZeoClient(ZeoClientOptions options, net::Socket socket,
            zeo::Encoding encoding);
  void ReadLoop();
  void Fail(const absl::Status& status);
  // Writes the frames queued, then `payload`'s (in one system call when the
  // socket takes them).
  absl::Status Write(const std::string& payload);
  // Send, Queue and QueueCall.
  absl::Status SendOneWay(OneWayCall& call, bool queue);
  absl::Status WriteQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void ClearQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The frame payload for `message`; an error (logged) when this backend's
  // encoding cannot carry it.
  absl::StatusOr<std::string> Encode(const zeo::Message& message);
  void WarnUnencodable(absl::string_view method, const absl::Status& why) const;

  // Where the blob of the running SendBlob goes.
  struct BlobSink {
    std::string oid, serial;
    SpoolFile* into = nullptr;
    bool started = false, stopped = false;
    absl::Status status;  // the first failure to write `into`
  };
  // Applies a receiveBlob* callback to the running transfer.
  void ReceiveBlob(const zeo::Message& message);

  // One call awaiting its answer; fields guarded by mu_.
  struct Pending {
    bool done = false;
    absl::StatusOr<ZeoReply> reply = absl::UnknownError("pending");
    CondVar cv;  // signalled when done
  };
  class InFlight;
  // A call answered through StartThen's callback.
  struct Callback {
    ReplyCallback done;
    std::string method;
    absl::Time start;
    uint64_t alarm = 0;  // its deadline on Deadlines()
  };
  // Runs `callback` with `reply` (never under mu_), after cancelling its
  // deadline unless `from_alarm`, and tells the call observer.
  void Complete(Callback callback, absl::StatusOr<ZeoReply> reply,
                bool from_alarm = false);
  // The alarm thread that fails a connection whose StartThen call is late;
  // one for the process.
  static AlarmThread& Deadlines();
  // Waits for the answer to `msgid` until `deadline`; a call that times out
  // fails the connection (the server may still act on it).
  absl::StatusOr<ZeoReply> AwaitReply(
      int64_t msgid, Pending* pending,
      std::chrono::steady_clock::time_point deadline, absl::string_view method,
      absl::Duration timeout);
  // The error of this transaction's one-way call that could not be sent,
  // for its next synchronous call `method` (none for an abort); clears it.
  std::optional<ZeoReply> TakeUnsentLocked(absl::string_view method)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops an unawaited call: its answer, if it comes, is ignored.
  void Forget(int64_t msgid);

  const ZeoClientOptions options_;
  net::Socket socket_;
  const zeo::Encoding encoding_;
  std::string registered_tid_;
  bool read_only_ = false;  // set before the client is handed out
  bool blobs_ = false;      // likewise
  std::thread reader_;
  // Unix nanoseconds of the last frame read (0: none); written by reader_.
  std::atomic<int64_t> last_heard_ns_{0};

  Mutex write_mu_;  // serializes frames on the socket
  // Whole frames from Queue, not yet written; they go out before any later
  // frame, so the connection's order is the callers' order.
  std::string queued_ ABSL_GUARDED_BY(write_mu_);
  Mutex blob_mu_;  // held for a whole SendBlob

  mutable Mutex mu_;
  int64_t next_msgid_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, Pending*> pending_ ABSL_GUARDED_BY(mu_);
  // Calls answered through callbacks, by msgid. Every entry's deadline alarm
  // is armed before it is inserted, and cancelled by whoever removes it.
  std::map<int64_t, Callback> callbacks_ ABSL_GUARDED_BY(mu_);
  absl::Status broken_ ABSL_GUARDED_BY(mu_);  // non-OK once the connection died
  zeo::Value last_info_ ABSL_GUARDED_BY(mu_);
  // The error for a one-way call that could not be encoded, reported by the
  // next synchronous call.
  std::optional<ZeoReply> unsent_ ABSL_GUARDED_BY(mu_);
  std::optional<BlobSink> blob_sink_ ABSL_GUARDED_BY(mu_);
};

// Connects ZeoClients to the configured backends by name.
class ZeoClientFactory final : public BackendConnectionFactory {
 public:
  explicit ZeoClientFactory(std::map<std::string, ZeoClientOptions> backends)
      : backends_(std::move(backends)) {}
  absl::StatusOr<std::shared_ptr<BackendConnection>> Connect(
      const std::string& name) override;
  absl::StatusOr<std::shared_ptr<BackendConnection>> ConnectWithin(
      const std::string& name, absl::Duration timeout) override;

  // Backends added or removed while running (Admin AddBackend/RemoveBackend).
  void Set(const std::string& name, ZeoClientOptions options);
  void Erase(const std::string& name);

 private:
  mutable Mutex mu_;
  std::map<std::string, ZeoClientOptions> backends_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_BACKEND_ZEO_CLIENT_H_
