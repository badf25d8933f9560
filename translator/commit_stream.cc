#include "translator/commit_stream.h"

#include <utility>

namespace zeoraid::translator {

bool CommitStream::Send(v1::CommitRequest request) {
  batch_bytes_ += request.ByteSizeLong();
  *batch_.mutable_batch()->add_requests() = std::move(request);
  if (batch_bytes_ >= kMaxBatchBytes) Flush(/*last=*/false);
  return !broken_;
}

bool CommitStream::Flush(bool last) {
  if (broken_ || batch_.batch().requests().empty()) return !broken_;
  if (stream_ == nullptr) {
    // A transaction lives as long as the client takes: no deadline on the
    // stream; raidcore bounds the time it holds its lock. The call's headers
    // go out with the first message.
    context_ = std::make_unique<grpc::ClientContext>();
    context_->set_initial_metadata_corked(true);
    stream_ = stub_->Commit(context_.get());
  }
  grpc::WriteOptions options;
  if (last) {
    // Half-closed with the message: Close needs no WritesDone.
    options.set_last_message();
    half_closed_ = true;
  }
  if (!stream_->Write(batch_, options)) broken_ = true;
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
  if (Flush(last) && stream_->Read(response)) return grpc::Status::OK;
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
