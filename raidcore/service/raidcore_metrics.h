// RaidcoreMetrics: what raidcore exports to Prometheus on --metrics_listen.
//
// State that raidcore keeps anyway (the RAID's and each backend's state, the
// server_status counters, recovery progress, the last tid) is read at scrape
// time; latencies are observed as they happen (histograms). Names follow
// Prometheus' conventions: zeoraid_ prefix, base units, _total for counters,
// label sets bounded by the configured backends.
#ifndef ZEORAID_RAIDCORE_SERVICE_RAIDCORE_METRICS_H_
#define ZEORAID_RAIDCORE_SERVICE_RAIDCORE_METRICS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/commit/commit_coordinator.h"
#include "raidcore/recovery/recovery_manager.h"
#include "raidcore/service/storage_service.h"

namespace zeoraid::raidcore {

class RaidcoreMetrics {
 public:
  // `exported`: the metrics will be served (--metrics_listen). Otherwise the
  // per-call families are not kept: that would only cost every backend call a
  // few lookups for nobody.
  explicit RaidcoreMetrics(bool exported);

  // Thread-safe; cheap enough for every commit.
  void ObserveLockWait(absl::Duration wait) {
    lock_wait_->Observe(absl::ToDoubleSeconds(wait));
  }
  void ObserveCommit(absl::Duration duration) {
    commit_duration_->Observe(absl::ToDoubleSeconds(duration));
  }
  // A synchronous ZEO call raidcore made to a backend; `failed`: no answer
  // (transport error or timeout; a ZEO error is an answer).
  void ObserveBackendCall(const std::string& backend, const std::string& method,
                          absl::Duration duration, bool failed);
  // Calls and failed calls (no answer) to `backend` so far (Admin Details).
  struct CallCounts {
    uint64_t calls = 0;
    uint64_t errors = 0;
  };
  CallCounts BackendCallCounts(const std::string& backend) const;
  // An RPC raidcore served, by full method name and gRPC status code.
  void ObserveRpc(const std::string& method, int code, absl::Duration duration);
  // Counts every RPC of the server it is given to (ServerBuilder's
  // experimental().SetInterceptorCreators); this object must outlive it.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  RpcInterceptorFactory();

  // What the scrape reads; each must outlive the server.
  struct Sources {
    const BackendSet* backends = nullptr;
    const StorageService* storage = nullptr;
    const RecoveryManager* recovery = nullptr;
    const CommitClock* clock = nullptr;
    const CommitCoordinator* commits = nullptr;  // may be null
  };
  // Serves /metrics on `listen` (HOST:PORT) until destroyed.
  absl::Status Serve(const std::string& listen, Sources sources);
  // Stops serving: before the sources go away.
  void Stop() { exposer_.reset(); }

 private:
  std::vector<prometheus::MetricFamily> Collect(const Sources& s) const;

  const bool exported_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Histogram* lock_wait_ = nullptr;
  prometheus::Histogram* commit_duration_ = nullptr;
  prometheus::Family<prometheus::Counter>* backend_calls_ = nullptr;
  prometheus::Family<prometheus::Counter>* backend_errors_ = nullptr;
  prometheus::Family<prometheus::Histogram>* backend_latency_ = nullptr;
  prometheus::Family<prometheus::Counter>* rpcs_ = nullptr;
  prometheus::Family<prometheus::Histogram>* rpc_latency_ = nullptr;
  std::shared_ptr<metrics::PullCollector> pull_;
  mutable Mutex counts_mu_;
  std::map<std::string, CallCounts> call_counts_ ABSL_GUARDED_BY(counts_mu_);
  std::unique_ptr<prometheus::Exposer> exposer_;  // last: stops first
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_RAIDCORE_METRICS_H_
