// RecentChanges: which oids the last transactions changed, as the translator's
// invalidation fan-out saw them, so that a "current" load answered at an older
// snapshot than its client has caught up with is re-read only when that oid
// really changed in between (ZEO's order: a client never caches a revision
// older than an invalidation it already processed).
#ifndef ZEORAID_TRANSLATOR_RECENT_CHANGES_H_
#define ZEORAID_TRANSLATOR_RECENT_CHANGES_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "base/mutex.h"

namespace zeoraid::translator {

class RecentChanges {
 public:
  enum class Answer { kUnchanged, kChanged, kUnknown };

  explicit RecentChanges(size_t capacity) : capacity_(capacity) {}

  // Forgets everything; transactions after `tid` follow (a new watch stream).
  void Reset(uint64_t tid);
  // Records transaction `tid`, newer than any before (and than Reset's tid).
  void Add(uint64_t tid, std::vector<std::string> oids);

  // Whether a transaction in (after, upto] changed `oid`; kUnknown when that
  // range is not wholly known (older than the oldest kept, or not reached
  // yet).
  Answer ChangedBetween(const std::string& oid, uint64_t after,
                        uint64_t upto) const;

 private:
  struct Transaction {
    uint64_t tid;
    std::vector<std::string> oids;  // sorted
  };

  const size_t capacity_;
  // A leaf lock: nothing is called while holding it.
  mutable Mutex mu_;
  // Every transaction in (floor_, newest] is in `transactions_`, oldest first.
  uint64_t floor_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;
  std::deque<Transaction> transactions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_RECENT_CHANGES_H_
