// Prometheus metrics over HTTP (`GET /metrics`, the text format), served by
// prometheus-cpp's Exposer on a process's --metrics_listen address.
//
// Values that already live elsewhere (a RAID's state, counters kept for
// server_status) are read when Prometheus scrapes: a PullCollector calls its
// function then, so nothing has to be kept twice. Event metrics (latency
// histograms, per-method counters) use prometheus-cpp's own thread-safe
// families in a Registry.
#ifndef ZEORAID_BASE_METRICS_H_
#define ZEORAID_BASE_METRICS_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/metric_family.h"

namespace zeoraid::metrics {

// The release, as zeoraid_build_info's version label.
inline constexpr char kVersion[] = "0.1.0-dev";

// Collects by calling `collect` at each scrape (on the HTTP server's thread).
class PullCollector final : public prometheus::Collectable {
 public:
  explicit PullCollector(
      std::function<std::vector<prometheus::MetricFamily>()> collect)
      : collect_(std::move(collect)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return collect_();
  }

 private:
  const std::function<std::vector<prometheus::MetricFamily>()> collect_;
};

using Labels = std::vector<std::pair<std::string, std::string>>;

prometheus::MetricFamily Gauge(std::string name, std::string help);
prometheus::MetricFamily Counter(std::string name, std::string help);
// Appends one sample (a gauge's or a counter's, by the family's type).
void Add(prometheus::MetricFamily* family, double value, Labels labels = {});

// Starts the HTTP server on `listen` (HOST:PORT; port 0 picks a free one)
// serving every collectable at /metrics. The collectables must outlive it.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> Serve(
    const std::string& listen,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);

}  // namespace zeoraid::metrics

#endif  // ZEORAID_BASE_METRICS_H_
