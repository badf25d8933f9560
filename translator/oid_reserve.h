// OidReserve: new oids a translator holds for its clients, so that a
// client's new_oids is answered at once instead of by a round trip to
// raidcore and raidcore's to a backend (a client adding 1,000 objects asks
// ten times). A ZEO client keeps the oids it prefetched the same way
// (ClientStorage._oids). The session that answered from the reserve, or
// found it low, refills it after writing its reply, so the refill is off
// the client's path.
//
// Oids reach the reserve from one fetch at a time, and a client whose
// request the reserve cannot cover waits for the fetch under way or makes
// the next one: so every client gets ascending oids, as from one ZEO server
// (raidcore hands them out in ascending order).
//
// Cleared when raidcore may have restarted (the translator's invalidation
// watch began anew): a new raidcore knows nothing of the oids handed out
// before, and a backend that restarted too could hand them out again.
//
// Thread-safe.
#ifndef ZEORAID_TRANSLATOR_OID_RESERVE_H_
#define ZEORAID_TRANSLATOR_OID_RESERVE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/mutex.h"

namespace zeoraid::translator {

class OidReserve {
 public:
  // Refilled when it holds fewer than `low_water` oids, up to twice that.
  explicit OidReserve(size_t low_water = 100) : low_water_(low_water) {}

  // `count` oids in the order they were handed out, or nullopt (and none
  // taken) when the reserve holds fewer.
  std::optional<std::vector<std::string>> Take(size_t count);

  // A refill, when the reserve is low (or `even_if_full`) and nobody is
  // refilling it: the caller asks raidcore for oids and ends it with Put or
  // Abandon.
  struct Refill {
    uint64_t generation = 0;
  };
  std::optional<Refill> StartRefill(bool even_if_full = false);
  // Waits (at most `timeout`) until no refill is under way.
  void AwaitRefill(absl::Duration timeout);
  // Adds `oids` (in order), unless the reserve was cleared since `refill`
  // started: those may be from a raidcore that is gone.
  void Put(const Refill& refill, std::vector<std::string> oids);
  void Abandon(const Refill& refill);

  void Clear();
  size_t size() const;
  // How many oids a refill asks for: enough that the reserve then holds
  // twice its low water (one fetch serves the next low-water's worth of
  // requests), rounded up to a multiple of `step`, within [step, max].
  size_t RefillCount(size_t step, size_t max) const;
  // False with a low water of 0: no reserve (every new_oids asks raidcore).
  bool enabled() const { return low_water_ > 0; }
  size_t low_water() const { return low_water_; }

 private:
  const size_t low_water_;
  mutable Mutex mu_;
  std::deque<std::string> oids_ ABSL_GUARDED_BY(mu_);
  bool refilling_ ABSL_GUARDED_BY(mu_) = false;
  CondVar refilled_;  // signalled when a refill ends
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // Clear counts up
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_OID_RESERVE_H_
