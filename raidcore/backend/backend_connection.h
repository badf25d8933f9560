// BackendConnection: one ZEO server that raidcore can call. The RAID logic
// (BackendSet, CommitCoordinator) only sees this interface, so it is tested
// with fake backends, under TSan, without sockets or gRPC.
#ifndef ZEORAID_RAIDCORE_BACKEND_BACKEND_CONNECTION_H_
#define ZEORAID_RAIDCORE_BACKEND_BACKEND_CONNECTION_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/spool_file.h"
#include "raidcore/backend/one_way_call.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

// What a ZEO server answered: a result, or an application error as ZEO encodes
// it (class path + args tuple or state dict). An application error
// (ConflictError, POSKeyError…) is an answer; transport failures are a non-OK
// Status instead.
struct ZeoReply {
  bool is_error = false;
  zeo::Value value;  // the result, or the error payload
  std::string error_class;

  static ZeoReply Result(zeo::Value v) {
    ZeoReply r;
    r.value = std::move(v);
    return r;
  }
  static ZeoReply Error(std::string class_path, zeo::Value payload) {
    ZeoReply r;
    r.is_error = true;
    r.error_class = std::move(class_path);
    r.value = std::move(payload);
    return r;
  }
  bool operator==(const ZeoReply& o) const {
    return is_error == o.is_error && error_class == o.error_class &&
           value == o.value;
  }
};

class BackendConnection {
 public:
  // A synchronous call on its way: Start sent it; Await returns its answer
  // (at most the call's timeout after Start). Destroying it unawaited drops
  // the answer.
  class PendingCall {
   public:
    virtual ~PendingCall() = default;
    virtual absl::StatusOr<ZeoReply> Await() = 0;
  };

  virtual ~BackendConnection() = default;

  // A synchronous ZEO call. Non-OK: the backend could not be asked or did not
  // answer within `timeout` (Unavailable, DeadlineExceeded); the connection is
  // then unusable.
  virtual absl::StatusOr<ZeoReply> Call(absl::string_view method,
                                        zeo::Value::Items args,
                                        absl::Duration timeout) = 0;
  // Sends a synchronous call without waiting for the answer, so that the
  // same call goes to every mirror before any answer is awaited. This
  // default runs Call on a thread of its own; a connection that matches
  // answers to calls (ZeoClient) pipelines instead.
  virtual std::unique_ptr<PendingCall> Start(absl::string_view method,
                                             zeo::Value::Items args,
                                             absl::Duration timeout);
  // What StartThen calls with the answer.
  using ReplyCallback = std::function<void(absl::StatusOr<ZeoReply>)>;
  // Sends a synchronous call and returns; `done` runs exactly once with what
  // Call would have returned. A connection that reads answers on a thread of
  // its own (ZeoClient) runs `done` there, so the caller's thread never waits
  // and no thread is handed the answer: `done` must be quick and must not
  // call this connection's blocking methods (hand such work to a pool). This
  // default runs Call on the caller's thread.
  virtual void StartThen(absl::string_view method, zeo::Value::Items args,
                         absl::Duration timeout, ReplyCallback done) {
    done(Call(method, std::move(args), timeout));
  }
  // sendBlob(oid, serial): the server sends the blob file of that revision
  // (receiveBlobStart, receiveBlobChunk…, receiveBlobStop) before its answer;
  // its bytes are appended to `into`. The answer as Call's; an application
  // error (POSKeyError) when the backend has no such blob. A failure to
  // write `into` is ResourceExhausted (raidcore's disk, not the backend).
  virtual absl::StatusOr<ZeoReply> SendBlob(const std::string& oid,
                                            const std::string& serial,
                                            SpoolFile* into,
                                            absl::Duration timeout) {
    (void)oid, (void)serial, (void)into, (void)timeout;
    return absl::UnimplementedError("this connection carries no blobs");
  }
  // A one-way ZEO call (tpc_begin, storea…): no answer; errors surface at the
  // next synchronous call, since the server closes the connection when one
  // fails.
  virtual absl::Status Send(absl::string_view method,
                            zeo::Value::Items args) = 0;
  // Send, except that the frame may wait in the connection and leave in one
  // write with the frames after it: with the next call or Send, at Flush, or
  // once enough bytes wait. A transaction's tpc_begin and data calls go this
  // way, so that its stores leave in a few writes and not one each (each
  // costs a system call here and a wake-up at the server). Default: Send.
  virtual absl::Status Queue(absl::string_view method, zeo::Value::Items args) {
    return Send(method, std::move(args));
  }
  // Queue for a call several connections send alike: encoded once for all
  // (see OneWayCall). Default: Queue with its method and arguments.
  virtual absl::Status QueueCall(OneWayCall& call) {
    return Queue(call.method(), call.args());
  }
  // Writes the frames Queue holds now. Default: it holds none.
  virtual absl::Status Flush() { return absl::OkStatus(); }

  // The last storage statistics ({length, size}) the server sent with its
  // `info` callback (after a commit on this connection, or a pack); None before
  // any.
  virtual zeo::Value last_info() const = 0;

  // The tid the server reported at register time.
  virtual std::string registered_tid() const = 0;
  // The server refused a read-write register (ZEO's `read-only true`, or a
  // read-only storage), so this connection is registered read-only.
  virtual bool read_only() const { return false; }
  // The server's storage keeps blobs (its get_info names IBlobStorage: a
  // blob-dir is configured).
  virtual bool supports_blobs() const { return false; }
  // The ZEO protocol spoken: "Z5" (pickle) or "M5" (msgpack); "" if unknown.
  virtual std::string protocol() const { return ""; }
  virtual bool alive() const = 0;
  // When the server last sent anything on this connection (a reply, a
  // callback); InfinitePast when unknown. A connection that hears from its
  // server proves the server alive: the heartbeat needs no probe then.
  virtual absl::Time last_heard() const { return absl::InfinitePast(); }
  // Closes the connection; pending and later calls fail with Unavailable.
  virtual void Close() = 0;
};

namespace internal {
// BackendConnection::Start's default: Call on a thread.
class ThreadedCall final : public BackendConnection::PendingCall {
 public:
  ThreadedCall(BackendConnection* connection, std::string method,
               zeo::Value::Items args, absl::Duration timeout)
      : thread_([this, connection, method = std::move(method),
                 args = std::move(args), timeout]() mutable {
          result_ = connection->Call(method, std::move(args), timeout);
        }) {}
  ~ThreadedCall() override {
    if (thread_.joinable()) thread_.join();
  }
  absl::StatusOr<ZeoReply> Await() override {
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  absl::StatusOr<ZeoReply> result_ = absl::UnknownError("not run");
  std::thread thread_;  // last: starts after result_ exists
};
}  // namespace internal

inline std::unique_ptr<BackendConnection::PendingCall> BackendConnection::Start(
    absl::string_view method, zeo::Value::Items args, absl::Duration timeout) {
  return std::make_unique<internal::ThreadedCall>(this, std::string(method),
                                                  std::move(args), timeout);
}

// Opens new connections to the configured backends, so that a recovery job,
// a heartbeat or a check after a failed call never disturbs the connection
// that serves the RAID.
class BackendConnectionFactory {
 public:
  virtual ~BackendConnectionFactory() = default;
  // A connected, registered connection to the backend named `name`.
  virtual absl::StatusOr<std::shared_ptr<BackendConnection>> Connect(
      const std::string& name) = 0;
  // Like Connect, giving up after `timeout` if that is shorter than the
  // configured connect timeout (a heartbeat must not wait longer than its
  // own timeout for a stopped backend's handshake).
  virtual absl::StatusOr<std::shared_ptr<BackendConnection>> ConnectWithin(
      const std::string& name, absl::Duration timeout) {
    (void)timeout;
    return Connect(name);
  }
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_BACKEND_BACKEND_CONNECTION_H_
