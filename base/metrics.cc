#include "base/metrics.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace zeoraid::metrics {

prometheus::MetricFamily Gauge(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  return family;
}

prometheus::MetricFamily Counter(std::string name, std::string help) {
  prometheus::MetricFamily family = Gauge(std::move(name), std::move(help));
  family.type = prometheus::MetricType::Counter;
  return family;
}

void Add(prometheus::MetricFamily* family, double value, Labels labels) {
  prometheus::ClientMetric sample;
  for (auto& [name, label_value] : labels) {
    sample.label.push_back({std::move(name), std::move(label_value)});
  }
  if (family->type == prometheus::MetricType::Counter) {
    sample.counter.value = value;
  } else {
    sample.gauge.value = value;
  }
  family->metric.push_back(std::move(sample));
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> Serve(
    const std::string& listen,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // civetweb's listening_ports take HOST:PORT as given.
    exposer = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  for (const auto& c : collectables) exposer->RegisterCollectable(c);
  return exposer;
}

}  // namespace zeoraid::metrics
