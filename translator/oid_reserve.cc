#include "translator/oid_reserve.h"

#include <algorithm>
#include <utility>

namespace zeoraid::translator {

std::optional<std::vector<std::string>> OidReserve::Take(size_t count) {
  MutexLock lock(&mu_);
  if (count == 0 || oids_.size() < count) return std::nullopt;
  std::vector<std::string> out(std::make_move_iterator(oids_.begin()),
                               std::make_move_iterator(oids_.begin() + count));
  oids_.erase(oids_.begin(), oids_.begin() + count);
  return out;
}

std::optional<OidReserve::Refill> OidReserve::StartRefill(bool even_if_full) {
  MutexLock lock(&mu_);
  if (refilling_ || (!even_if_full && oids_.size() >= low_water_)) {
    return std::nullopt;
  }
  refilling_ = true;
  return Refill{generation_};
}

void OidReserve::Put(const Refill& refill, std::vector<std::string> oids) {
  MutexLock lock(&mu_);
  if (refill.generation != generation_) return;  // cleared meanwhile
  refilling_ = false;
  for (std::string& oid : oids) oids_.push_back(std::move(oid));
  refilled_.SignalAll();
}

void OidReserve::AwaitRefill(absl::Duration timeout) {
  const auto deadline = CondVar::DeadlineAfter(timeout);
  MutexLock lock(&mu_);
  while (refilling_) {
    if (!refilled_.WaitUntil(&mu_, deadline)) return;
  }
}

void OidReserve::Abandon(const Refill& refill) {
  MutexLock lock(&mu_);
  if (refill.generation == generation_) refilling_ = false;
  refilled_.SignalAll();
}

void OidReserve::Clear() {
  MutexLock lock(&mu_);
  oids_.clear();
  refilling_ = false;
  ++generation_;
  refilled_.SignalAll();
}

size_t OidReserve::RefillCount(size_t step, size_t max) const {
  const size_t held = size();
  size_t wanted = held < 2 * low_water_ ? 2 * low_water_ - held : 0;
  wanted = (wanted + step - 1) / step * step;
  return std::clamp(wanted, step, max);
}

size_t OidReserve::size() const {
  MutexLock lock(&mu_);
  return oids_.size();
}

}  // namespace zeoraid::translator
