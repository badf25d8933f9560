#include "raidcore/recovery/throttle.h"

#include <algorithm>

namespace zeoraid::raidcore {

Throttle::Throttle(RecoveryRate rate) : rate_(rate) {}

void Throttle::SetRate(RecoveryRate rate) {
  MutexLock lock(&mu_);
  rate_ = rate;
  // A new rate starts from an empty bucket: neither old debt nor old credit
  // carries over.
  bytes_ = Bucket();
  transactions_ = Bucket();
}

RecoveryRate Throttle::rate() const {
  MutexLock lock(&mu_);
  return rate_;
}

absl::Duration Throttle::Bucket::Take(double amount, double rate,
                                      absl::Time now) {
  if (rate <= 0) return absl::ZeroDuration();
  if (last == absl::Time()) {
    // The first take starts from an empty bucket: a new job gets no burst,
    // so its rate is the limit from the start.
    tokens = 0;
  } else {
    tokens += rate * absl::ToDoubleSeconds(now - last);
  }
  tokens = std::min(tokens, rate);
  last = now;
  tokens -= amount;
  if (tokens >= 0) return absl::ZeroDuration();
  return absl::Seconds(-tokens / rate);
}

absl::Duration Throttle::Take(double bytes, absl::Time now) {
  MutexLock lock(&mu_);
  absl::Duration by_bytes = bytes_.Take(bytes, rate_.bytes_per_second, now);
  absl::Duration by_count =
      transactions_.Take(1, rate_.transactions_per_second, now);
  return std::max(by_bytes, by_count);
}

}  // namespace zeoraid::raidcore
