// Throttle: the recovery job's rate limit, a token bucket for bytes and one
// for transactions (as md's sync_speed_max or DRBD's resync rate), changed
// while running. A rate of 0 is unlimited. The bucket starts empty and holds
// at most one second of tokens, so a pause buys no burst longer than that.
#ifndef ZEORAID_RAIDCORE_RECOVERY_THROTTLE_H_
#define ZEORAID_RAIDCORE_RECOVERY_THROTTLE_H_

#include "absl/time/time.h"
#include "base/mutex.h"

namespace zeoraid::raidcore {

struct RecoveryRate {
  double bytes_per_second = 0;         // 0 = unlimited
  double transactions_per_second = 0;  // 0 = unlimited
};

class Throttle {
 public:
  explicit Throttle(RecoveryRate rate = {});

  void SetRate(RecoveryRate rate);
  RecoveryRate rate() const;

  // Takes one transaction of `bytes` and returns how long the caller must wait
  // before copying it (zero when within the limits). Debt is allowed: a
  // transaction larger than a second's worth of bytes is copied, and the
  // following ones wait until the average is back under the limit.
  absl::Duration Take(double bytes, absl::Time now);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;
    // Adds what accrued since `last` at `rate`, caps at one second's worth,
    // takes `amount`, and returns the wait until the balance is back at 0.
    absl::Duration Take(double amount, double rate, absl::Time now);
  };

  mutable Mutex mu_;
  RecoveryRate rate_ ABSL_GUARDED_BY(mu_);
  Bucket bytes_ ABSL_GUARDED_BY(mu_);
  Bucket transactions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_RECOVERY_THROTTLE_H_
