#include "translator/object_cache.h"

#include <algorithm>

namespace zeoraid::translator {

uint64_t ObjectCache::Cost(const std::string& oid, const Revision& revision) {
  // The data, the oid, and roughly what the containers cost per revision.
  return revision.data->size() + oid.size() + 96;
}

std::optional<ObjectCache::Hit> ObjectCache::LoadBefore(const std::string& oid,
                                                        uint64_t before) {
  MutexLock lock(&mu_);
  // A snapshot after last_tid_ may hold transactions the cache has not seen.
  if (max_bytes_ == 0 || !on_ || before == 0 || before - 1 > last_tid_) {
    ++stats_.misses;
    return std::nullopt;
  }
  auto it = entries_.find(oid);
  if (it != entries_.end()) {
    for (const Revision& r : it->second.revisions) {
      if (r.start < before && (r.end == 0 || before <= r.end)) {
        ++stats_.hits;
        lru_.splice(lru_.end(), lru_, it->second.lru);
        return Hit{r.data, r.start, r.end, last_tid_};
      }
    }
  }
  ++stats_.misses;
  return std::nullopt;
}

void ObjectCache::Invalidate(uint64_t tid,
                             const std::vector<std::string>& oids) {
  MutexLock lock(&mu_);
  if (!on_) return;  // off until the stream is back
  for (const std::string& oid : oids) {
    auto it = entries_.find(oid);
    if (it == entries_.end()) continue;
    std::vector<Revision>& revisions = it->second.revisions;
    for (auto r = revisions.begin(); r != revisions.end();) {
      if (r->end == 0 && r->start >= tid) {
        // Cannot happen while the invariants hold; never serve it.
        stats_.bytes -= Cost(oid, *r);
        --stats_.records;
        r = revisions.erase(r);
        continue;
      }
      if (r->end == 0) r->end = tid;
      ++r;
    }
    if (revisions.empty()) EraseLocked(it);
  }
  last_tid_ = std::max(last_tid_, tid);
}

void ObjectCache::Reset(uint64_t tid) {
  MutexLock lock(&mu_);
  ClearLocked();
  on_ = true;
  last_tid_ = tid;
}

void ObjectCache::Disable() {
  MutexLock lock(&mu_);
  ClearLocked();
  on_ = false;
}

void ObjectCache::ClearLocked() {
  entries_.clear();
  lru_.clear();
  stats_.bytes = 0;
  stats_.records = 0;
}

void ObjectCache::StoreLoaded(const std::string& oid, std::string data,
                              uint64_t start, uint64_t end, uint64_t snapshot) {
  MutexLock lock(&mu_);
  if (max_bytes_ == 0 || !on_ || snapshot > last_tid_ || start > snapshot ||
      (end != 0 && (end <= start || end > snapshot))) {
    return;
  }
  if (end == 0 && snapshot < last_tid_ &&
      recent_->ChangedBetween(oid, snapshot, last_tid_) !=
          RecentChanges::Answer::kUnchanged) {
    return;  // it may have been replaced since it was read
  }
  InsertLocked(oid,
               Revision{start, end,
                        std::make_shared<const std::string>(std::move(data))});
}

void ObjectCache::StoreCommitted(
    uint64_t tid,
    const std::vector<std::pair<std::string, std::string>>& records) {
  MutexLock lock(&mu_);
  if (max_bytes_ == 0 || !on_ || tid != last_tid_) return;
  for (const auto& [oid, data] : records) {
    InsertLocked(oid,
                 Revision{tid, 0, std::make_shared<const std::string>(data)});
  }
}

void ObjectCache::InsertLocked(const std::string& oid, Revision revision) {
  auto [it, inserted] = entries_.try_emplace(oid);
  Entry& entry = it->second;
  if (inserted) {
    entry.lru = lru_.insert(lru_.end(), oid);
  } else {
    lru_.splice(lru_.end(), lru_, entry.lru);
  }
  std::vector<Revision>& revisions = entry.revisions;
  for (auto r = revisions.begin(); r != revisions.end();) {
    // One revision per start; one current revision per oid.
    if (r->start == revision.start || (revision.end == 0 && r->end == 0)) {
      stats_.bytes -= Cost(oid, *r);
      --stats_.records;
      r = revisions.erase(r);
    } else {
      ++r;
    }
  }
  stats_.bytes += Cost(oid, revision);
  ++stats_.records;
  auto pos =
      std::find_if(revisions.begin(), revisions.end(),
                   [&](const Revision& r) { return r.start < revision.start; });
  revisions.insert(pos, std::move(revision));
  while (revisions.size() > kMaxRevisionsPerOid + 1) {
    stats_.bytes -= Cost(oid, revisions.back());
    --stats_.records;
    revisions.pop_back();  // the oldest
  }
  EvictLocked();
}

void ObjectCache::EraseLocked(
    std::unordered_map<std::string, Entry>::iterator it) {
  for (const Revision& r : it->second.revisions) {
    stats_.bytes -= Cost(it->first, r);
    --stats_.records;
  }
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

void ObjectCache::EvictLocked() {
  while (stats_.bytes > max_bytes_ && !lru_.empty()) {
    auto it = entries_.find(lru_.front());
    stats_.evictions += it->second.revisions.size();
    EraseLocked(it);
  }
}

ObjectCache::Stats ObjectCache::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

uint64_t ObjectCache::last_tid() const {
  MutexLock lock(&mu_);
  return last_tid_;
}

}  // namespace zeoraid::translator
