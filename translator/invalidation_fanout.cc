#include "translator/invalidation_fanout.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "zeo/pickle.h"
#include "zeo/tid.h"

namespace zeoraid::translator {
namespace {

using zeo::TidFromUint64;
using zeo::TidHex;
using zeo::TidToUint64;

// How long the fan-out waits at a committer's own transaction for its
// tpc_finish reply before moving on (the reply is normally microseconds away).
constexpr absl::Duration kOwnCommitWait = absl::Seconds(10);

}  // namespace

InvalidationFanout::InvalidationFanout(v1::Storage::Stub* stub,
                                       std::string translator_id,
                                       uint64_t cache_bytes, size_t oid_reserve)
    : stub_(stub),
      translator_id_(std::move(translator_id)),
      cache_(cache_bytes, &recent_changes_),
      oid_reserve_(oid_reserve) {}

InvalidationFanout::~InvalidationFanout() { Stop(); }

void InvalidationFanout::Start() {
  thread_ = std::thread([this] { Run(); });
}

void InvalidationFanout::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

std::string InvalidationFanout::Add(std::shared_ptr<ClientSink> sink) {
  MutexLock lock(&mu_);
  sinks_[sink->connection_id()] = std::move(sink);
  // Not processed_: the transaction being fanned out right now may have copied
  // the list of connections already. Reads that could reflect it wait for
  // raidcore's clock, which moves only after it was published.
  return TidFromUint64(reached_);
}

size_t InvalidationFanout::connections() const {
  MutexLock lock(&mu_);
  return sinks_.size();
}

void InvalidationFanout::Remove(uint64_t connection_id) {
  MutexLock lock(&mu_);
  sinks_.erase(connection_id);
}

bool InvalidationFanout::WaitProcessed(const std::string& tid,
                                       absl::Duration timeout) {
  const uint64_t want = TidToUint64(tid);
  auto deadline = CondVar::DeadlineAfter(timeout);
  MutexLock lock(&mu_);
  while (healthy_ && processed_ < want) {
    if (!cv_.WaitUntil(&mu_, deadline)) break;
  }
  return healthy_ && processed_ >= want;
}

void InvalidationFanout::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (true) {
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
    }
    WatchOnce();
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      cv_.WaitUntil(&mu_, CondVar::DeadlineAfter(backoff));
    }
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

void InvalidationFanout::WatchOnce() {
  grpc::ClientContext context;
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    context_ = &context;
  }
  v1::WatchInvalidationsRequest request;
  request.set_translator(translator_id_);
  std::unique_ptr<grpc::ClientReader<v1::Invalidation>> reader =
      stub_->WatchInvalidations(&context, request);
  v1::Invalidation message;
  bool synced = false;
  while (reader->Read(&message)) {
    uint64_t tid = TidToUint64(message.tid());
    if (!synced) {
      // The sync point: raidcore's last tid when the watch began.
      synced = true;
      {
        MutexLock lock(&mu_);
        healthy_ = true;
        if (tid > processed_) processed_ = reached_ = tid;
        recent_changes_.Reset(processed_);
        // Commits may have happened while no watch was open: start empty.
        cache_.Reset(processed_);
      }
      oid_reserve_.Clear();
      cv_.SignalAll();
      ZR_LOG(INFO) << "watching raidcore invalidations from "
                   << TidHex(message.tid());
      continue;
    }
    if (message.tid().empty() && !message.disconnect_reason().empty()) {
      // raidcore aborted this client's transaction (timed out): close its
      // connection, as a ZEO server does.
      std::shared_ptr<ClientSink> sink;
      {
        MutexLock lock(&mu_);
        auto it = sinks_.find(message.origin_connection());
        if (message.origin_translator() == translator_id_ &&
            it != sinks_.end()) {
          sink = it->second;
        }
      }
      if (sink != nullptr) sink->Disconnect(message.disconnect_reason());
      continue;
    }
    if (message.tid().empty()) {  // storage statistics after a pack
      absl::StatusOr<zeo::Value> stats =
          zeo::DecodePickle(message.info_pickle());
      std::vector<std::shared_ptr<ClientSink>> all;
      {
        MutexLock lock(&mu_);
        for (const auto& [id, sink] : sinks_) all.push_back(sink);
      }
      // A pack removed old revisions and unreachable objects: what the
      // cache holds may no longer be what a backend answers.
      cache_.Reset(cache_.last_tid());
      if (stats.ok() && stats->is_dict()) {
        for (const auto& sink : all) sink->DeliverInfo(*stats);
      }
      continue;
    }
    std::vector<std::shared_ptr<ClientSink>> sinks;
    {
      MutexLock lock(&mu_);
      if (tid <= processed_) continue;  // already seen (cannot happen in order)
      for (const auto& [id, sink] : sinks_) sinks.push_back(sink);
    }
    std::vector<std::string> oids(message.oids().begin(), message.oids().end());
    // Before any client can have seen it delivered. The cache (and the
    // change log it consults) also drops what changed silently.
    std::vector<std::string> changed = oids;
    changed.insert(changed.end(), message.silent_oids().begin(),
                   message.silent_oids().end());
    recent_changes_.Add(tid, changed);
    cache_.Invalidate(tid, changed);
    // As a ZEO server: every other client gets the invalidation before the
    // committer gets its tpc_finish reply, so a client that reads right after
    // the commit returned rarely reads stale data. Then the committer's reply
    // (written here if its session has raidcore's answer already), before
    // any later invalidation.
    const bool ours = message.origin_translator() == translator_id_;
    std::shared_ptr<ClientSink> committer;
    for (const auto& sink : sinks) {
      if (ours && sink->connection_id() == message.origin_connection()) {
        committer = sink;
      } else {
        sink->DeliverInvalidation(message.tid(), oids);
      }
    }
    {
      MutexLock lock(&mu_);
      reached_ = tid;
    }
    if (committer != nullptr &&
        !committer->ReachedOwnCommit(message.tid(), kOwnCommitWait)) {
      // Later invalidations must not overtake its reply: the client
      // reconnects and verifies instead.
      committer->Disconnect("tpc_finish reply not written in time");
    }
    {
      MutexLock lock(&mu_);
      processed_ = tid;
    }
    cv_.SignalAll();
  }
  grpc::Status status = reader->Finish();
  bool stopping;
  {
    MutexLock lock(&mu_);
    context_ = nullptr;
    healthy_ = false;
    stopping = stopping_;
  }
  // Transactions may commit unseen until the next watch: the cache is off.
  cache_.Disable();
  oid_reserve_.Clear();
  cv_.SignalAll();
  if (stopping) return;
  std::string reason =
      absl::StrCat("invalidation watch lost: ", status.error_message());
  if (synced) {
    ZR_LOG(WARNING) << reason << "; disconnecting clients so they re-verify";
  } else {
    // raidcore not up (yet): the retry loop keeps trying quietly.
    ZR_LOG(DEBUG) << "cannot watch invalidations: " << status.error_message();
  }
  DisconnectAll(reason);
}

void InvalidationFanout::DisconnectAll(const std::string& reason) {
  std::map<uint64_t, std::shared_ptr<ClientSink>> sinks;
  {
    MutexLock lock(&mu_);
    sinks.swap(sinks_);
  }
  for (const auto& [id, sink] : sinks) sink->Disconnect(reason);
}

}  // namespace zeoraid::translator
