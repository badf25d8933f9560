#include "translator/recent_changes.h"

#include <algorithm>
#include <utility>

namespace zeoraid::translator {

void RecentChanges::Reset(uint64_t tid) {
  MutexLock lock(&mu_);
  floor_ = tid;
  transactions_.clear();
}

void RecentChanges::Add(uint64_t tid, std::vector<std::string> oids) {
  std::sort(oids.begin(), oids.end());
  MutexLock lock(&mu_);
  const uint64_t newest =
      transactions_.empty() ? floor_ : transactions_.back().tid;
  if (floor_ == UINT64_MAX || tid <= newest) {
    // Out of order (or before any Reset): the record would lie; start over.
    floor_ = tid;
    transactions_.clear();
    return;
  }
  transactions_.push_back({tid, std::move(oids)});
  while (transactions_.size() > capacity_) {
    floor_ = transactions_.front().tid;
    transactions_.pop_front();
  }
}

RecentChanges::Answer RecentChanges::ChangedBetween(const std::string& oid,
                                                    uint64_t after,
                                                    uint64_t upto) const {
  MutexLock lock(&mu_);
  const uint64_t newest =
      transactions_.empty() ? floor_ : transactions_.back().tid;
  if (floor_ == UINT64_MAX || after < floor_ || upto > newest) {
    return Answer::kUnknown;
  }
  // Loads race only the last few transactions: search from the newest.
  for (auto it = transactions_.rbegin();
       it != transactions_.rend() && it->tid > after; ++it) {
    if (it->tid <= upto &&
        std::binary_search(it->oids.begin(), it->oids.end(), oid)) {
      return Answer::kChanged;
    }
  }
  return Answer::kUnchanged;
}

}  // namespace zeoraid::translator
