#include "translator/commit_stream.h"

#include <utility>

namespace zeoraid::translator {

bool CommitStream::Send(v1::CommitRequest request) {
  batch_bytes_ += request.ByteSizeLong();
  const bool blob_chunk = request.has_blob_chunk();
  *batch_.mutable_batch()->add_requests() = std::move(request);
  if (batch_bytes_ >= kMaxBatchBytes ||
      (!blob_chunk && batch_bytes_ >= kEarlyBatchBytes)) {
    Flush(/*last=*/false);
  }
  return !broken_;
}

CommitStreamPool::~CommitStreamPool() {
  MutexLock lock(&mu_);
  for (auto& idle : idle_) End(idle.get());
}

std::unique_ptr<IdleCommitStream> CommitStreamPool::Take() {
  MutexLock lock(&mu_);
  if (idle_.empty()) return nullptr;
  std::unique_ptr<IdleCommitStream> idle = std::move(idle_.back());
  idle_.pop_back();
  return idle;
}

void CommitStreamPool::Return(std::unique_ptr<IdleCommitStream> idle) {
  {
    MutexLock lock(&mu_);
    if (idle_.size() < max_idle_) {
      idle_.push_back(std::move(idle));
      return;
    }
  }
  End(idle.get());
}

void CommitStreamPool::End(IdleCommitStream* idle) {
  idle->stream->WritesDone();
  idle->stream->Finish();
}

void CommitStream::Open() {
  // A transaction lives as long as the client takes: no deadline on the
  // stream; raidcore bounds the time it holds its lock. The call's headers
  // go out with the first message.
  context_ = std::make_unique<grpc::ClientContext>();
  context_->set_initial_metadata_corked(true);
  stream_ = stub_->Commit(context_.get());
}

bool CommitStream::Flush(bool last) {
  if (broken_ || batch_.batch().requests().empty()) return !broken_;
  if (stream_ == nullptr && pool_ != nullptr) {
    if (std::unique_ptr<IdleCommitStream> idle = pool_->Take()) {
      context_ = std::move(idle->context);
      stream_ = std::move(idle->stream);
      reused_ = true;
    }
  }
  if (stream_ == nullptr) Open();
  grpc::WriteOptions options;
  // Half-closed with the last message (Close then needs no WritesDone),
  // unless the stream may be kept for another transaction.
  if (last && pool_ == nullptr) {
    options.set_last_message();
    half_closed_ = true;
  }
  bool ok = stream_->Write(batch_, options);
  if (!ok && reused_ && !written_) {
    // The kept stream died while idle (raidcore restarted): this
    // transaction had sent nothing on it yet, so it starts on a new one.
    context_->TryCancel();
    stream_->Finish();
    reused_ = false;
    Open();
    ok = stream_->Write(batch_, options);
  }
  written_ = true;
  if (!ok) broken_ = true;
  batch_.Clear();
  batch_bytes_ = 0;
  return !broken_;
}

grpc::Status CommitStream::Ask(v1::CommitRequest request,
                               v1::CommitResponse* response) {
  // A call after the stream ended (a client that goes on after an error)
  // gets the same answer again.
  if (finished_) return final_;
  // Finish and Abort are the transaction's last words.
  const bool last = request.has_finish() || request.has_abort();
  Send(std::move(request));
  if (Flush(last) && stream_->Read(response)) {
    reusable_ = last && pool_ != nullptr && response->stream_reusable();
    return grpc::Status::OK;
  }
  if (stream_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "transaction stream not open");
  }
  return End();
}

grpc::Status CommitStream::End() {
  if (finished_) return final_;
  broken_ = true;
  // Not cancelled first: raidcore's own status says why it ended the stream
  // (a call out of order is INVALID_ARGUMENT, not "unavailable"). Anything
  // still unread is dropped so that Finish can complete.
  v1::CommitResponse unread;
  while (stream_->Read(&unread)) {
  }
  grpc::Status status = stream_->Finish();
  finished_ = true;
  if (status.ok()) {
    status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "raidcore ended the transaction stream");
  }
  final_ = status;
  return final_;
}

void CommitStream::Close() {
  if (broken_ || finished_ || stream_ == nullptr) return;
  if (reusable_) {
    auto idle = std::make_unique<IdleCommitStream>();
    idle->context = std::move(context_);
    idle->stream = std::move(stream_);
    finished_ = true;
    pool_->Return(std::move(idle));
    return;
  }
  if (!half_closed_) stream_->WritesDone();
  stream_->Finish();
  finished_ = true;
}

void CommitStream::Cancel() {
  if (stream_ == nullptr || finished_) return;
  context_->TryCancel();
  stream_->Finish();
  finished_ = true;
}

}  // namespace zeoraid::translator
