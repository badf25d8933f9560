// TranslatorMetrics: what a translator exports to Prometheus on
// --metrics_listen: ZEO calls by method with their latency, errors by kind,
// bytes in and out, invalidations sent, client connections and the record
// cache. Method labels are ZEO's method names (anything else counts as
// "other"), so the label set stays bounded whatever clients send.
#ifndef ZEORAID_TRANSLATOR_TRANSLATOR_METRICS_H_
#define ZEORAID_TRANSLATOR_TRANSLATOR_METRICS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace zeoraid::translator {

class InvalidationFanout;

class TranslatorMetrics {
 public:
  // Why a call went wrong: a ZEO error the client receives (POSKeyError,
  // ConflictError…), raidcore unreachable or failing, or a call so wrong
  // that the connection was closed.
  enum class ErrorKind { kZeoError, kRaidcore, kProtocol };

  TranslatorMetrics();

  // Thread-safe, lock-free after construction.
  void ObserveCall(const std::string& method, absl::Duration duration);
  void CountError(ErrorKind kind);
  void CountReceived(size_t bytes) { received_->Increment(bytes); }
  void CountSent(size_t bytes) { sent_->Increment(bytes); }
  void CountInvalidation() { invalidations_->Increment(); }
  // A connection closed at accept: the --max_connections cap was reached.
  void CountRefusedConnection() { refused_->Increment(); }
  // An idle connection gave up its thread, or got one back.
  void ConnectionParked() { parked_->Increment(); }
  void ConnectionUnparked() { parked_->Decrement(); }
  // Why the translator cut a client off for how it used its connection.
  enum class CutReason {
    kHandshakeTimeout,  // no register within the handshake timeout
    kReadStall,         // stopped sending in the middle of a frame
    kFrameBudget,       // the shared frame budget stayed exhausted
    kWriteStall,        // stopped reading what the translator sends
  };
  void CountCut(CutReason reason) {
    cuts_[static_cast<int>(reason)]->Increment();
  }

  // Serves /metrics on `listen` (HOST:PORT); `fanout` (connections, cache)
  // must outlive it.
  absl::Status Serve(const std::string& listen,
                     const InvalidationFanout* fanout);
  // Stops serving: before the fan-out goes away.
  void Stop() { exposer_.reset(); }

 private:
  struct Method {
    prometheus::Counter* calls;
    prometheus::Histogram* duration;
  };

  std::shared_ptr<prometheus::Registry> registry_;
  std::map<std::string, Method> methods_;  // fixed after construction
  prometheus::Counter* errors_[3] = {};
  prometheus::Counter* received_ = nullptr;
  prometheus::Counter* sent_ = nullptr;
  prometheus::Counter* invalidations_ = nullptr;
  prometheus::Counter* refused_ = nullptr;
  prometheus::Gauge* parked_ = nullptr;
  prometheus::Counter* cuts_[4] = {};
  std::shared_ptr<metrics::PullCollector> pull_;
  std::unique_ptr<prometheus::Exposer> exposer_;  // last: stops first
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_TRANSLATOR_METRICS_H_
