#include "raidcore/service/commit_stream.h"

#include <functional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/alarm_thread.h"
#include "base/logging.h"
#include "raidcore/service/rpc_util.h"
#include "zeo/pickle.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidHex;
using zeo::Value;

namespace {

// Why a transaction may not have the tid it asked for (tpc_begin with a tid:
// copies, restores); empty when it may.
std::string RequestedTidRefusal(const std::string& tid,
                                absl::Duration max_ahead) {
  if (tid.empty()) return "";
  if (static_cast<unsigned char>(tid[0]) >= 0x80) {
    // Whatever --max_tid_ahead says: ZEO's client cache keeps tids as signed
    // 64-bit numbers, and fails on any tid from 2^63 on.
    return absl::StrCat("tid ", zeo::TidHex(tid),
                        " is 2^63 or more, which ZEO clients cannot hold; "
                        "refused");
  }
  if (max_ahead > absl::ZeroDuration() &&
      zeo::TidToTime(tid) > absl::Now() + max_ahead) {
    return absl::StrCat("tid ", zeo::TidHex(tid), " (",
                        absl::FormatTime(zeo::TidToTime(tid)),
                        ") is more than ", absl::FormatDuration(max_ahead),
                        " ahead of the clock; refused, as it would push every "
                        "later transaction's tid past it");
  }
  return "";
}

// Cancels a Commit stream whose transaction holds the commit lock for too long,
// so that a stalled client cannot block every other writer. Armed on the
// service's alarm thread: a transaction costs no thread for it.
class LockWatchdog {
 public:
  // `on_timeout` runs (on the alarm thread) when it fires.
  LockWatchdog(AlarmThread* alarms, grpc::ServerContext* context,
               absl::Duration limit, std::string tid,
               std::function<void()> on_timeout)
      : alarms_(alarms),
        id_(alarms->Schedule(limit, [context, limit, tid, on_timeout] {
          ZR_LOG(WARNING) << "transaction " << TidHex(tid)
                          << " held the commit lock longer than "
                          << absl::FormatDuration(limit)
                          << " without finishing; aborting it";
          context->TryCancel();
          on_timeout();
        })) {}
  // Disarms it, or waits until a firing alarm is done with the context.
  ~LockWatchdog() { alarms_->Cancel(id_); }

 private:
  AlarmThread* const alarms_;
  const uint64_t id_;
};

}  // namespace

class CommitStreamServer::Stream {
 public:
  explicit Stream(CommitStreamServer* server)
      : server_(server), service_(server->service_) {}

  // The completion queue's events.
  void OnAccepted(bool ok);
  void OnReadDone(bool ok);
  void OnWriteDone(bool ok);

  grpc::ServerContext context;
  grpc::ServerAsyncReaderWriter<v1::CommitResponse, v1::CommitRequest> io{
      &context};

  using Op = StreamOp<Stream>;
  void OnEvent(Op::Kind kind, bool ok);
  Op accept_op{this, Op::kAccept};
  Op read_op{this, Op::kRead};
  Op write_op{this, Op::kWrite};
  Op finish_op{this, Op::kFinish};

 private:
  // The transaction on the stream; after the answer to its Finish or Abort
  // the next one (a new Begin) starts from a fresh state.
  struct TransactionState {
    PendingTransaction txn;
    bool begun = false;
    // Counted active (server_status) from Begin until finished or aborted.
    bool active = false;
    std::unique_ptr<PreparedCommit> prepared;
    std::unique_ptr<LockWatchdog> watchdog;
    // The blob between BlobStart and BlobEnd.
    std::unique_ptr<SpoolFile> blob;
    absl::Time vote_started;  // the last Vote's start (commit duration)
    // Bytes of records held in memory; those past the budget go to `spill`.
    size_t memory_bytes = 0;
    std::shared_ptr<SpoolFile> spill;
    // Why the vote must fail (a tid requested too far ahead), if it must.
    std::string refusal;
  };

  void StartRead();
  // Applies request_ (one request or a Batch); answers, or reads on.
  void Process();
  // A request that gets no answer (Begin, data calls, blobs).
  // Takes the records out of `request` (moved, not copied).
  grpc::Status ApplyData(v1::CommitRequest& request);
  // Vote, Finish and Abort answer later (on another thread).
  void Vote();
  void OnVoted(absl::StatusOr<VoteOutcome> outcome);
  void FinishTransaction();
  void AbortTransaction();
  // Writes the answer to the request that ended the message;
  // `ends_transaction` after Finish and Abort.
  void Answer(bool ends_transaction);
  // Counts a vote, finish or abort as work the server's stop waits for; when
  // stopping, ends the stream instead and returns false.
  bool BeginWorkOrEnd();
  // Ends the stream with `status`, aborting a transaction that holds the
  // commit lock first.
  void End(grpc::Status status);
  void FinishStream(const grpc::Status& status);
  void EndActive(bool aborted);

  CommitStreamServer* const server_;
  StorageService* const service_;
  v1::CommitRequest request_;    // the message being processed
  v1::CommitResponse response_;  // its answer, being built or written
  // Replaced by a fresh one after each Finish or Abort.
  std::unique_ptr<TransactionState> state_ =
      std::make_unique<TransactionState>();
};

CommitStreamServer::CommitStreamServer(StorageService* service,
                                       grpc::ServerCompletionQueue* cq)
    : service_(service), cq_(cq) {}

CommitStreamServer::~CommitStreamServer() = default;

void CommitStreamServer::Start() { Accept(); }

void CommitStreamServer::StopStarting() { registry_.StopStarting(); }

void CommitStreamServer::Accept() {
  auto* s = new Stream(this);
  registry_.Accept(s, [&] {
    service_->RequestCommit(&s->context, &s->io, cq_, cq_, &s->accept_op);
  });
}

void CommitStreamServer::Stream::OnEvent(Op::Kind kind, bool ok) {
  switch (kind) {
    case Op::kAccept:
      OnAccepted(ok);
      return;
    case Op::kRead:
      OnReadDone(ok);
      return;
    case Op::kWrite:
      OnWriteDone(ok);
      return;
    case Op::kFinish:
      server_->registry_.Remove(this);  // deletes this
      return;
    case Op::kDone:
      return;  // not asked for
  }
}

void CommitStreamServer::Stream::OnAccepted(bool ok) {
  if (!ok) {  // shutting down: the stream never started
    server_->registry_.Remove(this);
    return;
  }
  server_->Accept();
  StartRead();
}

void CommitStreamServer::Stream::StartRead() {
  // Not started when stopping: the stream is deleted with the server.
  server_->registry_.StartOp([this] { io.Read(&request_, &read_op); });
}

void CommitStreamServer::Stream::OnReadDone(bool ok) {
  if (!ok) {
    // Stream ended or was cancelled: a transaction still holding the lock
    // is aborted on every backend, as ZEO does when a connection is lost.
    if (state_->prepared != nullptr) {
      ZR_LOG(WARNING) << "commit stream from " << context.peer()
                      << " ended between vote and finish of "
                      << TidHex(state_->prepared->tid()) << "; aborting";
    }
    End(grpc::Status::OK);
    return;
  }
  Process();
}

void CommitStreamServer::Stream::OnWriteDone(bool ok) {
  if (!ok) {
    End(grpc::Status::OK);  // the translator went away
    return;
  }
  StartRead();
}

void CommitStreamServer::Stream::Process() {
  response_.Clear();
  const bool batch = request_.has_batch();
  const int n = batch ? request_.batch().requests_size() : 1;
  for (int i = 0; i < n; ++i) {
    v1::CommitRequest& r =
        batch ? *request_.mutable_batch()->mutable_requests(i) : request_;
    const bool last = i == n - 1;
    switch (r.op_case()) {
      case v1::CommitRequest::kVote:
      case v1::CommitRequest::kFinish:
      case v1::CommitRequest::kAbort:
      case v1::CommitRequest::kSync:
        if (!last) {
          End(BadArgument("a Batch goes on after an answer"));
          return;
        }
        // Each of these answers (maybe later, on another thread); nothing
        // touches the stream after it here.
        if (r.has_vote()) {
          Vote();
        } else if (r.has_finish()) {
          FinishTransaction();
        } else if (r.has_abort()) {
          AbortTransaction();
        } else {
          Answer(/*ends_transaction=*/false);  // Sync: an empty answer
        }
        return;
      case v1::CommitRequest::kBatch:
        End(BadArgument("a Batch inside a Batch"));
        return;
      case v1::CommitRequest::OP_NOT_SET:
        End(BadArgument("empty CommitRequest"));
        return;
      default: {
        grpc::Status st = ApplyData(r);
        if (!st.ok()) {
          End(st);
          return;
        }
      }
    }
  }
  // No answer: the translator sends on. A transaction that comes in several
  // messages is a big one: its calls go to the backends now, not at vote.
  TransactionState& state = *state_;
  if (service_->options_.send_early && state.begun &&
      state.prepared == nullptr && state.blob == nullptr &&
      state.refusal.empty() && !state.txn.ops.empty()) {
    service_->commits_->SendEarly(&state.txn);
  }
  StartRead();
}

grpc::Status CommitStreamServer::Stream::ApplyData(v1::CommitRequest& request) {
  TransactionState& state = *state_;
  const StorageServiceOptions& options = service_->options_;
  switch (request.op_case()) {
    case v1::CommitRequest::kBegin: {
      if (state.begun) return BadArgument("Begin sent twice");
      state.begun = true;
      state.active = true;
      service_->stats_.Begin();
      const auto& b = request.begin();
      state.txn.user = b.user();
      state.txn.description = b.description();
      if (!b.extension_pickle().empty()) {
        absl::StatusOr<Value> ext = zeo::DecodePickle(b.extension_pickle());
        if (!ext.ok()) {
          return BadArgument(
              absl::StrCat("extension: ", ext.status().message()));
        }
        state.txn.extension = std::move(*ext);
      }
      if (!b.tid().empty() && !IsTid(b.tid())) return BadArgument("bad tid");
      state.txn.requested_tid = b.tid();
      // Answered at vote, where the client hears of tpc_begin's errors.
      state.refusal =
          RequestedTidRefusal(state.txn.requested_tid, options.max_tid_ahead);
      if (!state.refusal.empty()) {
        ZR_LOG(WARNING) << "transaction from " << b.origin_translator() << ": "
                        << state.refusal;
      }
      state.txn.status = b.status().empty() ? " " : b.status();
      state.txn.origin_translator = b.origin_translator();
      state.txn.origin_connection = b.origin_connection();
      return grpc::Status::OK;
    }
    case v1::CommitRequest::kUndo: {
      if (!state.begun || state.prepared != nullptr) {
        return BadArgument("undo outside of a transaction's data phase");
      }
      TransactionOp op;
      op.kind = TransactionOp::Kind::kUndo;
      op.data = request.undo().undo_id();
      state.txn.ops.push_back(std::move(op));
      return grpc::Status::OK;
    }
    case v1::CommitRequest::kStore:
    case v1::CommitRequest::kCheckCurrentSerial:
    case v1::CommitRequest::kRestore:
    case v1::CommitRequest::kDelete: {
      if (!state.begun || state.prepared != nullptr) {
        return BadArgument("data call outside of a transaction's data phase");
      }
      TransactionOp op;
      if (request.has_store()) {
        v1::CommitRequest::Store& store = *request.mutable_store();
        op.kind = TransactionOp::Kind::kStore;
        op.oid = store.oid();
        op.serial = store.serial();
        op.data = std::move(*store.mutable_data());
      } else if (request.has_restore()) {
        v1::CommitRequest::Restore& r = *request.mutable_restore();
        op.kind = TransactionOp::Kind::kRestore;
        op.oid = r.oid();
        op.serial = r.serial();
        op.data = std::move(*r.mutable_data());
        op.has_data = r.has_data();
        op.prev_txn = r.prev_txn();
        if (!op.prev_txn.empty() && !IsTid(op.prev_txn)) {
          return BadArgument("prev_txn must be 8 bytes");
        }
      } else if (request.has_delete_()) {
        op.kind = TransactionOp::Kind::kDelete;
        op.oid = request.delete_().oid();
        op.serial = request.delete_().serial();
      } else {
        op.kind = TransactionOp::Kind::kCheckCurrentSerial;
        op.oid = request.check_current_serial().oid();
        op.serial = request.check_current_serial().serial();
      }
      // An empty serial is None: ZODB clients store a new object with
      // serial None as well as z64, and ZEO passes either on.
      if (!IsTid(op.oid) || !(op.serial.empty() || IsTid(op.serial))) {
        return BadArgument("oid must be 8 bytes, serial 8 bytes or None");
      }
      if (op.kind != TransactionOp::Kind::kCheckCurrentSerial) {
        service_->stats_.Store();
      }
      if (!op.data.empty() && state.memory_bytes + op.data.size() >
                                  options.transaction_memory_bytes) {
        // Past the transaction's memory budget: the record waits on disk.
        if (state.spill == nullptr) {
          absl::StatusOr<std::unique_ptr<SpoolFile>> file =
              SpoolFile::Create(options.spool_dir);
          if (!file.ok()) {
            ZR_LOG(ERROR) << file.status();
            return ToGrpc(file.status());
          }
          state.spill = std::move(*file);
          ZR_LOG(INFO) << "transaction from " << state.txn.origin_translator
                       << " passed " << options.transaction_memory_bytes
                       << " bytes of records; spooling the rest to "
                       << state.spill->path();
        }
        op.spilled_at = state.spill->size();
        op.spilled_size = op.data.size();
        absl::Status st = state.spill->Append(op.data);
        if (!st.ok()) {
          ZR_LOG(ERROR) << st;
          return ToGrpc(st);
        }
        op.spilled = state.spill;
        std::string().swap(op.data);
      } else {
        state.memory_bytes += op.data.size();
      }
      state.txn.ops.push_back(std::move(op));
      return grpc::Status::OK;
    }
    case v1::CommitRequest::kBlobStart: {
      if (!state.begun || state.prepared != nullptr || state.blob != nullptr) {
        return BadArgument(state.blob != nullptr
                               ? "BlobStart before the last blob's BlobEnd"
                               : "blob outside of a transaction's data phase");
      }
      absl::StatusOr<std::unique_ptr<SpoolFile>> spool =
          SpoolFile::Create(options.spool_dir);
      if (!spool.ok()) {
        ZR_LOG(ERROR) << spool.status();
        return ToGrpc(spool.status());
      }
      state.blob = std::move(*spool);
      return grpc::Status::OK;
    }
    case v1::CommitRequest::kBlobChunk: {
      if (state.blob == nullptr)
        return BadArgument("BlobChunk without BlobStart");
      absl::Status st = state.blob->Append(request.blob_chunk().data());
      if (!st.ok()) {
        ZR_LOG(ERROR) << st;
        return ToGrpc(st);
      }
      return grpc::Status::OK;
    }
    case v1::CommitRequest::kBlobEnd: {
      if (state.blob == nullptr)
        return BadArgument("BlobEnd without BlobStart");
      const auto& end = request.blob_end();
      TransactionOp op;
      op.kind = TransactionOp::Kind::kStoreBlob;
      op.oid = end.oid();
      op.serial = end.serial();
      op.data = end.data();
      if (!IsTid(op.oid) || !(op.serial.empty() || IsTid(op.serial))) {
        return BadArgument("oid must be 8 bytes, serial 8 bytes or None");
      }
      op.blob = std::move(state.blob);
      service_->stats_.Store();
      state.txn.ops.push_back(std::move(op));
      return grpc::Status::OK;
    }
    default:
      return BadArgument("empty CommitRequest");
  }
}

void CommitStreamServer::Stream::Vote() {
  TransactionState& state = *state_;
  if (!state.begun || state.prepared != nullptr || state.blob != nullptr) {
    End(BadArgument("unexpected Vote"));
    return;
  }
  if (!state.refusal.empty()) {
    EndActive(/*aborted=*/false);
    SetError(ZeoReply::Error("ZODB.POSException.StorageError",
                             Value::Tuple({Value::Str(state.refusal)})),
             response_.mutable_error());
    Answer(/*ends_transaction=*/false);
    return;
  }
  state.vote_started = absl::Now();
  if (!BeginWorkOrEnd()) return;
  // Last: `OnVoted` may run (on another thread) before VoteThen returns.
  service_->commits_->VoteThen(
      state.txn, [this, server = server_](absl::StatusOr<VoteOutcome> outcome) {
        OnVoted(std::move(outcome));
        // Through a copy: the answer may have ended and deleted the stream.
        server->registry_.EndWork();
      });
}

void CommitStreamServer::Stream::OnVoted(absl::StatusOr<VoteOutcome> outcome) {
  TransactionState& state = *state_;
  if (!outcome.ok()) {
    End(ToGrpc(outcome.status()));
    return;
  }
  if (outcome->error.has_value()) {
    // As ZEO: a vote that raised ends the transaction, and a ConflictError
    // (or a subclass) is counted.
    if (absl::StrContains(outcome->error->error_class, "Conflict")) {
      service_->stats_.Conflict();
    }
    EndActive(/*aborted=*/false);
    SetError(*outcome->error, response_.mutable_error());
  } else if (outcome->conflicts.has_value()) {
    response_.set_vote_result_pickle(zeo::EncodePickle(*outcome->conflicts));
  } else {
    state.prepared = std::move(outcome->prepared);
    response_.set_vote_result_pickle(
        zeo::EncodePickle(state.prepared->vote_result()));
    // As ZEO's transaction-timeout: the transaction is aborted and its
    // client's connection closed (it reconnects).
    StorageService* service = service_;
    const absl::Duration limit = service->options_.commit_lock_timeout;
    state.watchdog = std::make_unique<LockWatchdog>(
        &service->alarms_, &context, limit, state.prepared->tid(),
        [service, translator = state.txn.origin_translator,
         connection = state.txn.origin_connection, limit] {
          service->hub_->PublishDisconnect(
              translator, connection,
              absl::StrCat("transaction timed out after ",
                           absl::FormatDuration(limit),
                           " holding the commit lock"));
        });
  }
  Answer(/*ends_transaction=*/false);
}

void CommitStreamServer::Stream::FinishTransaction() {
  TransactionState& state = *state_;
  // Without a successful vote ZEO's tpc_finish answers None: empty tid.
  if (state.prepared == nullptr) {
    Answer(/*ends_transaction=*/true);
    return;
  }
  // Finish is bounded by the backends' timeouts; cancelling it now would
  // report a committed transaction as failed.
  state.watchdog.reset();
  if (!BeginWorkOrEnd()) return;
  service_->commits_->FinishThen(
      std::move(state.prepared),
      [this, server = server_](
          absl::StatusOr<CommitCoordinator::Committed> committed) {
        if (!committed.ok()) {
          End(ToGrpc(committed.status()));
        } else {
          service_->stats_.Commit();
          if (service_->options_.commit_observer) {
            service_->options_.commit_observer(absl::Now() -
                                               state_->vote_started);
          }
          EndActive(/*aborted=*/false);
          response_.set_tid(committed->tid);
          if (committed->info.is_dict()) {
            response_.set_info_pickle(zeo::EncodePickle(committed->info));
          }
          Answer(/*ends_transaction=*/true);
          committed->watchers.Notify();  // after the answer: see Committed
        }
        // Through a copy: the answer may have ended and deleted the stream.
        server->registry_.EndWork();
      });
}

void CommitStreamServer::Stream::AbortTransaction() {
  TransactionState& state = *state_;
  state.watchdog.reset();
  if (state.prepared == nullptr) {
    EndActive(/*aborted=*/true);
    Answer(/*ends_transaction=*/true);
    return;
  }
  if (!BeginWorkOrEnd()) return;
  // Aborting waits for the backends: on a helper thread.
  service_->commits_->AbortThen(std::move(state.prepared),
                                [this, server = server_] {
                                  EndActive(/*aborted=*/true);
                                  Answer(/*ends_transaction=*/true);
                                  // Through a copy: the answer may have ended
                                  // and deleted the stream.
                                  server->registry_.EndWork();
                                });
}

void CommitStreamServer::Stream::Answer(bool ends_transaction) {
  if (ends_transaction) {
    // The transaction is over: the stream may carry the translator's next
    // one (a new Begin).
    EndActive(/*aborted=*/true);  // a Finish without a vote, if any
    state_ = std::make_unique<TransactionState>();
    response_.set_stream_reusable(true);
  }
  server_->registry_.StartOp([this] { io.Write(response_, &write_op); });
}

bool CommitStreamServer::Stream::BeginWorkOrEnd() {
  if (server_->registry_.BeginWork()) return true;
  End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "raidcore is stopping"));
  return false;
}

void CommitStreamServer::Stream::End(grpc::Status status) {
  state_->watchdog.reset();
  if (state_->prepared != nullptr && !server_->registry_.BeginWork()) {
    // Stopping: nothing may run after the queue is drained, so the abort
    // runs here.
    service_->commits_->Abort(std::move(state_->prepared));
  }
  if (state_->prepared != nullptr) {
    service_->commits_->AbortThen(
        std::move(state_->prepared),
        [this, server = server_, status = std::move(status)] {
          EndActive(/*aborted=*/true);
          FinishStream(status);
          // Through a copy: the answer may have ended and deleted the stream.
          server->registry_.EndWork();
        });
    return;
  }
  // A client that vanished mid-transaction is aborted, as ZEO does when its
  // connection is lost.
  EndActive(/*aborted=*/true);
  FinishStream(status);
}

void CommitStreamServer::Stream::FinishStream(const grpc::Status& status) {
  // When stopping, the stream is deleted with the server instead.
  server_->registry_.StartOp(
      [this, &status] { io.Finish(status, &finish_op); });
}

void CommitStreamServer::Stream::EndActive(bool aborted) {
  if (!state_->active) return;
  state_->active = false;
  if (aborted) service_->stats_.Abort();
  service_->stats_.End();
}

}  // namespace zeoraid::raidcore
