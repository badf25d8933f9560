// ClientSession: one ZEO client connection to the translator. Speaks the server
// side of the ZEO 5 protocol (handshake, register, calls, one-way calls) and
// maps each call onto a zeoraid.v1.Storage RPC; one transaction at a time rides
// a Commit stream.
#ifndef ZEORAID_TRANSLATOR_CLIENT_SESSION_H_
#define ZEORAID_TRANSLATOR_CLIENT_SESSION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "base/mutex.h"
#include "base/worker_pool.h"
#include "net/byte_budget.h"
#include "net/frame_reader.h"
#include "net/socket.h"
#include "net/tls_stream.h"
#include "net/write_queue.h"
#include "translator/commit_stream.h"
#include "translator/invalidation_fanout.h"
#include "translator/load_stream_client.h"
#include "translator/oid_reserve.h"
#include "translator/translator_metrics.h"
#include "zeo/limits.h"
#include "zeo/message.h"
#include "zeo/storea_frame.h"
#include "zeoraid/v1/storage.grpc.pb.h"

namespace zeoraid::translator {

struct SessionOptions {
  zeo::DecodeLimits limits;
  // Announce msgpack (M5) instead of pickle (Z5), like ZEO's `msgpack true`.
  bool msgpack = false;
  // Like ZEO's `read-only true`: read-write registers get ReadOnlyError.
  bool read_only = false;
  // Deadline of each unary RPC to raidcore.
  absl::Duration rpc_timeout = absl::Seconds(90);
  // Longest a client may go without taking any of the bytes waiting for it
  // (it stopped reading); then it is disconnected. Its writes never block
  // anyone: they wait in its own queue, sent by `flusher`.
  absl::Duration write_timeout = absl::Seconds(30);
  // Sends what clients do not take at once. Required.
  net::OutputFlusher* flusher = nullptr;
  // Bytes that may wait for one client (replies and invalidations); past it
  // the client is disconnected. Its next call is not read while more than
  // reply_backlog_bytes wait (backpressure, as a blocking write had).
  size_t client_queue_bytes = 128u << 20;
  size_t reply_backlog_bytes = 1u << 20;
  // Frames from clients: their bytes beyond a small allowance per frame come
  // out of this budget, shared by all connections (null: unbounded), until
  // the call is handled; a client that stops sending in the middle of a
  // frame for read_stall_timeout is disconnected.
  net::ByteBudget* frame_budget = nullptr;
  absl::Duration read_stall_timeout = absl::Seconds(60);
  // From accept to a successful register. ZEO clients register at once;
  // after that a connection may stay idle for as long as it likes.
  absl::Duration handshake_timeout = absl::Seconds(30);
  // TLS on every connection (ZEO's `ssl` section); null: plain TCP.
  std::shared_ptr<net::TlsServerContext> tls;
  // How long a reply may wait for the invalidations it must follow.
  absl::Duration ordering_timeout = absl::Seconds(30);
  // Runs work beside the connections' threads: a client's pipelined
  // loadBefore calls (sent without waiting for the previous reply, as
  // prefetch and threads sharing a ClientStorage do), and the closing of
  // finished transaction streams. Null: all on the connection's thread.
  WorkerPool* pool = nullptr;
  // At most this many of one connection's loads on the pool at once; the
  // connection's thread answers the next one itself (and so stops reading).
  int max_pipelined_loads = 16;
  // Commit streams kept open between transactions; null: one per
  // transaction.
  CommitStreamPool* commit_streams = nullptr;
  // Sends loads to raidcore on one shared stream; null: a unary call each.
  LoadStreamClient* load_stream = nullptr;
  // A registered connection idle this long between calls gives up its
  // thread (Serve returns kParked) until it has input again; zero: never.
  // Not while a transaction is open, nor on TLS (its reader has a thread).
  absl::Duration park_after = absl::ZeroDuration();
  // Counts calls, errors and bytes for Prometheus; null: not counted.
  TranslatorMetrics* metrics = nullptr;
};

class ClientSession final : public ClientSink,
                            public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(uint64_t id, net::Socket socket, std::string peer,
                v1::Storage::Stub* stub, InvalidationFanout* fanout,
                const SessionOptions& options);
  ~ClientSession() override;

  enum class ServeResult {
    kEnded,   // the client left or misbehaved; the session is done
    kParked,  // idle for options.park_after between calls
  };
  // Serves the connection on the caller's thread until the client leaves or
  // misbehaves (kEnded) or, with options.park_after set, stays idle that long
  // between calls (kParked): then the caller watches fd() and calls Serve
  // again, from any thread, once it has input (bytes or its end). The calls
  // never overlap, and each happens after the previous one returned.
  ServeResult Serve();
  int fd() const { return socket_.fd(); }

  // ClientSink.
  uint64_t connection_id() const override { return id_; }
  void DeliverInvalidation(const std::string& tid,
                           const std::vector<std::string>& oids) override;
  void DeliverInfo(const zeo::Value& stats) override;
  bool ReachedOwnCommit(const std::string& tid,
                        absl::Duration timeout) override;
  void Disconnect(const std::string& reason) override;

 private:
  struct Transaction;
  // A committed transaction's tpc_finish reply, and what goes with it.
  struct FinishReply {
    uint64_t tid = 0;
    zeo::Value msgid;
    zeo::Value stats;  // info() sent before the reply when a dict
    // Stored verbatim: copied into the record cache at the tid.
    std::vector<std::pair<std::string, std::string>> records;
  };

  // Sets up the output queue (and TLS), sends the hello and reads the
  // client's; true when calls follow.
  bool Start();
  // Reads and handles calls until the session ends or parks.
  ServeResult ServeCalls();
  // Counts a handled call in the metrics; false (logged) when `handled`
  // says the connection must close.
  bool Handled(const std::string& name, const net::Frame& frame,
               absl::Time started, const absl::Status& handled);
  // Leaves: aborts what the client left open, closes the connection.
  void End();
  // Handles one decoded message; a non-OK status closes the connection.
  absl::Status Dispatch(const zeo::Message& message);
  absl::Status HandleRegister(const zeo::Message& message);
  absl::Status HandleLoadBefore(const zeo::Message& message);
  // Answers loadBefore from the translator's record cache; false on a miss
  // (or a hit that a newer invalidation already written to this client
  // makes unusable).
  absl::StatusOr<bool> LoadFromCache(const zeo::Value& msgid,
                                     const std::string& oid, uint64_t before);
  // Answers loadBefore with raidcore's answer, which also goes to the cache.
  absl::Status LoadFromRaidcore(const zeo::Value& msgid, const std::string& oid,
                                const std::string& before);
  absl::Status HandleTpcBegin(const zeo::Message& message);
  absl::Status HandleDataCall(const zeo::Message& message);
  // A storea read straight off its frame (zeo/storea_frame.h): false, and
  // nothing done, unless it belongs to this connection's transaction, which
  // is the only case it handles (into `handled`); the general way takes the
  // rest and answers as ZEO would.
  bool HandleFastStorea(const zeo::StoreaFrame& frame, absl::Status* handled);
  // Queues a store for raidcore (and for the record cache); `serial` is
  // empty for None.
  absl::Status QueueStore(absl::string_view oid, absl::string_view serial,
                          absl::string_view data);
  // Queues a data call, and sends what is queued when the client pauses.
  absl::Status QueueDataCall(v1::CommitRequest request);
  // storeBlobStart / storeBlobChunk / storeBlobEnd / storeBlobShared.
  absl::Status HandleBlobStore(const zeo::Message& message);
  absl::Status HandleSendBlob(const zeo::Message& message);
  absl::Status HandleVote(const zeo::Message& message);
  absl::Status HandleFinish(const zeo::Message& message);
  absl::Status HandleAbort(const zeo::Message& message);
  absl::Status HandleSimpleCall(const zeo::Message& message);
  absl::Status HandleIterator(const zeo::Message& message);
  absl::Status HandlePing(const zeo::Message& message);
  // After a new_oids reply: tops the translator's oid reserve up if it runs
  // low (see OidReserve), on this thread, while the client goes on.
  void RefillOids();
  // Ends `refill` with `count` oids from raidcore (Put; an older raidcore
  // gives at most 100), or abandons it when raidcore fails or answers with
  // an error (in `response`).
  grpc::Status FetchOids(const OidReserve::Refill& refill, uint32_t count,
                         v1::NewOidsResponse* response);

  absl::Status Reply(const zeo::Value& msgid, zeo::Value result);
  absl::Status ReplyError(const zeo::Value& msgid,
                          const std::string& class_path, zeo::Value payload);
  absl::Status ReplyZeoError(const zeo::Value& msgid,
                             const v1::ZeoError& error);
  // Replies with raidcore's answer: the RPC failure, the ZEO error, or the
  // value.
  absl::Status ReplyFrom(const zeo::Value& msgid, const grpc::Status& status,
                         const v1::PickledResponse& response);
  // Replies with a value raidcore sent pickled.
  absl::Status ReplyPickled(const zeo::Value& msgid, const std::string& pickle);
  // Reports an answer from raidcore that could not be decoded.
  absl::Status ReplyUnreadable(const zeo::Value& msgid,
                               const absl::Status& why);
  // Whether a "current" answer for `oid` that reflects `snapshot` must not be
  // written: this client already processed a later transaction that replaced
  // (or may have replaced) that revision, so it would cache a stale record as
  // current (ZEO's order). The caller reads it again instead.
  bool ReplacedSinceLocked(const std::string& oid, uint64_t snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Reports a raidcore that could not be asked as a StorageError to the client.
  absl::Status ReplyRpcFailure(const zeo::Value& msgid,
                               const grpc::Status& status);
  absl::Status Write(const zeo::Message& message);
  // Queues one frame for the client (encrypted on a TLS connection).
  absl::Status SendFrame(absl::string_view payload);
  // `payloads` as frames, in one send on a plain socket.
  absl::Status SendFrames(absl::Span<const std::string> payloads);
  // The frame payload of `message` in the connection's encoding; what ZEO
  // answers (a ValueError reply) when it cannot be encoded.
  std::string EncodeForClient(const zeo::Message& message) const;
  absl::Status WriteLocked(const zeo::Message& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes info (if any) and the tid, and records the tid as delivered.
  absl::Status WriteFinishReplyLocked(const FinishReply& reply)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void AnswerStatusProbe();
  // Counts a connection cut for a read error (stall, budget, handshake).
  void CountCut(const absl::Status& why) const;
  void AbortTransaction();
  // Ends a finished transaction's stream (on the pool when there is one).
  void CloseLater(std::unique_ptr<Transaction> txn);
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  const uint64_t id_;
  net::Socket socket_;
  // Set up by Serve before the session is shared; destroyed before socket_,
  // the TLS stream (if any, also source_) before the queue it writes to.
  std::unique_ptr<net::WriteQueue> out_;
  std::unique_ptr<net::ByteSource> source_;
  net::TlsStream* tls_ = nullptr;
  const std::string peer_;
  v1::Storage::Stub* const stub_;
  InvalidationFanout* const fanout_;
  const SessionOptions options_;

  // Owned by the thread in Serve (one at a time: a parked session comes back
  // on another thread, after the IdleParker's lock ordered the two).
  bool started_ = false;
  absl::Time handshake_deadline_;
  zeo::Encoding encoding_ = zeo::Encoding::kPickle;
  bool registered_ = false;
  bool read_only_ = false;
  std::string label_;
  std::unique_ptr<Transaction> txn_;
  // This client's iterator ids (0, 1, 2… per connection, transaction and
  // record iterators alike, as a ZEO server counts them) → raidcore's ids;
  // raidcore forgets them when the client leaves. A client can only name its
  // own iterators.
  std::map<int64_t, uint64_t> iterators_;
  int64_t next_iterator_id_ = 0;
  // A pack runs beside the connection's other calls, as on a ZEO server (which
  // packs in a thread): a client's tpc_finish must not wait behind its own
  // pack, which may wait for that transaction's lock. One at a time; its
  // context lets the session cancel it when the client leaves.
  std::thread pack_thread_;
  std::unique_ptr<grpc::ClientContext> pack_context_;

  Mutex loads_mu_;
  // This connection's loads on the load pool right now.
  int pipelined_loads_ ABSL_GUARDED_BY(loads_mu_) = 0;

  Mutex write_mu_;  // one frame at a time; guards the delivery order below
  CondVar delivered_cv_;
  // Newest tid this client has been told about (register reply, invalidations,
  // its own tpc_finish replies).
  uint64_t delivered_ ABSL_GUARDED_BY(write_mu_) = 0;
  // The newest of this connection's own transactions the fan-out reached
  // (ReachedOwnCommit): its reply may be written at once.
  uint64_t own_reached_ ABSL_GUARDED_BY(write_mu_) = 0;
  // A tpc_finish reply that waits for the fan-out to reach its tid, which
  // writes it (ReachedOwnCommit). The session goes on reading meanwhile.
  std::optional<FinishReply> pending_finish_ ABSL_GUARDED_BY(write_mu_);
  bool closed_ ABSL_GUARDED_BY(write_mu_) = false;
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_CLIENT_SESSION_H_
