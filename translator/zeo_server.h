// ZeoServer: accepts ZEO client connections (TCP or Unix socket) and serves
// each on its own thread with a ClientSession.
#ifndef ZEORAID_TRANSLATOR_ZEO_SERVER_H_
#define ZEORAID_TRANSLATOR_ZEO_SERVER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "base/mutex.h"
#include "net/socket.h"
#include "translator/client_session.h"
#include "translator/invalidation_fanout.h"

namespace zeoraid::translator {

class ZeoServer {
 public:
  ZeoServer(v1::Storage::Stub* stub, InvalidationFanout* fanout,
            SessionOptions options)
      : stub_(stub), fanout_(fanout), options_(options) {}

  absl::Status Listen(const std::string& address);
  // Accepts until Stop() is called.
  void Run();
  void Stop() { stopping_ = true; }
  // Disconnects every client and waits up to `timeout` for their threads to
  // end (each aborts its transaction, if any). True when all ended.
  bool DrainSessions(absl::Duration timeout);

 private:
  void SessionEnded(uint64_t id);

  v1::Storage::Stub* const stub_;
  InvalidationFanout* const fanout_;
  const SessionOptions options_;
  net::Socket listener_;
  std::atomic<bool> stopping_{false};
  uint64_t next_id_ = 1;  // only the Run thread touches it

  Mutex mu_;
  CondVar ended_cv_;
  // Sessions whose thread is running.
  std::map<uint64_t, std::weak_ptr<ClientSession>> sessions_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_ZEO_SERVER_H_
