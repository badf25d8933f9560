// InvalidationHub: publishes every committed transaction (tid, oids, origin) to
// the translators watching raidcore, in tid order, and keeps a bounded queue of
// recent transactions to answer getInvalidations for reconnecting clients
// (ZEO's invalidation-queue-size).
#ifndef ZEORAID_RAIDCORE_COMMIT_INVALIDATION_HUB_H_
#define ZEORAID_RAIDCORE_COMMIT_INVALIDATION_HUB_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/mutex.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

// A committed transaction, or (with an empty tid) new storage statistics after
// a pack, which every client is told about.
struct InvalidationEvent {
  std::string tid;
  zeo::Value info;  // {length, size}, or None
  std::vector<std::string> oids;
  // Objects the transaction changed without announcing it to ZEO clients
  // (deleted or restored, as ZEO does not invalidate those): record caches
  // drop them; clients are not told.
  std::vector<std::string> silent_oids;
  std::string origin_translator;
  uint64_t origin_connection = 0;
  // With an empty tid: the origin connection is to be closed, for this reason.
  std::string disconnect_reason;
};

struct InvalidationsSince {
  std::string latest_tid;
  std::vector<std::string> oids;  // union, sorted, unique
};

class InvalidationHub {
 public:
  // One watcher's queue. A watcher that falls more than `max_backlog` events
  // behind is cut off (Next returns false for good): its translator must
  // reconnect and its clients re-verify, rather than raidcore buffering without
  // bound.
  class Subscription {
   public:
    // Waits up to `timeout` for the next event. Returns false when there is
    // none yet (check closed()) or the subscription was cut off.
    bool Next(InvalidationEvent* event, absl::Duration timeout);
    // Next without waiting.
    bool TryNext(InvalidationEvent* event);
    bool closed() const;
    // raidcore's last published tid when the subscription started.
    const std::string& start_tid() const { return start_tid_; }

   private:
    friend class InvalidationHub;
    Subscription(std::string start_tid, size_t max_backlog,
                 std::function<void()> on_event)
        : start_tid_(std::move(start_tid)),
          max_backlog_(max_backlog),
          on_event_(std::move(on_event)) {}
    void Push(const InvalidationEvent& event);
    // Takes the front event; false when closed or empty.
    bool PopLocked(InvalidationEvent* event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
    // Runs on_event_ unless Close ran.
    void Notify();
    // Also waits for a Notify in progress: none runs after it returns.
    void Close();

    const std::string start_tid_;
    const size_t max_backlog_;
    // Told after each Push (the event queued, or the subscription cut off),
    // on the publishing thread, with no lock of the hub's held.
    const std::function<void()> on_event_;
    mutable Mutex mu_;
    CondVar cv_;
    std::deque<InvalidationEvent> queue_ ABSL_GUARDED_BY(mu_);
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
    // Held while on_event_ runs. Ordered before the watcher's own locks,
    // which on_event_ takes, and before mu_.
    Mutex notify_mu_ ABSL_ACQUIRED_BEFORE(mu_);
    bool detached_ ABSL_GUARDED_BY(notify_mu_) = false;
  };

  // Tells the watchers of a published event (their listeners) when it is
  // destroyed, or at Notify. Unused, it does so at the end of the Publish
  // statement; a publisher that holds the commit lock keeps it until the
  // lock is released, so that no watcher's write happens under that lock.
  class Delivery {
   public:
    Delivery() = default;
    Delivery(Delivery&&) = default;
    Delivery& operator=(Delivery&&) = delete;
    ~Delivery() { Notify(); }
    void Notify();

   private:
    friend class InvalidationHub;
    explicit Delivery(std::vector<std::shared_ptr<Subscription>> told)
        : told_(std::move(told)) {}
    std::vector<std::shared_ptr<Subscription>> told_;
  };

  InvalidationHub(std::string last_tid, size_t recent_capacity,
                  size_t max_backlog);

  // Replaces the start-up queue (just the start tid) with `recent`, oldest
  // first, ending at the start tid (see ReadRecentTransactions), keeping the
  // newest `recent_capacity`. Returns false, changing nothing, when `recent`
  // does not end at the start tid or something was published already.
  bool Prefill(std::vector<InvalidationEvent> recent);

  // Start-up decided late (raidcore waited for its backends): the queue
  // restarts at `last_tid`, as if constructed with it. Returns false,
  // changing nothing, once a transaction was published.
  bool Restart(const std::string& last_tid);

  // A new watcher, at the last published tid. `on_event`, when given, runs on
  // the publishing thread after each event queued for it (or its cut-off),
  // once the event's Delivery goes, with no lock of the hub's held: a
  // watcher that does not wait in Next takes the event with TryNext. It must
  // be quick and must not Unsubscribe (which waits for it).
  std::shared_ptr<Subscription> Subscribe(
      std::function<void()> on_event = nullptr);
  void Unsubscribe(const std::shared_ptr<Subscription>& subscription);
  // Queues the event for every watcher (Next sees it at once); listeners are
  // told through the Delivery. REQUIRES: tids strictly increase between
  // calls (the commit lock ensures it).
  Delivery Publish(const InvalidationEvent& event);
  // Tells every watcher about new storage statistics (not a transaction).
  void PublishInfo(const zeo::Value& info);
  // Tells the translator of a client connection to close it (its transaction
  // timed out), as a ZEO server closes such a connection.
  void PublishDisconnect(const std::string& translator, uint64_t connection,
                         const std::string& reason);

  // ZEO getInvalidations(tid): nullopt when `tid` is older than the recent
  // queue.
  std::optional<InvalidationsSince> Since(const std::string& tid) const;
  // How many transactions committed after `tid` (a backend's lag); nullopt
  // when `tid` is older than the recent queue.
  std::optional<uint64_t> CountSince(const std::string& tid) const;
  std::string last_tid() const;

 private:
  // Queues `event` for every watcher; returns them, to be notified once mu_
  // is released.
  std::vector<std::shared_ptr<Subscription>> PushLocked(
      const InvalidationEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // PushLocked under mu_, for events that are not transactions.
  Delivery Queue(const InvalidationEvent& event);

  const size_t recent_capacity_;
  const size_t max_backlog_;
  mutable Mutex mu_;
  std::string last_tid_ ABSL_GUARDED_BY(mu_);
  // Oldest first. The oldest is the floor, as in ZEO's invalidation queue:
  // every transaction after it is here, and a client at an older tid gets None.
  std::deque<InvalidationEvent> recent_ ABSL_GUARDED_BY(mu_);
  std::set<std::shared_ptr<Subscription>> subscribers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_COMMIT_INVALIDATION_HUB_H_
