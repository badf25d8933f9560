// ByteBudget: a bound on the bytes that many connections may hold at once
// (e.g. the translator's partly received frames), shared by all of them.
#ifndef ZEORAID_NET_BYTE_BUDGET_H_
#define ZEORAID_NET_BYTE_BUDGET_H_

#include <cstddef>
#include <utility>

#include "absl/time/time.h"
#include "base/mutex.h"

namespace zeoraid::net {

class ByteBudget {
 public:
  explicit ByteBudget(size_t limit) : limit_(limit) {}
  ByteBudget(const ByteBudget&) = delete;
  ByteBudget& operator=(const ByteBudget&) = delete;

  // Takes `bytes`, waiting until `deadline` for others to give some back;
  // false if they could not be had by then (nothing taken). A request larger
  // than the whole budget never succeeds.
  bool Acquire(size_t bytes, absl::Time deadline) {
    if (bytes > limit_) return false;
    MutexLock lock(&mu_);
    while (limit_ - used_ < bytes) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      cv_.WaitUntil(&mu_, CondVar::DeadlineAfter(left));
    }
    used_ += bytes;
    return true;
  }

  void Release(size_t bytes) {
    if (bytes == 0) return;
    {
      MutexLock lock(&mu_);
      used_ -= bytes;
    }
    cv_.SignalAll();
  }

  size_t limit() const { return limit_; }
  size_t used() const {
    MutexLock lock(&mu_);
    return used_;
  }

 private:
  const size_t limit_;
  mutable Mutex mu_;
  CondVar cv_;
  size_t used_ ABSL_GUARDED_BY(mu_) = 0;  // invariant: used_ <= limit_
};

// Bytes held from a ByteBudget, given back on destruction. Movable.
class BudgetHold {
 public:
  BudgetHold() = default;
  BudgetHold(ByteBudget* budget, size_t bytes)
      : budget_(budget), bytes_(bytes) {}
  ~BudgetHold() { Reset(); }
  BudgetHold(BudgetHold&& other) noexcept
      : budget_(std::exchange(other.budget_, nullptr)),
        bytes_(std::exchange(other.bytes_, 0)) {}
  BudgetHold& operator=(BudgetHold&& other) noexcept {
    if (this != &other) {
      Reset();
      budget_ = std::exchange(other.budget_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  // Adds bytes taken from the same budget.
  void Add(ByteBudget* budget, size_t bytes) {
    budget_ = budget;
    bytes_ += bytes;
  }
  void Reset() {
    if (budget_ != nullptr) budget_->Release(bytes_);
    budget_ = nullptr;
    bytes_ = 0;
  }
  size_t bytes() const { return bytes_; }

 private:
  ByteBudget* budget_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_BYTE_BUDGET_H_
