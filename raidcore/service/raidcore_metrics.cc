#include "raidcore/service/raidcore_metrics.h"

#include <utility>
#include <vector>

#include "zeo/tid.h"

namespace zeoraid::raidcore {

namespace {

// Seconds, from a local commit (a few ms) to a lock held by a slow backend.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
}

// An RPC's outcome and duration, told to RaidcoreMetrics when its status goes
// out.
class RpcInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcInterceptor(RaidcoreMetrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(absl::Now()) {}
  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->ObserveRpc(method_, methods->GetSendStatus().error_code(),
                           absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  RaidcoreMetrics* const metrics_;
  const std::string method_;
  const absl::Time start_;
};

class RpcInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcInterceptorFactory(RaidcoreMetrics* metrics)
      : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcInterceptor(metrics_, info->method());
  }

 private:
  RaidcoreMetrics* const metrics_;
};

}  // namespace

RaidcoreMetrics::RaidcoreMetrics(bool exported)
    : exported_(exported), registry_(std::make_shared<prometheus::Registry>()) {
  lock_wait_ = &prometheus::BuildHistogram()
                    .Name("zeoraid_commit_lock_wait_seconds")
                    .Help("Time a vote waited for raidcore's commit lock.")
                    .Register(*registry_)
                    .Add({}, LatencyBuckets());
  commit_duration_ =
      &prometheus::BuildHistogram()
           .Name("zeoraid_commit_duration_seconds")
           .Help(
               "Two-phase commits from the vote to the end of tpc_finish on "
               "every mirror (committed transactions).")
           .Register(*registry_)
           .Add({}, LatencyBuckets());
  backend_calls_ = &prometheus::BuildCounter()
                        .Name("zeoraid_backend_calls_total")
                        .Help(
                            "Synchronous ZEO calls raidcore made to each "
                            "backend, by method.")
                        .Register(*registry_);
  backend_errors_ =
      &prometheus::BuildCounter()
           .Name("zeoraid_backend_call_errors_total")
           .Help(
               "Backend calls that got no answer (transport error or "
               "timeout), by backend and method.")
           .Register(*registry_);
  backend_latency_ = &prometheus::BuildHistogram()
                          .Name("zeoraid_backend_call_duration_seconds")
                          .Help("Backend call latency, by backend and method.")
                          .Register(*registry_);
  rpcs_ = &prometheus::BuildCounter()
               .Name("zeoraid_rpcs_total")
               .Help("gRPC calls raidcore served, by method and status code.")
               .Register(*registry_);
  rpc_latency_ = &prometheus::BuildHistogram()
                      .Name("zeoraid_rpc_duration_seconds")
                      .Help(
                          "gRPC call duration (a stream: its whole life), by "
                          "method.")
                      .Register(*registry_);
}

void RaidcoreMetrics::ObserveBackendCall(const std::string& backend,
                                         const std::string& method,
                                         absl::Duration duration, bool failed) {
  {
    MutexLock lock(&counts_mu_);
    CallCounts& counts = call_counts_[backend];
    ++counts.calls;
    if (failed) ++counts.errors;
  }
  if (!exported_) return;
  const prometheus::Labels labels = {{"backend", backend}, {"method", method}};
  backend_calls_->Add(labels).Increment();
  // The error series exists from the first call on (at 0), so that rate()
  // over it works before the first error.
  prometheus::Counter& errors = backend_errors_->Add(labels);
  if (failed) errors.Increment();
  backend_latency_->Add(labels, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(duration));
}

RaidcoreMetrics::CallCounts RaidcoreMetrics::BackendCallCounts(
    const std::string& backend) const {
  MutexLock lock(&counts_mu_);
  auto it = call_counts_.find(backend);
  return it == call_counts_.end() ? CallCounts() : it->second;
}

void RaidcoreMetrics::ObserveRpc(const std::string& method, int code,
                                 absl::Duration duration) {
  rpcs_->Add({{"method", method}, {"code", std::to_string(code)}}).Increment();
  rpc_latency_->Add({{"method", method}}, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(duration));
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RaidcoreMetrics::RpcInterceptorFactory() {
  return std::make_unique<zeoraid::raidcore::RpcInterceptorFactory>(this);
}

absl::Status RaidcoreMetrics::Serve(const std::string& listen,
                                    Sources sources) {
  pull_ = std::make_shared<metrics::PullCollector>(
      [this, sources] { return Collect(sources); });
  absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
      metrics::Serve(listen, {registry_, pull_});
  if (!exposer.ok()) return exposer.status();
  exposer_ = std::move(*exposer);
  return absl::OkStatus();
}

std::vector<prometheus::MetricFamily> RaidcoreMetrics::Collect(
    const Sources& s) const {
  std::vector<prometheus::MetricFamily> out;

  prometheus::MetricFamily build = metrics::Gauge(
      "zeoraid_build_info", "Always 1; the labels say which raidcore runs.");
  metrics::Add(&build, 1,
               {{"version", metrics::kVersion}, {"component", "raidcore"}});
  out.push_back(std::move(build));

  const RaidState raid = s.backends->raid_state();
  prometheus::MetricFamily raid_state = metrics::Gauge(
      "zeoraid_raid_state",
      "1 for the RAID's state (optimal, degraded, failed), 0 for the others.");
  for (RaidState st :
       {RaidState::kOptimal, RaidState::kDegraded, RaidState::kFailed}) {
    metrics::Add(&raid_state, st == raid ? 1 : 0,
                 {{"state", RaidStateName(st)}});
  }
  out.push_back(std::move(raid_state));

  prometheus::MetricFamily backend_state = metrics::Gauge(
      "zeoraid_backend_state",
      "1 for each backend's state (optimal, degraded, recovering, disabled), "
      "0 for the others.");
  for (const BackendStatus& b : s.backends->Status()) {
    for (BackendState st :
         {BackendState::kOptimal, BackendState::kDegraded,
          BackendState::kRecovering, BackendState::kDisabled}) {
      metrics::Add(&backend_state, st == b.state ? 1 : 0,
                   {{"backend", b.name}, {"state", BackendStateName(st)}});
    }
  }
  out.push_back(std::move(backend_state));

  prometheus::MetricFamily degradations = metrics::Counter(
      "zeoraid_degradations_total",
      "Times a backend left optimal, by kind (transport: it failed or stalled; "
      "disagreed: its answer differed from the others'; diverged; cancelled).");
  for (const BackendSet::DegradationCount& d : s.backends->Degradations()) {
    metrics::Add(&degradations, static_cast<double>(d.count),
                 {{"backend", d.name}, {"kind", DegradeKindName(d.kind)}});
  }
  out.push_back(std::move(degradations));

  const ServerStats::Counts counts = s.storage->stats().counts();
  auto counter = [&](const char* name, const char* help, int64_t value) {
    prometheus::MetricFamily f = metrics::Counter(name, help);
    metrics::Add(&f, static_cast<double>(value));
    out.push_back(std::move(f));
  };
  counter("zeoraid_commits_total", "Transactions committed.", counts.commits);
  counter("zeoraid_aborts_total", "Transactions aborted by their client.",
          counts.aborts);
  counter("zeoraid_conflicts_total", "Votes answered with a ConflictError.",
          counts.conflicts);
  counter("zeoraid_loads_total", "loadBefore calls raidcore served.",
          counts.loads);
  counter("zeoraid_stores_total",
          "Records stored (storea, restorea, deleteObject, blobs).",
          counts.stores);
  if (s.commits != nullptr) {
    const CommitCoordinator::EarlyCounts early = s.commits->early_counts();
    prometheus::MetricFamily f = metrics::Counter(
        "zeoraid_early_transactions_total",
        "Big transactions whose stores went to the backends before their "
        "vote (started), and those whose vote could use them (voted; the "
        "others were aborted on the backends and sent again at their vote).");
    metrics::Add(&f, static_cast<double>(early.started),
                 {{"outcome", "started"}});
    metrics::Add(&f, static_cast<double>(early.voted), {{"outcome", "voted"}});
    out.push_back(std::move(f));
  }
  prometheus::MetricFamily active = metrics::Gauge(
      "zeoraid_active_transactions", "Transactions begun and not ended.");
  metrics::Add(&active, static_cast<double>(counts.active_txns));
  out.push_back(std::move(active));

  const std::string last = s.clock->last_tid();
  if (last != zeo::kZeroTid) {
    prometheus::MetricFamily age = metrics::Gauge(
        "zeoraid_last_commit_age_seconds",
        "Seconds since the time of the last committed transaction's tid.");
    metrics::Add(&age,
                 absl::ToDoubleSeconds(absl::Now() - zeo::TidToTime(last)));
    out.push_back(std::move(age));
  }

  const RecoveryManager::Copied copied = s.recovery->copied();
  counter("zeoraid_recovery_transactions_total",
          "Transactions recovery copied to rebuilt backends.",
          static_cast<int64_t>(copied.transactions));
  counter("zeoraid_recovery_bytes_total",
          "Bytes (records, metadata, blobs) recovery copied.",
          static_cast<int64_t>(copied.bytes));
  std::optional<RecoveryProgress> progress = s.recovery->progress();
  const bool running = progress.has_value() && progress->phase != "done" &&
                       progress->phase != "failed" &&
                       progress->phase != "cancelled";
  prometheus::MetricFamily recovering = metrics::Gauge(
      "zeoraid_recovery_running", "1 while a backend is being recovered.");
  metrics::Add(&recovering, running ? 1 : 0);
  out.push_back(std::move(recovering));
  prometheus::MetricFamily remaining = metrics::Gauge(
      "zeoraid_recovery_remaining_transactions",
      "Transactions the running recovery still has to copy (estimate).");
  metrics::Add(
      &remaining,
      running ? static_cast<double>(progress->transactions_estimated) : 0);
  out.push_back(std::move(remaining));
  prometheus::MetricFamily rate =
      metrics::Gauge("zeoraid_recovery_rate_bytes_per_second",
                     "The running recovery's copy rate.");
  metrics::Add(&rate, running ? progress->bytes_per_second : 0);
  out.push_back(std::move(rate));
  return out;
}

}  // namespace zeoraid::raidcore
