// InvalidationFanout: one WatchInvalidations stream from raidcore per
// translator, turned into invalidateTransaction callbacks for every registered
// client connection (except the one that committed), in tid order.
//
// It also keeps the ZEO ordering rules (zeo-protocol.md 10.5) across the two
// paths a client sees — replies from RPCs and invalidations from the watch:
//  * a reply that reflects the state at snapshot S is written only after every
//    invalidation up to S (WaitProcessed), and is re-read if a later
//    invalidation was already written to that client
//    (ClientSink::WriteAtSnapshot);
//  * a committer's tpc_finish reply for T is written after T's invalidation
//    went to every other connection and before any invalidation after T
//    reaches it: whichever of the fan-out (at T) and the committer's session
//    (with raidcore's answer) comes second writes it (ReachedOwnCommit).
// If the watch breaks, every client is disconnected: they reconnect and verify
// their caches with getInvalidations, exactly as after a ZEO server restart.
#ifndef ZEORAID_TRANSLATOR_INVALIDATION_FANOUT_H_
#define ZEORAID_TRANSLATOR_INVALIDATION_FANOUT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "base/mutex.h"
#include "translator/object_cache.h"
#include "translator/oid_reserve.h"
#include "translator/recent_changes.h"
#include "zeo/value.h"
#include "zeoraid/v1/storage.grpc.pb.h"

namespace zeoraid::translator {

// What the fan-out needs from a client connection.
class ClientSink {
 public:
  virtual ~ClientSink() = default;
  virtual uint64_t connection_id() const = 0;
  // Writes invalidateTransaction(tid, oids) and records tid as delivered.
  virtual void DeliverInvalidation(const std::string& tid,
                                   const std::vector<std::string>& oids) = 0;
  // Writes info(stats): new storage statistics ({length, size}).
  virtual void DeliverInfo(const zeo::Value& stats) = 0;
  // The fan-out reached `tid`, this connection's own transaction: every
  // other connection has its invalidation. Writes the tpc_finish reply if the
  // session left it waiting, else waits until the session wrote it; false on
  // timeout. Whichever of the two comes second writes the reply, so neither
  // thread wakes the other just for that.
  virtual bool ReachedOwnCommit(const std::string& tid,
                                absl::Duration timeout) = 0;
  // Closes the connection (the client will reconnect).
  virtual void Disconnect(const std::string& reason) = 0;
};

class InvalidationFanout {
 public:
  // `cache_bytes` bounds the record cache shared by the clients (0: none).
  // `oid_reserve`: the oid reserve's low water (0: no reserve).
  InvalidationFanout(v1::Storage::Stub* stub, std::string translator_id,
                     uint64_t cache_bytes = 0, size_t oid_reserve = 100);
  ~InvalidationFanout();

  void Start();
  void Stop();

  // Adds a connection; returns the tid up to which invalidations are already
  // processed (the connection gets everything after it).
  std::string Add(std::shared_ptr<ClientSink> sink);
  void Remove(uint64_t connection_id);

  // Waits until every invalidation up to `tid` was written to every connection.
  // False on timeout or while the watch is down.
  bool WaitProcessed(const std::string& tid, absl::Duration timeout);
  const std::string& translator_id() const { return translator_id_; }
  // Registered client connections (ZEO's server_status "connections").
  size_t connections() const;
  // The transactions processed lately (for loads racing invalidations).
  const RecentChanges& recent_changes() const { return recent_changes_; }
  // The record cache, kept coherent here: each transaction's invalidation is
  // applied to it before any client can see that transaction.
  ObjectCache& cache() { return cache_; }
  // New oids for the clients; cleared whenever the watch begins anew (raidcore
  // may have restarted).
  OidReserve& oid_reserve() { return oid_reserve_; }
  const ObjectCache& cache() const { return cache_; }

 private:
  void Run();
  // Processes one watch stream until it breaks.
  void WatchOnce();
  void DisconnectAll(const std::string& reason);

  v1::Storage::Stub* const stub_;
  const std::string translator_id_;
  std::thread thread_;
  RecentChanges recent_changes_{/*capacity=*/4096};
  ObjectCache cache_;
  OidReserve oid_reserve_;

  mutable Mutex mu_;
  CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool healthy_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t processed_ ABSL_GUARDED_BY(mu_) = 0;  // tid, as a number
  uint64_t reached_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::shared_ptr<ClientSink>> sinks_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_INVALIDATION_FANOUT_H_
