#include "raidcore/commit/invalidation_hub.h"

#include <algorithm>
#include <chrono>
#include <iterator>

#include "base/logging.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidToUint64;

bool InvalidationHub::Subscription::Next(InvalidationEvent* event,
                                         absl::Duration timeout) {
  auto deadline = CondVar::DeadlineAfter(timeout);
  MutexLock lock(&mu_);
  while (queue_.empty() && !closed_) {
    if (!cv_.WaitUntil(&mu_, deadline)) break;
  }
  return PopLocked(event);
}

bool InvalidationHub::Subscription::TryNext(InvalidationEvent* event) {
  MutexLock lock(&mu_);
  return PopLocked(event);
}

bool InvalidationHub::Subscription::PopLocked(InvalidationEvent* event) {
  if (closed_ || queue_.empty()) return false;
  *event = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

void InvalidationHub::Subscription::Notify() {
  if (!on_event_) return;
  MutexLock lock(&notify_mu_);
  if (!detached_) on_event_();
}

bool InvalidationHub::Subscription::closed() const {
  MutexLock lock(&mu_);
  return closed_;
}

void InvalidationHub::Subscription::Push(const InvalidationEvent& event) {
  {
    MutexLock lock(&mu_);
    if (closed_) return;
    if (queue_.size() >= max_backlog_) {
      ZR_LOG(WARNING) << "invalidation watcher fell " << queue_.size()
                      << " transactions behind; cutting it off";
      closed_ = true;
      queue_.clear();
    } else {
      queue_.push_back(event);
    }
  }
  cv_.SignalAll();
}

void InvalidationHub::Subscription::Close() {
  {
    MutexLock lock(&mu_);
    closed_ = true;
  }
  cv_.SignalAll();
  MutexLock lock(&notify_mu_);
  detached_ = true;
}

InvalidationHub::InvalidationHub(std::string last_tid, size_t recent_capacity,
                                 size_t max_backlog)
    : recent_capacity_(recent_capacity),
      max_backlog_(max_backlog),
      last_tid_(last_tid) {
  if (last_tid != zeo::kZeroTid) {
    InvalidationEvent start;
    start.tid = std::move(last_tid);
    recent_.push_back(std::move(start));
  }
}

bool InvalidationHub::Prefill(std::vector<InvalidationEvent> recent) {
  MutexLock lock(&mu_);
  if (recent.empty() || recent.back().tid != last_tid_ || recent_.size() != 1 ||
      recent_.front().tid != last_tid_) {
    return false;
  }
  const size_t skip =
      recent.size() > recent_capacity_ ? recent.size() - recent_capacity_ : 0;
  recent_.assign(std::make_move_iterator(recent.begin() + skip),
                 std::make_move_iterator(recent.end()));
  return true;
}

bool InvalidationHub::Restart(const std::string& last_tid) {
  MutexLock lock(&mu_);
  const bool untouched =
      recent_.empty() ? last_tid_ == zeo::kZeroTid
                      : recent_.size() == 1 && recent_.front().tid == last_tid_;
  if (!untouched) return false;
  last_tid_ = last_tid;
  recent_.clear();
  if (last_tid != zeo::kZeroTid) {
    InvalidationEvent start;
    start.tid = last_tid;
    recent_.push_back(std::move(start));
  }
  return true;
}

std::shared_ptr<InvalidationHub::Subscription> InvalidationHub::Subscribe(
    std::function<void()> on_event) {
  MutexLock lock(&mu_);
  std::shared_ptr<Subscription> sub(
      new Subscription(last_tid_, max_backlog_, std::move(on_event)));
  subscribers_.insert(sub);
  return sub;
}

void InvalidationHub::Unsubscribe(
    const std::shared_ptr<Subscription>& subscription) {
  subscription->Close();
  MutexLock lock(&mu_);
  subscribers_.erase(subscription);
}

void InvalidationHub::Delivery::Notify() {
  std::vector<std::shared_ptr<Subscription>> told;
  told.swap(told_);
  for (const auto& sub : told) sub->Notify();
}

InvalidationHub::Delivery InvalidationHub::Publish(
    const InvalidationEvent& event) {
  MutexLock lock(&mu_);
  last_tid_ = event.tid;
  recent_.push_back(event);
  while (recent_.size() > recent_capacity_) recent_.pop_front();
  return Delivery(PushLocked(event));
}

std::vector<std::shared_ptr<InvalidationHub::Subscription>>
InvalidationHub::PushLocked(const InvalidationEvent& event) {
  std::vector<std::shared_ptr<Subscription>> told;
  told.reserve(subscribers_.size());
  for (const auto& sub : subscribers_) {
    sub->Push(event);
    told.push_back(sub);
  }
  return told;
}

InvalidationHub::Delivery InvalidationHub::Queue(
    const InvalidationEvent& event) {
  MutexLock lock(&mu_);
  return Delivery(PushLocked(event));
}

void InvalidationHub::PublishInfo(const zeo::Value& info) {
  InvalidationEvent event;
  event.info = info;
  Queue(event);  // its Delivery tells the watchers, mu_ released
}

void InvalidationHub::PublishDisconnect(const std::string& translator,
                                        uint64_t connection,
                                        const std::string& reason) {
  InvalidationEvent event;
  event.origin_translator = translator;
  event.origin_connection = connection;
  event.disconnect_reason = reason;
  Queue(event);  // its Delivery tells the watchers, mu_ released
}

std::optional<InvalidationsSince> InvalidationHub::Since(
    const std::string& tid) const {
  MutexLock lock(&mu_);
  if (recent_.empty() || TidToUint64(recent_.front().tid) > TidToUint64(tid)) {
    return std::nullopt;
  }
  InvalidationsSince out;
  out.latest_tid = last_tid_;
  for (const InvalidationEvent& e : recent_) {
    if (TidToUint64(e.tid) > TidToUint64(tid)) {
      out.oids.insert(out.oids.end(), e.oids.begin(), e.oids.end());
    }
  }
  std::sort(out.oids.begin(), out.oids.end());
  out.oids.erase(std::unique(out.oids.begin(), out.oids.end()), out.oids.end());
  return out;
}

std::optional<uint64_t> InvalidationHub::CountSince(
    const std::string& tid) const {
  MutexLock lock(&mu_);
  if (TidToUint64(tid) >= TidToUint64(last_tid_)) return 0;
  if (recent_.empty() || TidToUint64(recent_.front().tid) > TidToUint64(tid)) {
    return std::nullopt;
  }
  uint64_t n = 0;
  for (const InvalidationEvent& e : recent_) {
    if (TidToUint64(e.tid) > TidToUint64(tid)) ++n;
  }
  return n;
}

std::string InvalidationHub::last_tid() const {
  MutexLock lock(&mu_);
  return last_tid_;
}

}  // namespace zeoraid::raidcore
