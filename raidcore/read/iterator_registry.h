// IteratorRegistry: storage iterators (iterator_start/next,
// iterator_record_start/ next, iterator_gc) served through the RAID.
//
// A ZEO iterator lives on one server connection, so each one is pinned to the
// backend that started it; raidcore hands out its own ids (unique across all
// translators) and remembers which backend iterator each stands for. A finished
// iterator is forgotten; abandoned ones are dropped by iterator_gc, or the
// oldest when there are too many.
#ifndef ZEORAID_RAIDCORE_READ_ITERATOR_REGISTRY_H_
#define ZEORAID_RAIDCORE_READ_ITERATOR_REGISTRY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "raidcore/backend/backend_set.h"

namespace zeoraid::raidcore {

class IteratorRegistry {
 public:
  IteratorRegistry(BackendSet* backends, absl::Duration timeout,
                   size_t max_iterators)
      : backends_(backends), timeout_(timeout), max_iterators_(max_iterators) {}

  // iterator_start(start, stop); tids may be empty (None). Returns the id (an
  // Int).
  absl::StatusOr<ZeoReply> Start(const std::string& start,
                                 const std::string& stop);
  // iterator_next(id): a transaction tuple, or None at the end.
  absl::StatusOr<ZeoReply> Next(uint64_t id);
  // iterator_record_start(id, tid): the id of a record iterator.
  absl::StatusOr<ZeoReply> RecordStart(uint64_t id, const std::string& tid);
  // iterator_record_next(id): a record tuple, or None at the end.
  absl::StatusOr<ZeoReply> RecordNext(uint64_t id);
  void Forget(const std::vector<uint64_t>& ids);

  size_t size() const;

 private:
  struct Entry {
    BackendMember backend;
    zeo::Value backend_id;
    uint64_t last_used = 0;  // a use counter, for evicting the idlest
  };
  // Registers a backend iterator and returns our id for it.
  uint64_t Register(BackendMember backend, zeo::Value backend_id);
  absl::StatusOr<ZeoReply> CallOn(uint64_t id, absl::string_view method,
                                  zeo::Value::Items extra_args,
                                  bool forget_at_end);

  BackendSet* const backends_;
  const absl::Duration timeout_;
  const size_t max_iterators_;
  mutable Mutex mu_;
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
  uint64_t uses_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_READ_ITERATOR_REGISTRY_H_
