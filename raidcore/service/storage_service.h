// StorageService: zeoraid.v1.Storage, the data path translators use. A thin
// layer: it turns RPCs into ZEO calls through ReadRouter (reads) and
// CommitCoordinator (transactions) and back; RAID decisions live in those
// classes.
#ifndef ZEORAID_RAIDCORE_SERVICE_STORAGE_SERVICE_H_
#define ZEORAID_RAIDCORE_SERVICE_STORAGE_SERVICE_H_

#include <functional>
#include <optional>
#include <string>

#include "base/alarm_thread.h"
#include "raidcore/commit/commit_coordinator.h"
#include "raidcore/commit/invalidation_hub.h"
#include "raidcore/read/iterator_registry.h"
#include "raidcore/read/oid_allocator.h"
#include "raidcore/read/read_router.h"
#include "raidcore/service/server_stats.h"
#include "zeoraid/v1/storage.grpc.pb.h"

namespace zeoraid::raidcore {

struct StorageServiceOptions {
  std::string storage_name = "1";
  // Longest time a transaction may hold the commit lock waiting for its Finish.
  absl::Duration commit_lock_timeout = absl::Seconds(30);
  // pack runs for as long as the largest backend needs.
  absl::Duration pack_timeout = absl::Hours(1);
  // ZEO's invalidation-age: a getInvalidations(tid) older than the queue but
  // younger than this is answered from a backend's iterator. 0 = off.
  absl::Duration invalidation_age;
  // Each call of that iteration.
  absl::Duration read_timeout = absl::Seconds(30);
  // Where blobs are spooled ("" = $TMPDIR, else /tmp), and the records of a
  // transaction beyond `transaction_memory_bytes` (as ZEO spools a
  // transaction's stores to a temporary file).
  std::string spool_dir;
  size_t transaction_memory_bytes = 64u << 20;
  // A transaction may ask for its own tid (tpc_begin with a tid: copies,
  // restores) at most this far ahead of the clock: every later tid must be
  // past it. Zero: no bound.
  absl::Duration max_tid_ahead = absl::Hours(1);
  // A transaction whose calls come in several messages goes to the backends
  // before its vote (CommitCoordinator::SendEarly).
  bool send_early = true;
  // Told how long each committed transaction took from its vote to the end
  // of tpc_finish (metrics); may be empty.
  std::function<void(absl::Duration)> commit_observer;
};

// LoadBeforeStream, Commit and WatchInvalidations are served asynchronously
// (see load_stream.h, commit_stream.h, watch_stream.h); every other method by
// gRPC's synchronous server.
using StorageServiceBase = zeoraid::v1::Storage::WithAsyncMethod_Commit<
    zeoraid::v1::Storage::WithAsyncMethod_LoadBeforeStream<
        zeoraid::v1::Storage::WithAsyncMethod_WatchInvalidations<
            zeoraid::v1::Storage::Service>>>;

class StorageService final : public StorageServiceBase {
 public:
  StorageService(StorageServiceOptions options, BackendSet* backends,
                 ReadRouter* reads, OidAllocator* oids,
                 IteratorRegistry* iterators, CommitCoordinator* commits,
                 CommitClock* clock, InvalidationHub* hub);

  grpc::Status Register(grpc::ServerContext* context,
                        const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context,
                       const v1::GetInfoRequest* request,
                       v1::PickledResponse* response) override;
  grpc::Status LastTransaction(grpc::ServerContext* context,
                               const v1::LastTransactionRequest* request,
                               v1::LastTransactionResponse* response) override;
  grpc::Status LoadBefore(grpc::ServerContext* context,
                          const v1::LoadBeforeRequest* request,
                          v1::LoadBeforeResponse* response) override;
  // LoadBefore without blocking: `done` runs with what LoadBefore would
  // return, usually on the backend connection's reader thread (see
  // ReadRouter::ReadAtSnapshotThen), so it must be quick.
  using LoadDone = std::function<void(grpc::Status, v1::LoadBeforeResponse)>;
  void LoadBeforeThen(const v1::LoadBeforeRequest& request, LoadDone done);
  grpc::Status LoadBlob(
      grpc::ServerContext* context, const v1::LoadBlobRequest* request,
      grpc::ServerWriter<v1::LoadBlobResponse>* writer) override;
  grpc::Status LoadSerial(grpc::ServerContext* context,
                          const v1::LoadSerialRequest* request,
                          v1::LoadSerialResponse* response) override;
  grpc::Status NewOids(grpc::ServerContext* context,
                       const v1::NewOidsRequest* request,
                       v1::NewOidsResponse* response) override;
  grpc::Status History(grpc::ServerContext* context,
                       const v1::HistoryRequest* request,
                       v1::PickledResponse* response) override;
  grpc::Status GetInvalidations(
      grpc::ServerContext* context, const v1::GetInvalidationsRequest* request,
      v1::GetInvalidationsResponse* response) override;
  grpc::Status Pack(grpc::ServerContext* context,
                    const v1::PackRequest* request,
                    v1::PackResponse* response) override;
  grpc::Status UndoLog(grpc::ServerContext* context,
                       const v1::UndoLogRequest* request,
                       v1::PickledResponse* response) override;
  grpc::Status Iterate(grpc::ServerContext* context,
                       const v1::IterateRequest* request,
                       v1::PickledResponse* response) override;
  grpc::Status RecordIternext(grpc::ServerContext* context,
                              const v1::RecordIternextRequest* request,
                              v1::PickledResponse* response) override;
  grpc::Status GetTid(grpc::ServerContext* context,
                      const v1::GetTidRequest* request,
                      v1::PickledResponse* response) override;
  grpc::Status ServerStatus(grpc::ServerContext* context,
                            const v1::ServerStatusRequest* request,
                            v1::PickledResponse* response) override;

 private:
  friend class CommitStreamServer;
  // getInvalidations beyond the queue (invalidation-age): the oids of the
  // transactions after `tid` up to the last published one, from a backend's
  // iterator; nullopt when that is not possible.
  std::optional<InvalidationsSince> InvalidationsByIteration(
      const std::string& tid);

  const StorageServiceOptions options_;
  BackendSet* const backends_;
  ReadRouter* const reads_;
  OidAllocator* const oids_;
  IteratorRegistry* const iterators_;
  CommitCoordinator* const commits_;
  CommitClock* const clock_;
  InvalidationHub* const hub_;
  ServerStats stats_;

 public:
  // The server_status counters (for metrics).
  const ServerStats& stats() const { return stats_; }
  // Runs the commit-lock watchdogs of the transactions.
  AlarmThread alarms_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_STORAGE_SERVICE_H_
