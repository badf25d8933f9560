// ObjectCache: the translator's record cache, shared by every ZODB process
// connected to it, so that a loadBefore of a hot record is answered without a
// round trip to raidcore and a Python backend.
//
// It is coherent because the translator sees every committed transaction in
// tid order (the invalidation watch) and because a client of this translator
// that commits tells it the records it stored. The model is ZEO's ClientCache:
// per oid, at most one *current* revision (valid from its start tid up to the
// cache's last tid, since no invalidation of that oid has arrived since) and
// *non-current* revisions with a known end tid (immutable facts: the revision
// that was current in [start, end)).
//
// Invariants (all under mu_):
//  * last_tid_ is the newest transaction whose invalidation was applied; every
//    transaction in (reset tid, last_tid_] was applied, in order.
//  * a current revision of `oid` has start <= last_tid_, and no applied
//    transaction after its start changed `oid`.
//  * a non-current revision [start, end) is what the storage held then, until
//    a pack (which drops the whole cache).
// So loadBefore(oid, before) with before <= last_tid_ + 1 is answered exactly
// as a backend would answer it at last_tid_; anything else is a miss.
#ifndef ZEORAID_TRANSLATOR_OBJECT_CACHE_H_
#define ZEORAID_TRANSLATOR_OBJECT_CACHE_H_

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "translator/recent_changes.h"

namespace zeoraid::translator {

class ObjectCache {
 public:
  struct Hit {
    std::shared_ptr<const std::string> data;
    uint64_t start = 0;
    uint64_t end = 0;  // 0: the revision is current
    // The cache's last tid when it answered: the answer reflects exactly the
    // transactions up to it.
    uint64_t snapshot = 0;
  };
  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t evictions = 0;
    uint64_t bytes = 0;  // data plus bookkeeping of the cached revisions
    uint64_t records = 0;
  };

  // `max_bytes` of 0 turns the cache off (every lookup misses). `recent` tells
  // whether an oid changed between two tids; it is a leaf lock, called with
  // mu_ held.
  ObjectCache(uint64_t max_bytes, const RecentChanges* recent)
      : max_bytes_(max_bytes), recent_(recent) {}

  // loadBefore(oid, before): the revision a backend would answer, if cached.
  std::optional<Hit> LoadBefore(const std::string& oid, uint64_t before);

  // Transaction `tid` (newer than every applied one) changed `oids`: their
  // current revisions end at `tid`.
  void Invalidate(uint64_t tid, const std::vector<std::string>& oids);
  // Forgets everything: the invalidation stream (re)starts after `tid`.
  void Reset(uint64_t tid);
  // Forgets everything and answers nothing until the next Reset (the
  // invalidation stream is down: transactions may commit unseen).
  void Disable();

  // A backend's loadBefore answer, read at `snapshot`: `end` is 0 when it was
  // current then. A current one is kept only if the oid did not change between
  // `snapshot` and the cache's last tid.
  void StoreLoaded(const std::string& oid, std::string data, uint64_t start,
                   uint64_t end, uint64_t snapshot);
  // Records a client of this translator stored in transaction `tid`, which the
  // backends committed verbatim (not resolved or undone by them). Kept as
  // current only while `tid` is the cache's last tid (its invalidation was
  // just applied and no later one).
  void StoreCommitted(
      uint64_t tid,
      const std::vector<std::pair<std::string, std::string>>& records);

  Stats stats() const;
  uint64_t last_tid() const;

 private:
  struct Revision {
    uint64_t start;
    uint64_t end;  // 0: current
    std::shared_ptr<const std::string> data;
  };
  struct Entry {
    std::vector<Revision> revisions;  // newest start first
    std::list<std::string>::iterator lru;
  };

  static uint64_t Cost(const std::string& oid, const Revision& revision);
  // Adds `revision` to `oid`'s entry (replacing a revision with the same
  // start), marks it most recently used, and evicts what exceeds the budget.
  void InsertLocked(const std::string& oid, Revision revision)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClearLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Non-current revisions kept per oid beyond the current one (ZEO keeps any
  // number; a few cover the snapshots of the clients that lag behind).
  static constexpr size_t kMaxRevisionsPerOid = 4;

  const uint64_t max_bytes_;
  const RecentChanges* const recent_;

  mutable Mutex mu_;
  bool on_ ABSL_GUARDED_BY(mu_) = false;  // between Reset and Disable
  uint64_t last_tid_ ABSL_GUARDED_BY(mu_) = 0;
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // least recent first
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_OBJECT_CACHE_H_
