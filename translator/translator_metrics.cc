#include "translator/translator_metrics.h"

#include <utility>
#include <vector>

#include "translator/invalidation_fanout.h"
#include "translator/zeo_methods.h"

namespace zeoraid::translator {

namespace {

// Seconds: a cached load takes microseconds, a commit milliseconds, a pack
// minutes.
prometheus::Histogram::BucketBoundaries CallBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};
}

}  // namespace

TranslatorMetrics::TranslatorMetrics()
    : registry_(std::make_shared<prometheus::Registry>()) {
  auto& calls = prometheus::BuildCounter()
                    .Name("zeoraid_translator_calls_total")
                    .Help("ZEO calls received from clients, by method.")
                    .Register(*registry_);
  auto& durations =
      prometheus::BuildHistogram()
          .Name("zeoraid_translator_call_duration_seconds")
          .Help(
              "Time from reading a ZEO call to having answered it (a "
              "one-way call: to having handled it), by method.")
          .Register(*registry_);
  // ZEO's methods, the handshake's register, and "other" for anything else.
  auto add = [&](const char* m) {
    methods_[m] = {&calls.Add({{"method", m}}),
                   &durations.Add({{"method", m}}, CallBuckets())};
  };
  for (const char* m : kZeoServerMethods) add(m);
  add("register");
  add("other");
  auto& errors = prometheus::BuildCounter()
                     .Name("zeoraid_translator_errors_total")
                     .Help(
                         "Calls that went wrong, by kind: zeo_error (the "
                         "client got a ZEO error), raidcore (raidcore "
                         "unreachable or failing), protocol (a bad call "
                         "closed the connection).")
                     .Register(*registry_);
  errors_[0] = &errors.Add({{"kind", "zeo_error"}});
  errors_[1] = &errors.Add({{"kind", "raidcore"}});
  errors_[2] = &errors.Add({{"kind", "protocol"}});
  received_ = &prometheus::BuildCounter()
                   .Name("zeoraid_translator_received_bytes_total")
                   .Help("Bytes of ZEO frames received from clients.")
                   .Register(*registry_)
                   .Add({});
  sent_ = &prometheus::BuildCounter()
               .Name("zeoraid_translator_sent_bytes_total")
               .Help("Bytes of ZEO frames sent to clients.")
               .Register(*registry_)
               .Add({});
  invalidations_ =
      &prometheus::BuildCounter()
           .Name("zeoraid_translator_invalidations_sent_total")
           .Help("invalidateTransaction callbacks sent to clients.")
           .Register(*registry_)
           .Add({});
  refused_ = &prometheus::BuildCounter()
                  .Name("zeoraid_translator_connections_refused_total")
                  .Help(
                      "Client connections closed at accept because "
                      "--max_connections clients were connected.")
                  .Register(*registry_)
                  .Add({});
  parked_ = &prometheus::BuildGauge()
                 .Name("zeoraid_translator_parked_connections")
                 .Help(
                     "Idle client connections watched by the shared idle "
                     "thread instead of a thread of their own "
                     "(--park_idle_after).")
                 .Register(*registry_)
                 .Add({});
  auto& cuts =
      prometheus::BuildCounter()
          .Name("zeoraid_translator_clients_cut_total")
          .Help(
              "Client connections the translator closed for how they used "
              "them, by reason: handshake_timeout (no register in time), "
              "read_stall (stopped mid-frame), frame_budget (the shared "
              "frame budget stayed exhausted), write_stall (stopped reading).")
          .Register(*registry_);
  cuts_[0] = &cuts.Add({{"reason", "handshake_timeout"}});
  cuts_[1] = &cuts.Add({{"reason", "read_stall"}});
  cuts_[2] = &cuts.Add({{"reason", "frame_budget"}});
  cuts_[3] = &cuts.Add({{"reason", "write_stall"}});
}

void TranslatorMetrics::ObserveCall(const std::string& method,
                                    absl::Duration duration) {
  auto it = methods_.find(method);
  if (it == methods_.end()) it = methods_.find("other");
  it->second.calls->Increment();
  it->second.duration->Observe(absl::ToDoubleSeconds(duration));
}

void TranslatorMetrics::CountError(ErrorKind kind) {
  errors_[static_cast<int>(kind)]->Increment();
}

absl::Status TranslatorMetrics::Serve(const std::string& listen,
                                      const InvalidationFanout* fanout) {
  pull_ = std::make_shared<metrics::PullCollector>([fanout] {
    std::vector<prometheus::MetricFamily> out;
    prometheus::MetricFamily build = metrics::Gauge(
        "zeoraid_build_info", "Always 1; the labels say what runs.");
    metrics::Add(&build, 1,
                 {{"version", metrics::kVersion}, {"component", "translator"}});
    out.push_back(std::move(build));
    prometheus::MetricFamily connections =
        metrics::Gauge("zeoraid_translator_client_connections",
                       "ZEO client connections registered.");
    metrics::Add(&connections, static_cast<double>(fanout->connections()));
    out.push_back(std::move(connections));
    // The record cache (--cache_mb).
    const ObjectCache::Stats cache = fanout->cache().stats();
    auto counter = [&](const char* name, const char* help, uint64_t v) {
      prometheus::MetricFamily f = metrics::Counter(name, help);
      metrics::Add(&f, static_cast<double>(v));
      out.push_back(std::move(f));
    };
    counter("zeoraid_translator_cache_hits_total",
            "loadBefore calls answered from the record cache.", cache.hits);
    counter("zeoraid_translator_cache_misses_total",
            "loadBefore calls the record cache could not answer.",
            cache.misses);
    counter("zeoraid_translator_cache_evictions_total",
            "Revisions evicted from the record cache for room.",
            cache.evictions);
    prometheus::MetricFamily bytes =
        metrics::Gauge("zeoraid_translator_cache_bytes",
                       "Bytes the record cache holds (data and bookkeeping).");
    metrics::Add(&bytes, static_cast<double>(cache.bytes));
    out.push_back(std::move(bytes));
    return out;
  });
  absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
      metrics::Serve(listen, {registry_, pull_});
  if (!exposer.ok()) return exposer.status();
  exposer_ = std::move(*exposer);
  return absl::OkStatus();
}

}  // namespace zeoraid::translator
