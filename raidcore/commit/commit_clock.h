// CommitClock: raidcore's last committed tid plus a sequence number that is odd
// while a transaction is being finished on the backends (a seqlock).
//
// A read that saw the same even sequence before and after asking a backend
// reflects exactly the transactions up to `last_tid` — no finish overlapped it
// — which is the snapshot a translator needs to order the reply against
// invalidations. Readers never block commits; a reader that raced a finish
// simply asks again.
#ifndef ZEORAID_RAIDCORE_COMMIT_COMMIT_CLOCK_H_
#define ZEORAID_RAIDCORE_COMMIT_COMMIT_CLOCK_H_

#include <cstdint>
#include <optional>
#include <string>

#include "base/mutex.h"

namespace zeoraid::raidcore {

class CommitClock {
 public:
  struct Stamp {
    uint64_t sequence = 0;
    std::string last_tid;
  };

  explicit CommitClock(std::string last_tid) : last_tid_(std::move(last_tid)) {}

  // Waits while a finish is in progress, then returns the current stamp.
  Stamp Begin() const;
  // Begin without waiting: nothing while a finish is in progress.
  std::optional<Stamp> TryBegin() const;
  // True when no finish started or ended since `stamp` was taken.
  bool Unchanged(const Stamp& stamp) const;

  // The commit coordinator brackets the backends' tpc_finish calls with these.
  void StartFinish();
  void EndFinish(
      const std::string& committed_tid);  // empty = nothing committed

  std::string last_tid() const;

 private:
  mutable Mutex mu_;
  mutable CondVar cv_;
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_tid_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_COMMIT_COMMIT_CLOCK_H_
